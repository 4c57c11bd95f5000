/* The profile cache (see cache.c).  Internal. */
#ifndef LG_PROFILE_CACHE_H
#define LG_PROFILE_CACHE_H

#include "layergeom/knn.h"
#include "layergeom/store.h"

typedef struct lg_cache lg_cache;

/* Opens (creating it if needed) a cache directory. */
int lg_cache_open(const char *dir, lg_cache **out, lg_error *err);
void lg_cache_close(lg_cache *c);

/* An entry of two byte ranges under a key (a file name). */
int lg_cache_put(lg_cache *c, const char *key, const void *a, size_t alen, const void *b,
                 size_t blen, lg_error *err);
/* 1 when a whole, undamaged entry of exactly these sizes was read. */
int lg_cache_get(lg_cache *c, const char *key, void *a, size_t alen, void *b, size_t blen);

/* Neighbour lists of a layer: any entry with at least k neighbours serves.
 * _has only looks whether there is one (a damaged one still reads as 0 from
 * _get). */
int lg_cache_has_knn(lg_cache *c, const lg_layer_info *L, uint32_t k);
int lg_cache_get_knn(lg_cache *c, const lg_layer_info *L, uint32_t k, lg_knn *out);
int lg_cache_put_knn(lg_cache *c, const lg_layer_info *L, const lg_knn *nn, lg_error *err);

/* Entries of lists of at least k neighbours for a layer of L's columns and
 * type but fewer rows: candidates for the first rows of a layer that grew.
 * Fills up to cap (rows, content CRC) pairs, most rows first; returns how
 * many. */
/* Removes every list entry of the layer L describes (superseded: the layer
 * grew and its longer lists are cached). */
void lg_cache_drop_knn(lg_cache *c, const lg_layer_info *L);

size_t lg_cache_prefixes(lg_cache *c, const lg_layer_info *L, uint32_t k, uint64_t *rows,
                         uint32_t *crc, size_t cap);

#endif

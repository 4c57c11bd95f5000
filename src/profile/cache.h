/* The profile cache (see cache.c).  Internal. */
#ifndef LG_PROFILE_CACHE_H
#define LG_PROFILE_CACHE_H

#include "layergeom/estimate.h"
#include "layergeom/knn.h"
#include "layergeom/store.h"

typedef struct lgp_cache lgp_cache;

/* Opens (creating it if needed) a cache directory. */
int lgp_cache_open(const char *dir, lgp_cache **out, lg_error *err);
void lgp_cache_close(lgp_cache *c);

/* An entry of two byte ranges under a key (a file name), tagged (the
 * content hash of the layers it was computed from). */
int lgp_cache_put(lgp_cache *c, const char *key, uint64_t tag, const void *a, size_t alen,
                  const void *b, size_t blen, lg_error *err);
/* 1 when a whole, undamaged entry of exactly these sizes and this tag was read. */
int lgp_cache_get(lgp_cache *c, const char *key, uint64_t tag, void *a, size_t alen, void *b,
                  size_t blen);
/* The 64-bit content hash of the first `rows` rows of a layer (shape and
 * stored elements): remembered by where the layer lives, else computed by
 * reading them (and remembered).  c may be NULL (then always read). */
int lgp_layer_hash(lgp_cache *c, lg_store *s, size_t layer, uint64_t rows, uint64_t *out,
                   lg_error *err);

/* Neighbour lists of a layer: any entry with at least k neighbours serves.
 * _has only looks whether there is one (a damaged one still reads as 0 from
 * _get). */
int lgp_cache_has_knn(lgp_cache *c, const lg_layer_info *L, uint32_t k);
int lgp_cache_get_knn(lgp_cache *c, const lg_layer_info *L, uint64_t hash, uint32_t k,
                      lg_knn *out);
int lgp_cache_put_knn(lgp_cache *c, const lg_layer_info *L, uint64_t hash, const lg_knn *nn,
                      lg_error *err);

/* Entries of lists of at least k neighbours for a layer of L's columns and
 * type but fewer rows: candidates for the first rows of a layer that grew.
 * Fills up to cap (rows, content CRC) pairs, most rows first; returns how
 * many. */
/* Removes every list entry of the layer L describes (superseded: the layer
 * grew and its longer lists are cached). */
void lgp_cache_drop_knn(lgp_cache *c, const lg_layer_info *L);

/* The information imbalance Delta(A -> B) at k, as computed before (exact
 * lists of both layers: it depends on their contents alone). */
int lgp_cache_get_ii(lgp_cache *c, const lg_layer_info *A, uint64_t ha, const lg_layer_info *B,
                     uint64_t hb, uint32_t k, lg_imbalance *out);
void lgp_cache_put_ii(lgp_cache *c, const lg_layer_info *A, uint64_t ha, const lg_layer_info *B,
                      uint64_t hb, const lg_imbalance *x);

size_t lgp_cache_prefixes(lgp_cache *c, const lg_layer_info *L, uint32_t k, uint64_t *rows,
                         uint32_t *crc, size_t cap);

#endif

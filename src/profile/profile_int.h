/* Pieces of the profile driver shared with follow mode.  Internal. */
#ifndef LG_PROFILE_INT_H
#define LG_PROFILE_INT_H

#include "layergeom/profile.h"
#include "profile/cache.h"

/* Neighbours needed per row for these options and n rows. */
uint32_t lgp_lists_k(const lg_profile_opts *o, uint64_t n);
/* r's index, id, name (copied), n, d. */
int lgp_identify(lg_store *s, size_t layer, lg_layer_result *r);
/* A layer's lists: cached or computed (and cached). */
int lgp_lists(lg_store *s, size_t layer, const lg_profile_opts *o, uint32_t klist,
              lg_cache *cache, lg_profile *p, lg_layer_result *r, lg_knn *nn, lg_error *err);
void lgp_cache_lists(lg_cache *cache, lg_profile *p, const lg_layer_info *L, const lg_knn *nn);
/* Estimators, label overlap, subsets: everything from the lists. */
int lgp_estimate(lg_store *s, size_t layer, const lg_profile_opts *o, lg_cache *cache,
                 lg_layer_result *r, const lg_knn *nn, lg_error *err);
/* The recommended layer and the best label layer. */
int lgp_finish(lg_profile *out, lg_error *err);

#endif

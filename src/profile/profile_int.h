/* Pieces of the profile driver shared with follow mode.  Internal. */
#ifndef LG_PROFILE_INT_H
#define LG_PROFILE_INT_H

#include "layergeom/profile.h"
#include "profile/cache.h"

/* Neighbours needed per row for these options and n rows. */
uint32_t lgp_lists_k(const lg_profile_opts *o, uint64_t n);
/* r's index, id, name (copied), n, d. */
int lgp_identify(lg_store *s, size_t layer, lg_layer_result *r);
/* Ranks a layer's exact search counts as it goes: those of the previous
 * layer's first k neighbours (the information imbalance towards this
 * layer).  done says whether the search ran and counted them; lists from
 * the cache, grown or approximate lists leave it 0. */
typedef struct lgp_ranks {
    const lg_knn *prev;
    uint32_t k;
    uint64_t *rank; /* n x k */
    int done;
} lgp_ranks;
/* A layer's lists: cached or computed (and cached); rq (or NULL) ranks to
 * count if a search runs. */
int lgp_lists(lg_store *s, size_t layer, const lg_profile_opts *o, uint32_t klist,
              lgp_cache *cache, lg_profile *p, lg_layer_result *r, lg_knn *nn, lg_error *err);
int lgp_lists_counting(lg_store *s, size_t layer, const lg_profile_opts *o, uint32_t klist,
                       lgp_cache *cache, lg_profile *p, lg_layer_result *r, lg_knn *nn,
                       lgp_ranks *rq, lg_error *err);
/* A layer's lists computed, never cached (team: exact search shared; rq as
 * above, not with a team). */
int lgp_compute(lg_store *s, size_t layer, const lg_profile_opts *o, uint32_t klist,
                const lg_team *team, lg_layer_result *r, lg_knn *nn, lgp_ranks *rq,
                lg_error *err);
/* Counts a computed layer and caches its lists. */
void lgp_computed(lgp_cache *cache, lg_profile *p, lg_store *s, size_t layer, const lg_knn *nn);
void lgp_cache_lists(lgp_cache *cache, lg_profile *p, lg_store *s, size_t layer, const lg_knn *nn);
/* The lists of a layer whose first rows' lists are cached (rows appended
 * since): *done = 1 when they were updated that way (grow.c). */
int lgp_grow_lists(lg_store *s, size_t layer, const lg_profile_opts *o, uint32_t klist,
                   lgp_cache *cache, lg_layer_result *r, lg_knn *nn, int *done, lg_error *err);
/* Estimators, label overlap, subsets: everything from the lists. */
int lgp_estimate(lg_store *s, size_t layer, const lg_profile_opts *o, lgp_cache *cache,
                 lg_layer_result *r, const lg_knn *nn, lg_error *err);
/* ---- twins and small-scale rows (dups.c) ---- */
/* Finds the layer's twins into r->twins; with the drop policy and twins to
 * merge, *merged receives the lists without them (else it stays empty). */
int lgp_twins(lg_store *s, size_t layer, const lg_profile_opts *o, const lg_knn *nn,
              lg_layer_result *r, lg_knn *merged, lg_error *err);
uint64_t lgp_small_scale_rows(const lg_knn *nn, double *median_r1);
/* 0 .. n-1 in the seeded order every run repeats (subsets); ascending
 * uint64_t for qsort (profile.c). */
void lgp_shuffle(uint64_t *perm, uint64_t n, uint64_t seed);
int lgp_cmp_u64(const void *a, const void *b);
/* Appends a sentence to r->note. */
void lgp_note(lg_layer_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* ---- the ID of each group's own rows (groups.c) ---- */
int lgp_groups(lg_store *s, size_t layer, const lg_profile_opts *o, lg_layer_result *r,
               lg_error *err);
/* Frees what a layer result owns (its name, its groups). */
void lgp_layer_free(lg_layer_result *r);
/* ---- a team (team.c) ---- */
typedef struct lgp_held lgp_held;
typedef struct lgp_team {
    const lg_team *team;
    lgp_held *held; /* lists computed in the current round, one per member */
    size_t n_held;
} lgp_team;
/* Member 0: the lists of position q of `order` (L positions): held from a
 * round, from the cache, or from a new round starting at q. */
int lgp_team_lists(lgp_team *t, lg_store *s, const lg_profile_opts *o, uint32_t klist,
                   lgp_cache *cache, const size_t *order, size_t L, size_t q, lg_profile *p,
                   lg_layer_result *r, lg_knn *nn, lg_error *err);
/* Member 0: tells the others the profile is over; frees what is held. */
void lgp_team_end(lgp_team *t);
/* Members 1..: compute what member 0 asks for until it says stop. */
int lgp_team_member(const lg_team *team, lg_store *s, const lg_profile_opts *o, uint32_t klist,
                    lg_error *err);

/* ---- where a layer's lists come from (profile.c: lgp_layer_lists) ---- */
typedef struct lgp_sources {
    lgp_cache *cache;          /* lists kept from earlier runs (NULL: none) */
    lgp_team *team;            /* a team of processes dealing rounds of layers */
    const size_t *order;       /* ... over these layers (store indices) */
    size_t n_order;
    lg_knn_inc *inc;           /* follow mode: a layer searched as its rows came */
    uint32_t inc_id;           /* ... its id */
    lgp_ranks *ranks;          /* ranks a search of the layer should count (or NULL) */
} lgp_sources;
/* The one place that decides where layer `layer` (position q of the run)
 * gets its lists: the rows searched as they arrived (src->inc, when it is
 * this layer's and its k matches; it is then consumed), a team's round, the
 * cache (exact lists of this content), the cached lists of its first rows
 * updated with the rows appended since, or a search (exact or approximate).
 * Computed exact lists are cached. */
int lgp_layer_lists(lgp_sources *src, lg_store *s, size_t q, size_t layer,
                    const lg_profile_opts *o, uint32_t klist, lg_profile *p, lg_layer_result *r,
                    lg_knn *nn, lg_error *err);
/* Follow mode: the lists of a sealed layer from its incremental search,
 * fed the rows it has not seen yet; consumes inc. */
int lgp_inc_lists(lg_knn_inc **inc, lg_store *s, size_t layer, lg_knn *nn, lg_error *err);
/* Rows [r0, r0 + n) of a layer, as float32, into out (source.c). */
int lgp_read_rows(lg_store *s, size_t layer, uint64_t r0, uint64_t n, float *out, lg_error *err);
/* Feeds rows [have, n) of a layer (read through cur) to an incremental search. */
int lgp_inc_feed(lg_knn_inc *inc, lg_cursor *cur, uint64_t n, uint32_t d, lg_error *err);

/* ---- the accumulator (acc.c): results as layers come ---- */
typedef struct lgp_acc {
    lg_profile *p;
    const lg_profile_opts *o;
    size_t cap;      /* of p->layers and kept */
    int keep;        /* keep each layer's first k neighbours */
    lg_knn prev;     /* the last layer's lists */
    uint32_t **kept; /* per layer: first k neighbours (matrix, late labels) */
} lgp_acc;
/* keep_lists: keep every layer's first k neighbours even without the
 * overlap matrix (labels may come later). */
int lgp_acc_open(lgp_acc *a, lg_profile *p, const lg_profile_opts *o, int keep_lists);
/* The next layer's result, zeroed (not yet counted in p->n_layers). */
lg_layer_result *lgp_acc_slot(lgp_acc *a, lg_error *err);
/* Counts the slot's result and takes its lists: the overlap with the
 * previous layer, the kept neighbours.  nn is emptied (the accumulator
 * owns its lists now). */
int lgp_acc_add(lgp_acc *a, lg_layer_result *r, lg_knn *nn, lg_error *err);
/* Forgets every layer (follow mode: all layers grew; they come again). */
void lgp_acc_restart(lgp_acc *a);
/* The information imbalance of r (layer `layer`, lists nn) with the layer
 * added last (imbalance.c), when opts.ii_k asks for it. */
int lgp_imbalance_prev(lgp_acc *a, lg_store *s, size_t layer, lg_layer_result *r,
                       const lg_knn *nn, const lgp_ranks *rq, lgp_cache *cache, lg_error *err);
/* Sets up rq for the layer after the last one added (NULL when the
 * imbalance is not wanted or cannot be counted in its search). */
lgp_ranks *lgp_ranks_for_next(lgp_acc *a, lgp_ranks *rq, lg_error *err);
void lgp_ranks_free(lgp_ranks *rq);
/* The information imbalance between every pair of layers, from the kept
 * lists (opts.k neighbours; ii_k <= k) and counts over each layer's rows. */
int lgp_acc_ii_matrix(lgp_acc *a, lg_store *s, lg_error *err);
/* One column of an information imbalance matrix (imbalance.c): Delta(A_a ->
 * B) for every list A_a, B being layer_b of s with its first-k list B. */
int lgp_ii_column(lg_store *s, size_t layer_b, const uint32_t *B, const uint32_t *const *A,
                  size_t nA, uint64_t n, uint32_t k, uint32_t kk, const lg_profile_opts *o,
                  double *sum, uint64_t *valid, lg_error *err);
/* Label overlaps of layers that were added before the labels existed. */
int lgp_acc_late_labels(lgp_acc *a, const int64_t *labels, lg_error *err);
/* The overlap between every pair of layers, from the kept neighbours. */
int lgp_acc_matrix(lgp_acc *a, lg_error *err);
void lgp_acc_close(lgp_acc *a);

/* The recommended layer and the best label layer. */
int lgp_finish(lg_profile *out, lg_error *err);

#endif

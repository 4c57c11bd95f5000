/*
 * layergeom/profile.h -- the layer-by-layer profile of a store.
 *
 * For every layer: neighbour lists (exact, approximate, cached, or updated
 * for rows appended since), TwoNN (and ML, Bayes), GRIDE at scales
 * 2..max rank, the overlap with the previous layer and with labels; then the
 * recommended layer.  Layers stream through: only the previous layer's lists
 * are kept (all layers' with the overlap matrix), never two layers of
 * activations at once.
 */
#ifndef LAYERGEOM_PROFILE_H
#define LAYERGEOM_PROFILE_H

#include "layergeom/estimate.h"
#include "layergeom/knn.h"
#include "layergeom/store.h"
#include "layergeom/team.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lg_id_kind {
    LG_ID_TWONN = 0,
    LG_ID_ML = 1,
    LG_ID_GRIDE = 2, /* at the scale gride_rank */
    LG_ID_KSTAR = 3  /* k*-GRIDE: each row's scale chosen by the data (lg_gride_kstar) */
} lg_id_kind;

#define LG_MAX_DECIMATION 12
#define LG_MAX_KS 8 /* overlap neighbourhoods besides k (lg_profile_opts.more_k) */

/* The ID of one group's own rows (a class, or a cloud such as one prompt's
 * tokens): a search within the group, then TwoNN (and GRIDE at one rank). */
typedef struct lg_group_result {
    int64_t key;             /* the group's label value */
    uint64_t n;              /* its rows */
    double id, err;          /* TwoNN (least squares, the profile's discard) +- Bayes std */
    double gride, gride_err; /* GRIDE at lg_profile_opts.group_rank (NaN without) */
} lg_group_result;

typedef struct lg_groups_summary {
    uint64_t groups;         /* groups with an ID */
    uint64_t skipped;        /* groups too small for one (fewer than max(3, rank + 1) rows)
                                or whose estimate failed (duplicates only, ...) */
    uint64_t rows;           /* rows in the groups with an ID */
    double q1, median, q3;   /* of the groups' TwoNN IDs */
    double gride_q1, gride_median, gride_q3;
    double seconds;
} lg_groups_summary;

enum { LG_II_ROWS = 0, LG_II_SEARCH = 1, LG_II_CACHE = 2 };

typedef struct lg_layer_result {
    size_t index;     /* position in the store's layer list */
    uint32_t layer_id;
    const char *name; /* a copy, owned by the profile (lg_profile_free) */
    uint64_t n;
    uint32_t d;
    double id, id_err; /* the chosen estimator (--id) and its error bar */
    lg_twonn_result twonn;
    lg_gride_result gride;
    int has_prev;
    double overlap_prev; /* chi_k(l, l-1) */
    int has_ii;          /* the information imbalance with the previous layer (opts.ii_k) */
    lg_imbalance ii_from_prev; /* Delta(l-1 -> l): does this layer predict the last one's
                                  neighbourhoods? */
    lg_imbalance ii_to_prev;   /* Delta(l -> l-1) */
    /* how each was had (LG_II_*): ranks counted in this layer's own search
     * (no extra pass), counted over the other layer's rows (at most one pass
     * computing each pair once), or from the cache */
    int ii_from_by, ii_to_by;
    double ii_seconds;
    /* with opts.ii_subsets: DADApy's protocol, the same on disjoint random
     * subsets (mean, standard error of the mean, subsets used) */
    double ii_sub_from_prev[2], ii_sub_to_prev[2];
    int ii_sub_count;
    uint64_t ii_sub_rows;
    int has_labels;
    lg_label_overlap overlap_labels; /* chi_k(l, labels) */
    uint64_t duplicates;  /* rows with a twin: nearest neighbour within the duplicate
                             tolerance (lg_profile_opts.dup_tol), distance 0 included */
    lg_twins twins;       /* the same, in full: exact ones, rows merged, an example pair */
    uint64_t small_scale_rows; /* rows (twins merged) with r1 < 1e-3 x r4: a note when > 1 % */
    double median_r1;
    int suspect;          /* the chosen ID measures structure far below the layer's scale
                             (see note): shown, but left out of the recommendation */
    int has_kstar;
    lg_kstar_result kstar; /* k*-GRIDE, with LG_ID_KSTAR */
    uint64_t rescanned;   /* rows the kNN checked by exact scan */
    uint64_t panels;
    double knn_seconds, seconds;
    uint64_t nonfinite_rows; /* rows holding NaN or inf, left out of this layer */
    uint64_t first_nonfinite;
    char note[512];          /* why a number is missing or should not be trusted, in
                                sentences separated by "; " (empty when all is well) */
    int cached; /* the neighbour lists came from the cache */
    int approx;      /* the lists came from the approximate search ... */
    lg_knn_check check; /* ... and this is how they compare with exact search */
    int incremental; /* ... or were built as the layer's rows arrived (follow mode) */
    uint64_t grown_from; /* ... or are the cached lists of the layer's first grown_from
                            rows, updated with the rows appended since (0: not) */
    int n_dec; /* decimation: ID on random subsets of N / 2^level rows */
    uint64_t dec_rows[LG_MAX_DECIMATION];
    int dec_repeats[LG_MAX_DECIMATION];
    double dec_id[LG_MAX_DECIMATION], dec_err[LG_MAX_DECIMATION];
    /* with opts.groups or opts.per_class: every group's ID (owned by the
     * profile, in key order) and their distribution */
    size_t n_groups;
    lg_group_result *groups;
    lg_groups_summary group_summary;
    /* the overlaps at opts.more_k[i] (when has_prev / has_labels) */
    double overlap_prev_more[LG_MAX_KS];
    lg_label_overlap overlap_labels_more[LG_MAX_KS];
} lg_layer_result;

struct lg_profile_s;

typedef struct lg_profile_opts {
    uint32_t k;               /* overlap neighbourhood (default 30) */
    uint32_t gride_max_rank;  /* GRIDE scales up to this rank (default 64) */
    lg_id_kind id_kind;       /* what the profile and recommendation use */
    uint32_t gride_rank;      /* n2 of the GRIDE scale used with LG_ID_GRIDE (default 16) */
    lg_twonn_opts twonn;
    int nonfinite_fail;       /* 1: a row with NaN or inf stops the profile; 0 (default):
                                 such rows are left out of their layer, and counted */
    const int64_t *labels;    /* one per row, or NULL */
    int labels_from_store;    /* follow mode: use the store's first label set once it appears */
    double class_fraction;    /* > 0: per-class k for the label overlap */
    int overlap_matrix;       /* also chi_k between every pair of layers */
    int decimation;           /* TwoNN on N/2, N/4, ... subsets, with error bars */
    int paper;                /* the paper's protocol: TwoNN, discard 0.02, on 4
                                 subsets of N/32 rows, mean +- sem */
    double tol;               /* recommendation tolerance (default 0.05) */
    uint64_t seed;            /* for subsets (default 1) */
    int threads;
    uint64_t memory;
    uint32_t tile;
    int approx;               /* approximate kNN (lg_knn_approx; cells, nprobe below) */
    uint32_t cells, nprobe;   /* 0: automatic */
    uint32_t check_rows;      /* rows the self-check compares with exact search (500) */
    const char *scratch_dir;  /* approx: rows beyond the budget go to a file here (NULL: $TMPDIR) */
    const char *cache_dir;    /* keep and reuse per-layer results here (NULL: no cache) */
    const size_t *layers;     /* which layers (store order), or NULL for all */
    size_t n_layers;
    const lg_team *team;      /* several processes share the work (team.h); NULL: one */
    /* called after each layer (may be NULL) */
    void (*progress)(void *ctx, const struct lg_layer_result *r, size_t done, size_t total);
    void *progress_ctx;
    /* Following a store written batch by batch: called (with progress_ctx)
     * each time every layer was brought up to the store's new N, with the
     * results so far (lists exact; decimation and the paper preset wait for
     * the end). */
    void (*live)(void *ctx, const struct lg_profile_s *p, uint64_t rows);
    /* When *stop becomes non-zero (set by another thread or a signal
     * handler), lg_profile_run ends at the next check (between tile pairs of
     * a search, between layers) with LG_ECANCELED and no profile.  NULL:
     * never.  lg_profile_follow takes its own stop argument instead. */
    const volatile int *stop;
    /* More overlap neighbourhoods reported beside k (DADApy users compare
     * k = 10 and 30): the lists are computed once, for the largest.  The
     * per-class k (class_fraction) and labels that arrive after their layer
     * in follow mode use k only. */
    uint32_t more_k[LG_MAX_KS];
    size_t n_more_k;
    /* Twins (near-duplicates): rows whose nearest neighbour is within
     * dup_tol_median x the layer's median r1 (when > 0), else within dup_tol
     * (when >= 0; 0: exact duplicates only), else (default, dup_tol < 0)
     * within the float resolution of the stored values at the row's norm
     * (2 units in the last place).  The twonn.duplicates policy applies to
     * them: drop merges each group of twins into one row for the ID
     * estimates; keep leaves them (the layer gets a note). */
    double dup_tol;
    double dup_tol_median;
    lg_kstar_opts kstar;      /* k*-GRIDE's settings (with id_kind LG_ID_KSTAR) */
    /* Subsets (decimation, the paper's protocol) smaller than this give
     * biased TwoNN values: decimation stops above it, and the paper's
     * protocol, which must use N / 32, says so in a warning (default 200). */
    uint32_t min_subset;
    /* The ID of each group's own rows, per layer: per_class takes the labels
     * as groups (Ansuini et al. 2019); groups gives each row a group (the
     * prompt a token came from: many small clouds).  A search within each
     * group (cost sum n_g^2 D), TwoNN, and GRIDE at group_rank when > 0 (a
     * power of two). */
    int per_class;
    const int64_t *groups;    /* one per row, or NULL */
    uint32_t group_rank;
    /* Only the groups: no search over the whole layer (for millions of
     * tokens in thousands of clouds, that search is what costs).  A layer's
     * ID is then the median of its groups' IDs, and the recommendation
     * follows those medians; no overlaps. */
    int groups_only;
    /* The information imbalance with the previous layer, both directions,
     * at this k (0: not computed); exact over all rows. */
    uint32_t ii_k;
    /* > 0: also DADApy's subset protocol for it (MetricComparisons'
     * subset_size): N / ii_subsets disjoint random subsets, each with its own
     * neighbours, mean +- sem.  For comparison with published numbers. */
    uint32_t ii_subsets;
    int no_cross_cache;       /* lg_cross_stores: neither read nor write the stores' caches */
    /* approx: the recall@k the self-check must see (lg_knn_approx_tune
     * widens the probes until it does; default 0.97); 0: the probes as
     * planned, checked but not tuned.  Needs check_rows > 0. */
    double recall;
} lg_profile_opts;

typedef struct lg_profile_s {
    size_t n_layers;
    lg_layer_result *layers;
    double *matrix;           /* n_layers^2 overlaps (with overlap_matrix), else NULL */
    double *ii_matrix;        /* n_layers^2: [a * n_layers + b] = Delta(a -> b), with
                                 overlap_matrix and ii_k, else NULL */
    lg_recommendation rec;
    int best_label_layer;     /* -1 without labels */
    lg_profile_opts opts;
    uint32_t k_lists;         /* neighbours computed per row */
    size_t store_layers;      /* layers in the store (for relative depth) */
    uint64_t knn_runs;        /* exact kNN searches over whole layers in this run */
    uint64_t cache_hits;      /* layers whose lists came from the cache */
    char cache_note[LG_ERROR_MSG_MAX]; /* why the cache was not used or written, if so */
    char warning[512];        /* about the whole profile (empty when none): read it first */
    char model[256];          /* the store's META "model" (or the profile JSON's), if any */
    double seconds;
} lg_profile;

LG_API void lg_profile_opts_default(lg_profile_opts *o);

/* Follows the store at path while a producer writes it: profiles each layer
 * as soon as it is complete (the progress callback gets it at once; its
 * `total` argument is 0), keeping the lists of the layer being written
 * up to date as its rows arrive.  Returns when no writer holds the store and
 * nothing new appeared for a poll (every poll_seconds), or when *stop becomes
 * non-zero (the profile then holds the layers done so far). */
LG_API int lg_profile_follow(const char *path, const lg_profile_opts *o, double poll_seconds,
                             volatile int *stop, lg_profile *out, lg_error *err);
LG_API int lg_profile_run(lg_store *s, const lg_profile_opts *o, lg_profile *out, lg_error *err);
LG_API void lg_profile_free(lg_profile *p);

/* Two stores of the same inputs (two models, two checkpoints): the overlap
 * chi_k and the information imbalance between every layer of a and every
 * layer of b.  The stores must have the same N; when both carry META
 * "input_id" (a producer's identity of its inputs, e.g. a hash of their
 * ids) it must match, else the comparison is refused; identity says what
 * was checked.  Lists come from each store's cache (STORE.lgcache) when a
 * profile made them, else they are computed and kept there (not with
 * o->no_cross_cache); o gives k,
 * ii_k (<= k; 0: no imbalance), threads and memory.  Matrices are row-major,
 * la rows (layers of a) x lb columns (layers of b). */
typedef struct lg_cross {
    size_t la, lb;
    uint32_t k, ii_k;
    double *overlap; /* chi_k(a_i, b_j) */
    double *ii_ab;   /* Delta(a_i -> b_j): small when b_j predicts a_i's neighbourhoods */
    double *ii_ba;   /* Delta(b_j -> a_i) */
    int identity_checked;
    char identity[400];
} lg_cross;

LG_API int lg_cross_stores(lg_store *a, lg_store *b, const lg_profile_opts *o, lg_cross *out,
                           lg_error *err);
LG_API void lg_cross_free(lg_cross *c);

#ifdef __cplusplus
}
#endif
#endif

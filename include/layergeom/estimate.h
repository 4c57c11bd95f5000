/*
 * layergeom/estimate.h -- estimators on neighbour lists.
 *
 * Every estimator takes neighbour lists (lg_knn), never activations, so the
 * same code serves exact, approximate and cached lists.  Definitions follow
 * DADApy (the reference implementation of TwoNN and GRIDE by the methods'
 * authors); docs/estimators.md states them.
 */
#ifndef LAYERGEOM_ESTIMATE_H
#define LAYERGEOM_ESTIMATE_H

#include "layergeom/common.h"
#include "layergeom/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What to do with rows whose nearest neighbour is at distance 0 (duplicates). */
typedef enum lg_dup_policy {
    LG_DUP_DROP = 0, /* leave them out of the ID estimates (their count is reported) */
    LG_DUP_KEEP = 1  /* keep them, as DADApy does; an estimate that would then be
                        infinite or undefined is refused with an error */
} lg_dup_policy;

typedef struct lg_twonn_result {
    double id;         /* least squares through the origin, after discarding */
    double id_ml;      /* maximum likelihood (N - 1) / sum log mu */
    double bayes_mean; /* posterior with a Gamma(a, b) prior */
    double bayes_std;
    double scale;      /* mean of (r1 + r2) / 2 over the rows used */
    uint64_t n_used;   /* rows in the estimate */
    uint64_t n_dropped; /* rows left out for r1 = 0 */
} lg_twonn_result;

typedef struct lg_twonn_opts {
    double discard;    /* fraction of the largest mu left out of the fit (default 0.1) */
    double prior_a, prior_b; /* Gamma prior of the Bayesian estimate (default 2, 5) */
    lg_dup_policy duplicates;
} lg_twonn_opts;

LG_API void lg_twonn_opts_default(lg_twonn_opts *o);
/* TwoNN from the first two neighbours of every row. */
LG_API int lg_twonn(const lg_knn *nn, const lg_twonn_opts *o, lg_twonn_result *out, lg_error *err);
/* TwoNN from the two distances directly (r1[i] <= r2[i]). */
LG_API int lg_twonn_r(const double *r1, const double *r2, uint64_t n, const lg_twonn_opts *o,
                      lg_twonn_result *out, lg_error *err);

#define LG_GRIDE_MAX_SCALES 16

typedef struct lg_gride_result {
    int scales;
    uint32_t n1[LG_GRIDE_MAX_SCALES], n2[LG_GRIDE_MAX_SCALES];
    double id[LG_GRIDE_MAX_SCALES], err[LG_GRIDE_MAX_SCALES], rs[LG_GRIDE_MAX_SCALES];
    uint64_t n_dropped[LG_GRIDE_MAX_SCALES];
    /* bit s set: at scale s the likelihood has no maximum inside DADApy's
     * search interval [1e-3, 1e3] (a lattice, too few distinct distances);
     * id[s] and err[s] are then NaN, not the interval's end */
    uint32_t at_bound;
} lg_gride_result;

/* GRIDE at n1 = 1, 2, 4, ..., n2 = 2 n1, while n2 <= max_rank (and <= the
 * lists' k).  Rows whose list is shorter than n2 (dist INFINITY, as after
 * lg_knn_merge_twins) are left out of that scale and counted in n_dropped. */
LG_API int lg_gride(const lg_knn *nn, uint32_t max_rank, lg_dup_policy dup, lg_gride_result *out,
                    lg_error *err);

/* Twins: rows whose nearest neighbour is within a tolerance (exact
 * duplicates, and rows equal up to float rounding).  A pair (i, j) of the
 * lists is a twin pair when its distance is at most the largest of abs_tol,
 * rel_median x the median first-neighbour distance, row_tol[i] and
 * row_tol[j].  Twins form groups; all but the first row of each group are
 * "removed" (removed[i] = 1, when removed is not NULL). */
typedef struct lg_twin_opts {
    double abs_tol;        /* >= 0 (0: exact duplicates only) */
    double rel_median;     /* >= 0: a multiple of the median r1 */
    const double *row_tol; /* one per row, or NULL (e.g. the float resolution at the row's norm) */
} lg_twin_opts;

typedef struct lg_twins {
    uint64_t rows;      /* rows with at least one twin */
    uint64_t exact;     /* ... whose nearest neighbour is at distance 0 */
    uint64_t removed;   /* rows that another row of their group stands for */
    uint32_t example[2]; /* the widest twin pair found (LG_KNN_NONE: none) */
    double example_dist;
    double median_r1;   /* of the lists given */
} lg_twins;

LG_API int lg_knn_find_twins(const lg_knn *nn, const lg_twin_opts *o, unsigned char *removed,
                             lg_twins *out, lg_error *err);
/* The lists of the rows not removed (and not excluded for NaN or inf), as if
 * the removed rows had never been there: rows and neighbours renumbered in
 * order, each list without the removed rows and ended, where it became
 * shorter, by LG_KNN_NONE at distance INFINITY.  The estimators take such
 * lists (a row too short for a scale is left out of it). */
LG_API int lg_knn_merge_twins(const lg_knn *nn, const unsigned char *removed, lg_knn *out,
                              lg_error *err);

/* k*-GRIDE: GRIDE at a scale each row chooses (Di Noia et al. 2024; DADApy's
 * Data(X, maxk).return_ids_kstar_gride(n_iter)).  Row i's k*_i is the
 * largest rank (3 .. maxk - 1) up to which a likelihood-ratio test at level
 * alpha accepts a constant density around i; GRIDE then uses n2_i = k*_i
 * rounded up to even and n1_i = n2_i / 2; the test is repeated with the new
 * ID, `rounds` times, starting from TwoNN (or initial_id). */
#define LG_KSTAR_MAX_ROUNDS 32

typedef struct lg_kstar_opts {
    uint32_t maxk;     /* DADApy's maxk (default 100): the lists must hold maxk neighbours */
    int rounds;        /* DADApy's n_iter (default 5) */
    double alpha;      /* level of the test (default 1e-6) */
    double initial_id; /* > 0: start from it; else from TwoNN with `twonn` */
    lg_twonn_opts twonn;
} lg_kstar_opts;

typedef struct lg_kstar_result {
    double id, err;     /* the last round's (NaN when at_bound) */
    double scale;       /* mean over rows of (r_{n1} + r_{n2}) / 2 in the last round */
    double kstar_mean;  /* mean n2 (k*, made even) of the last round */
    int rounds;         /* rounds done (fewer than asked when at_bound) */
    int at_bound;       /* the last round's likelihood had no maximum in [1e-3, 1e3] */
    uint64_t n_used, n_dropped; /* rows of the last round; left out as duplicates */
    /* ids[0] is the starting ID, ids[r] the ID after round r; kstar_means[r]
     * the mean k* computed from ids[r] (made even for r < rounds, as DADApy) */
    double ids[LG_KSTAR_MAX_ROUNDS + 1], errs[LG_KSTAR_MAX_ROUNDS + 1];
    double kstar_means[LG_KSTAR_MAX_ROUNDS + 1];
} lg_kstar_result;

LG_API void lg_kstar_opts_default(lg_kstar_opts *o);
LG_API int lg_gride_kstar(const lg_knn *nn, const lg_kstar_opts *o, lg_kstar_result *out,
                          lg_error *err);

/* The information imbalance Delta(A -> B) (Glielmo et al. 2022; DADApy's
 * MetricComparisons): 2 / N x the mean, over rows i and over i's k nearest
 * neighbours j in A (lists a), of the rank of j among i's neighbours in B
 * (rank 1 = the nearest; ties by row index).  Ranks B's lists (b) show are
 * read from them; the others are counted exactly over B's rows, read
 * through b_rows (d_b columns), within o->memory.  Not symmetric: small
 * Delta(A -> B) means B predicts A's neighbourhoods. */
typedef struct lg_imbalance {
    double value;
    uint32_t k;
    uint64_t rows;        /* rows with lists in both (N of the formula) */
    uint64_t from_lists;  /* ranks read from B's lists */
    uint64_t counted;     /* ranks counted over B's rows */
} lg_imbalance;

struct lg_knn_opts; /* knn.h: threads, memory, stop */
LG_API int lg_information_imbalance(const lg_knn *a, const lg_knn *b, uint32_t k, uint32_t d_b,
                                    lg_rows_fn b_rows, void *b_ctx, const struct lg_knn_opts *o,
                                    lg_imbalance *out, lg_error *err);
/* The same from the ranks B's exact search counted as it went: the search
 * of B was given A's lists as queries (lg_knn_opts rank_q = a->idx,
 * rank_n = k, rank_stride = a->k) and rank[i * k + q] is what it wrote.
 * No pass over B's rows is needed: the information imbalance towards a
 * layer costs almost nothing beyond that layer's search. */
LG_API int lg_information_imbalance_counted(const lg_knn *a, const lg_knn *b, uint32_t k,
                                            const uint64_t *rank, lg_imbalance *out,
                                            lg_error *err);

/* Neighbourhood overlap of two lists of the same rows: the mean over rows of
 * |kNN_k in a  intersect  kNN_k in b| / k. */
LG_API int lg_overlap_data(const lg_knn *a, const lg_knn *b, uint32_t k, double *out,
                           lg_error *err);

typedef struct lg_label_overlap {
    double unweighted;     /* plain mean over rows (as in the paper) */
    double class_weighted; /* each row weighted by 1 / (size of its class) (DADApy's default) */
} lg_label_overlap;

/* Fraction of each row's k nearest neighbours that share its label.  With
 * class_fraction > 0, row i uses k_i = max(1, floor(class_fraction x size of
 * its class)) instead of k (which the lists must then hold). */
LG_API int lg_overlap_labels(const lg_knn *nn, const int64_t *labels, uint32_t k,
                             double class_fraction,
                             lg_label_overlap *out, lg_error *err);

/* The recommended layer: the minimum of the ID profile after its first peak.
 * A peak counts once the profile has fallen below (1 - tol) of it; among the
 * layers after it the lowest ID wins.  reason receives a sentence. */
typedef struct lg_recommendation {
    int index;      /* -1 when the profile has fewer than 2 layers */
    int peak;       /* index of the first peak, -1 if none */
    int plateau_first, plateau_last; /* layers within tol of the minimum */
    char reason[512];
} lg_recommendation;

LG_API int lg_recommend_layer(const double *id, const double *err, int n_layers, double tol,
                              lg_recommendation *out);

#ifdef __cplusplus
}
#endif
#endif

/*
 * The profile driver: each layer through kNN and the estimators, in store
 * order, keeping only what the overlaps need from the layer before.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "layergeom/profile.h"
#include "profile/cache.h"
#include "knn/finite.h"
#include "knn/plan.h"
#include "profile/profile_int.h"
#include "util/error.h"

#define U64(x) ((unsigned long long)(x))

void lg_profile_opts_default(lg_profile_opts *o)
{
    memset(o, 0, sizeof *o);
    o->k = 30;
    o->gride_max_rank = 64;
    o->id_kind = LG_ID_TWONN;
    o->gride_rank = 16;
    lg_twonn_opts_default(&o->twonn);
    o->tol = 0.05;
    o->seed = 1;
    o->nonfinite_fail = 0;
    o->check_rows = 500;
    o->recall = 0.97;
    o->dup_tol = -1;
    o->min_subset = 200;
    o->ii_k = 1;
    lg_kstar_opts_default(&o->kstar);
}

void lgp_layer_free(lg_layer_result *r)
{
    free((char *)r->name);
    free(r->groups);
    r->name = NULL;
    r->groups = NULL;
    r->n_groups = 0;
}

void lgp_note(lg_layer_result *r, const char *fmt, ...)
{
    size_t used = strlen(r->note);
    if (used + 3 >= sizeof r->note)
        return;
    if (used) {
        memcpy(r->note + used, "; ", 3);
        used += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->note + used, sizeof r->note - used, fmt, ap);
    va_end(ap);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void lg_profile_free(lg_profile *p)
{
    if (!p)
        return;
    for (size_t q = 0; p->layers && q < p->n_layers; q++)
        lgp_layer_free(&p->layers[q]);
    free(p->layers);
    free(p->matrix);
    free(p->ii_matrix);
    p->layers = NULL;
    p->matrix = NULL;
    p->ii_matrix = NULL;
}

/* ---- decimation: TwoNN on random subsets ---- */

typedef struct subset_rows {
    lg_cursor *cur;
    const uint64_t *rows; /* sorted global rows of the subset */
    uint32_t d;
} subset_rows;

static int read_subset(void *ctx, uint64_t r0, size_t n, float *out, lg_error *err)
{
    subset_rows *s = ctx;
    for (size_t q = 0; q < n; q++) {
        int rc = lg_cursor_read(s->cur, s->rows[r0 + q], 1, out + q * s->d, err);
        if (rc)
            return rc;
    }
    return LG_OK;
}

int lgp_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t next_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void lgp_shuffle(uint64_t *perm, uint64_t n, uint64_t seed)
{
    for (uint64_t i = 0; i < n; i++)
        perm[i] = i;
    for (uint64_t i = n - 1; n && i > 0; i--) {
        uint64_t j = next_rand(&seed) % (i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

static int subsets_compute(lg_store *s, size_t layer, uint64_t n, uint32_t d, uint64_t m,
                           int repeats, double discard, const lg_profile_opts *o, double *mean,
                           double *sem, lg_error *err);

/* ID (mean, sem) of `repeats` disjoint random subsets of m rows (cached). */
static int subsets_id(lg_store *s, size_t layer, uint64_t n, uint32_t d, uint64_t m, int repeats,
                      double discard, const lg_profile_opts *o, lgp_cache *cache, double *mean,
                      double *sem, lg_error *err)
{
    lg_layer_info L;
    lg_store_layer(s, layer, &L);
    char key[200];
    double got[2];
    snprintf(key, sizeof key, "sub-v1-%08x-%llu-%u-%s-m%llu-r%d-s%llu-d%.17g", L.content_crc,
             U64(n), d, lg_dtype_name(L.dtype), U64(m), repeats, U64(o->seed), discard);
    uint64_t hash = 0;
    lg_error herr;
    if (cache && lgp_layer_hash(cache, s, layer, L.n, &hash, &herr))
        cache = NULL; /* unkeyed: computed, not cached */
    if (cache && lgp_cache_get(cache, key, hash, got, sizeof got, NULL, 0)) {
        *mean = got[0];
        *sem = got[1];
        return LG_OK;
    }
    int rc0 = subsets_compute(s, layer, n, d, m, repeats, discard, o, mean, sem, err);
    if (!rc0 && cache) {
        got[0] = *mean;
        got[1] = *sem;
        lg_error ignored;
        lgp_cache_put(cache, key, hash, got, sizeof got, NULL, 0, &ignored);
    }
    return rc0;
}

static int subsets_compute(lg_store *s, size_t layer, uint64_t n, uint32_t d, uint64_t m,
                           int repeats, double discard, const lg_profile_opts *o, double *mean,
                           double *sem, lg_error *err)
{
    uint64_t *perm = malloc(n * sizeof *perm);
    if (!perm)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    lgp_shuffle(perm, n, o->seed * 1000003u + layer); /* the same subsets on every run */
    lg_cursor *cur;
    int rc = lg_cursor_open(s, layer, 1, &cur, err);
    double sum = 0, sum2 = 0;
    lg_twonn_opts to = o->twonn;
    to.discard = discard;
    for (int r = 0; !rc && r < repeats; r++) {
        uint64_t *rows = perm + (uint64_t)r * m;
        qsort(rows, m, sizeof *rows, lgp_cmp_u64);
        subset_rows sr = {cur, rows, d};
        lg_knn_opts ko = {.k = 2, .threads = o->threads, .memory = o->memory, .tile = o->tile,
                          .stop = o->stop};
        lg_knn nn;
        rc = lg_knn_exact(m, d, read_subset, &sr, &ko, &nn, err);
        lg_twonn_result t;
        if (!rc) {
            rc = lg_twonn(&nn, &to, &t, err);
            lg_knn_free(&nn);
        }
        if (!rc) {
            sum += t.id;
            sum2 += t.id * t.id;
        }
    }
    lg_cursor_close(cur);
    free(perm);
    if (rc)
        return rc;
    *mean = sum / repeats;
    double var = repeats > 1 ? (sum2 - sum * sum / repeats) / (repeats - 1) : 0;
    *sem = var > 0 ? sqrt(var / repeats) : 0;
    return LG_OK;
}

static int decimate(lg_store *s, size_t layer, lg_layer_result *r, const lg_profile_opts *o,
                    lgp_cache *cache, lg_error *err)
{
    r->n_dec = 0;
    r->dec_rows[0] = r->n;
    r->dec_repeats[0] = 1;
    r->dec_id[0] = r->twonn.id;
    r->dec_err[0] = 0;
    r->n_dec = 1;
    uint64_t least = o->min_subset > 20 ? o->min_subset : 20;
    for (int level = 1; level < LG_MAX_DECIMATION; level++) {
        uint64_t m = r->n >> level;
        if (m < least)
            break;
        int repeats = (1 << level) < 4 ? (1 << level) : 4;
        int rc = subsets_id(s, layer, r->n, r->d, m, repeats, o->twonn.discard, o, cache,
                            &r->dec_id[r->n_dec], &r->dec_err[r->n_dec], err);
        if (rc)
            return rc;
        r->dec_rows[r->n_dec] = m;
        r->dec_repeats[r->n_dec] = repeats;
        r->n_dec++;
    }
    return LG_OK;
}

/* ---- one layer ---- */

/* Neighbours needed per row: k, GRIDE's top rank, the largest per-class k. */
uint32_t lgp_lists_k(const lg_profile_opts *o, uint64_t n)
{
    uint32_t k = o->k > o->gride_max_rank ? o->k : o->gride_max_rank;
    for (size_t i = 0; i < o->n_more_k && i < LG_MAX_KS; i++)
        k = o->more_k[i] > k ? o->more_k[i] : k;
    k = o->ii_k > k ? o->ii_k : k;
    if (o->id_kind == LG_ID_KSTAR && !o->paper && o->kstar.maxk > k)
        k = o->kstar.maxk;
    if (k < 2)
        k = 2;
    if (o->labels && o->class_fraction > 0) {
        /* the largest class could need floor(fraction x n) */
        double f = floor(o->class_fraction * (double)n);
        if (f > k)
            k = f > LG_KNN_MAX_K ? LG_KNN_MAX_K : (uint32_t)f;
    }
    if (k > n - 1)
        k = (uint32_t)(n - 1);
    return k;
}

static int chosen_id(lg_layer_result *r, const lg_profile_opts *o, lg_error *err)
{
    if (o->paper)
        return LG_OK; /* set by the paper's protocol */
    switch (o->id_kind) {
    case LG_ID_ML:
        r->id = r->twonn.id_ml;
        r->id_err = r->twonn.bayes_std;
        return LG_OK;
    case LG_ID_KSTAR:
        r->id = r->has_kstar ? r->kstar.id : NAN;
        r->id_err = r->has_kstar ? r->kstar.err : NAN;
        return LG_OK;
    case LG_ID_GRIDE:
        if (!r->gride.scales) { /* GRIDE failed on these data: the note says why */
            r->id = r->id_err = NAN;
            return LG_OK;
        }
        for (int s = 0; s < r->gride.scales; s++)
            if (r->gride.n2[s] == o->gride_rank) {
                r->id = r->gride.id[s]; /* NaN at a degenerate scale: see the note */
                r->id_err = r->gride.err[s];
                return LG_OK;
            }
        return lgu_fail(err, LG_EUSAGE,
                       "GRIDE has no scale with n2 = %u here (ranks go 2, 4, ... up to %u)",
                       o->gride_rank, r->gride.scales ? r->gride.n2[r->gride.scales - 1] : 0);
    default:
        r->id = r->twonn.id;
        r->id_err = r->twonn.bayes_std;
        return LG_OK;
    }
}

/* Fills r's identity from the store (the name is copied: the profile may
 * outlive this opening of the store). */
int lgp_identify(lg_store *s, size_t layer, lg_layer_result *r)
{
    lg_layer_info L;
    lg_store_layer(s, layer, &L);
    r->index = layer;
    r->layer_id = L.id;
    r->name = strdup(L.name);
    r->n = L.n;
    r->d = L.d;
    return r->name ? LG_OK : LG_ENOMEM;
}

/* A share of rows, as a percentage for a note. */
static double pct(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0;
}

/* Twins, then the notes the distances call for. */
static int twins_and_scale(lg_store *s, size_t layer, const lg_profile_opts *o,
                           lg_layer_result *r, const lg_knn *nn, lg_knn *merged, lg_error *err)
{
    int rc = lgp_twins(s, layer, o, nn, r, merged, err);
    if (rc)
        return rc;
    r->duplicates = r->twins.rows;
    const lg_knn *est = merged->idx ? merged : nn;
    r->small_scale_rows = lgp_small_scale_rows(est, &r->median_r1);
    uint64_t valid = nn->n - nn->n_excluded;
    if (r->twins.rows > r->twins.exact)
        lgp_note(r, "%llu rows have a twin closer than the duplicate tolerance but not at "
                    "distance 0 (e.g. rows %u and %u at %.3g); they were %s",
                 U64(r->twins.rows - r->twins.exact), r->twins.example[0],
                 r->twins.example[1], r->twins.example_dist,
                 o->twonn.duplicates == LG_DUP_DROP ? "merged, one row per group"
                                                    : "kept (--duplicates keep)");
    int twonn_based = !o->paper && (o->id_kind == LG_ID_TWONN || o->id_kind == LG_ID_ML);
    r->suspect = twonn_based && r->small_scale_rows * 100 > valid;
    if (r->small_scale_rows * 100 > valid)
        lgp_note(r, "%.1f%% of rows have a neighbour over 1000 times closer than their 4th "
                    "(median r1 %.3g): TwoNN measures that small-scale structure; GRIDE's "
                    "larger scales see past it%s",
                 pct(r->small_scale_rows, valid), r->median_r1,
                 r->suspect ? " (this layer is left out of the recommendation)" : "");
    return LG_OK;
}

#define TIE 1e-4 /* r2 - r1 below this fraction of r1: a tie */

/* More than the D columns allow, beyond what noise explains (an estimate
 * of a full-dimensional cloud scatters around D). */
static int beyond_d(double id, double err, uint32_t d)
{
    return isfinite(id) && id > 1.05 * d + 3 * (isfinite(err) ? err : 0);
}

/* A number that cannot be an intrinsic dimension is not reported as one. */
static void impossible_ids(lg_layer_result *r, const lg_knn *est)
{
    uint64_t ties = 0, m = 0;
    for (uint64_t i = 0; i < est->n; i++) {
        const double *di = est->dist + i * est->k;
        if (est->idx[i * est->k] == LG_KNN_NONE || !isfinite(di[1]) || di[0] == 0)
            continue;
        m++;
        ties += di[1] - di[0] <= TIE * di[0];
    }
    /* TwoNN's law is continuous: mu = r2 / r1 within 1 + 1e-4 has
     * probability about d x 1e-4.  Many such ties are a lattice (a grid, a
     * coarse quantisation), whatever float rounding does to them */
    if (isfinite(r->twonn.id) && ties * 10 > m) {
        lgp_note(r, "lattice or too few distinct distances: %.1f%% of rows have r2 = r1 "
                    "(to 1e-4), so TwoNN (%.4g) is not an estimate",
                 pct(ties, m), r->twonn.id);
        r->twonn.id = r->twonn.id_ml = r->twonn.bayes_mean = r->twonn.bayes_std = NAN;
    } else if (beyond_d(r->twonn.id, r->twonn.bayes_std, r->d)) {
        lgp_note(r, "TwoNN gives %.4g, more than the %u columns: not an estimate", r->twonn.id,
                 r->d);
        r->twonn.id = r->twonn.id_ml = r->twonn.bayes_mean = r->twonn.bayes_std = NAN;
    }
    int bound = 0, over = 0;
    for (int q = 0; q < r->gride.scales; q++) {
        if (r->gride.at_bound & (1u << q))
            bound++;
        else if (beyond_d(r->gride.id[q], r->gride.err[q], r->d)) {
            over++;
            r->gride.id[q] = r->gride.err[q] = NAN;
        }
    }
    if (bound)
        lgp_note(r, "GRIDE at %d of %d scales has no maximum of its likelihood in [1e-3, 1e3] "
                    "(too few distinct distances): no number there",
                 bound, r->gride.scales);
    if (over)
        lgp_note(r, "GRIDE at %d scales gives more than the %u columns: no number there", over,
                 r->d);
    if (r->has_kstar && r->kstar.at_bound) {
        lgp_note(r, "k*-GRIDE's likelihood has no maximum in [1e-3, 1e3]: no number");
    } else if (r->has_kstar && beyond_d(r->kstar.id, r->kstar.err, r->d)) {
        lgp_note(r, "k*-GRIDE gives %.4g, more than the %u columns: not an estimate",
                 r->kstar.id, r->d);
        r->kstar.id = r->kstar.err = NAN;
    }
}

/* The estimators on the lists (twins merged when so): a failure the data
 * cause is a note on the layer. */
static int estimators(const lg_profile_opts *o, lg_layer_result *r, const lg_knn *est,
                      lg_error *err)
{
    lg_error e;
    if (lg_twonn(est, &o->twonn, &r->twonn, &e) != LG_OK) {
        if (e.code != LG_EINPUT)
            return lgu_fail(err, e.code, "%s", e.msg);
        lgp_note(r, "TwoNN: %s", e.msg);
        r->twonn.id = r->twonn.id_ml = r->twonn.bayes_mean = r->twonn.bayes_std = NAN;
    }
    if (lg_gride(est, o->gride_max_rank, o->twonn.duplicates, &r->gride, &e) != LG_OK) {
        if (e.code != LG_EINPUT)
            return lgu_fail(err, e.code, "%s", e.msg);
        lgp_note(r, "GRIDE: %s", e.msg);
    }
    if (o->id_kind == LG_ID_KSTAR && !o->paper) {
        lg_kstar_opts ko = o->kstar;
        ko.twonn = o->twonn;
        if (isfinite(r->twonn.id) && !(ko.initial_id > 0))
            ko.initial_id = r->twonn.id;
        int rc = lg_gride_kstar(est, &ko, &r->kstar, &e);
        if (rc == LG_OK)
            r->has_kstar = 1;
        else if (rc == LG_EINPUT || rc == LG_EUSAGE) /* too few rows for maxk, say */
            lgp_note(r, "k*-GRIDE: %s", e.msg);
        else
            return lgu_fail(err, e.code, "%s", e.msg);
    }
    impossible_ids(r, est);
    return LG_OK;
}

/* Everything that follows from a layer's neighbour lists. */
int lgp_estimate(lg_store *s, size_t layer, const lg_profile_opts *o, lgp_cache *cache,
                 lg_layer_result *r, const lg_knn *nn, lg_error *err)
{
    r->id = r->id_err = NAN;
    r->twonn.id = r->twonn.id_ml = r->twonn.bayes_mean = r->twonn.bayes_std = NAN;
    if (o->groups_only) { /* the layer's ID is the median of its groups' */
        int rc = lgp_groups(s, layer, o, r, err);
        r->id = rc ? NAN : r->group_summary.median;
        if (rc)
            lgu_fail_prefix(err, "layer %u (%s)", r->layer_id, r->name);
        return rc;
    }
    if (!nn->idx)
        return LG_OK; /* no lists: r->note says why */
    r->rescanned = nn->n_rescanned;
    r->panels = nn->panels;
    r->knn_seconds = nn->seconds;
    r->nonfinite_rows = nn->n_excluded;
    r->first_nonfinite = nn->first_excluded;
    lg_knn merged;
    int rc = twins_and_scale(s, layer, o, r, nn, &merged, err);
    if (!rc)
        rc = estimators(o, r, merged.idx ? &merged : nn, err);
    lg_knn_free(&merged);
    if (!rc && o->labels) {
        rc = lg_overlap_labels(nn, o->labels, o->k, o->class_fraction, &r->overlap_labels, err);
        for (size_t i = 0; !rc && i < o->n_more_k; i++)
            rc = lg_overlap_labels(nn, o->labels, o->more_k[i], 0, &r->overlap_labels_more[i],
                                   err);
        r->has_labels = !rc;
    }
    if (!rc)
        rc = chosen_id(r, o, err);
    if (!rc && o->paper) {
        uint64_t m = r->n / 32;
        if (m < 20)
            rc = lgu_fail(err, LG_EINPUT,
                         "the paper's protocol uses subsets of N / 32 rows: %llu rows give "
                         "subsets of %llu, too few for TwoNN (at least 20)",
                         U64(r->n), U64(m));
        else
            rc = subsets_id(s, layer, r->n, r->d, m, 4, 0.02, o, cache, &r->id, &r->id_err,
                            err);

    }
    if (!rc && o->decimation)
        rc = decimate(s, layer, r, o, cache, err);
    if (!rc && (o->per_class || o->groups))
        rc = lgp_groups(s, layer, o, r, err);
    if (rc)
        lgu_fail_prefix(err, "layer %u (%s)", r->layer_id, r->name);
    return rc;
}

/* One layer of an offline run: its lists, then everything from them. */
static int one_layer(lgp_sources *src, lg_store *s, size_t q, const lg_profile_opts *o,
                     uint32_t klist, lg_profile *p, lg_layer_result *r, lg_knn *nn,
                     lg_error *err)
{
    double t0 = now();
    size_t layer = src->order ? src->order[q] : q;
    int rc = lgp_identify(s, layer, r);
    if (rc)
        return lgu_fail(err, rc, "out of memory");
    if (!o->groups_only)
        rc = lgp_layer_lists(src, s, q, layer, o, klist, p, r, nn, err);
    if (!rc)
        rc = lgp_estimate(s, layer, o, src->cache, r, nn, err);
    r->seconds = now() - t0;
    return rc;
}

static int check_opts(lg_store *s, const lg_profile_opts *o, lg_error *err)
{
    if (o->k < 1 || o->k > LG_KNN_MAX_K)
        return lgu_fail(err, LG_EUSAGE, "k = %u: expected 1..%d", o->k, LG_KNN_MAX_K);
    if (o->n_more_k > LG_MAX_KS)
        return lgu_fail(err, LG_EUSAGE, "at most %d more overlap neighbourhoods", LG_MAX_KS);
    for (size_t i = 0; i < o->n_more_k; i++) {
        if (o->more_k[i] < 1 || o->more_k[i] > LG_KNN_MAX_K)
            return lgu_fail(err, LG_EUSAGE, "k = %u: expected 1..%d", o->more_k[i],
                            LG_KNN_MAX_K);
        if (lg_store_rows(s) < (uint64_t)o->more_k[i] + 1)
            return lgu_fail(err, LG_EINPUT, "%s: %llu rows are too few for k = %u",
                            lg_store_path(s), U64(lg_store_rows(s)), o->more_k[i]);
    }
    if (o->class_fraction < 0 || o->class_fraction > 1)
        return lgu_fail(err, LG_EUSAGE, "class fraction %g: expected 0..1", o->class_fraction);
    if (o->id_kind == LG_ID_GRIDE && !o->paper &&
        (o->gride_rank > o->gride_max_rank || o->gride_rank < 2 ||
         (o->gride_rank & (o->gride_rank - 1))))
        return lgu_fail(err, LG_EUSAGE,
                       "--id gride uses the scale n2 = %u: it must be a power of two from 2 to "
                       "the largest GRIDE rank (%u)",
                       o->gride_rank, o->gride_max_rank);
    if (o->per_class && !o->labels)
        return lgu_fail(err, LG_EUSAGE, "per-class ID needs labels, and none are in use (give "
                                        "a labels file or a label set of the store)");
    if (o->ii_k > LG_KNN_MAX_K)
        return lgu_fail(err, LG_EUSAGE, "ii-k %u: expected 0..%d", o->ii_k, LG_KNN_MAX_K);
    if (o->groups_only && !o->per_class && !o->groups)
        return lgu_fail(err, LG_EUSAGE, "groups-only needs groups (or per-class)");
    if (o->groups_only && ((o->team && o->team->size > 1) || o->approx || o->paper ||
                           o->decimation))
        return lgu_fail(err, LG_EUSAGE, "groups-only profiles the groups alone: no team, "
                                        "approximate search, preset or decimation");
    if (!(o->recall >= 0 && o->recall <= 1))
        return lgu_fail(err, LG_EUSAGE, "recall %g: expected 0..1", o->recall);
    if (o->approx && o->recall > 0 && !o->check_rows)
        return lgu_fail(err, LG_EUSAGE, "recall %.2f needs the self-check, and check-rows is 0 "
                                        "(give recall 0 to search with the planned probes "
                                        "unchecked)",
                        o->recall);
    if (o->per_class && o->groups)
        return lgu_fail(err, LG_EUSAGE, "per-class and groups exclude each other (per-class "
                                        "takes the labels as the groups)");
    if (o->group_rank && (o->group_rank < 2 || (o->group_rank & (o->group_rank - 1))))
        return lgu_fail(err, LG_EUSAGE, "group-rank %u: expected a power of two >= 2",
                        o->group_rank);
    uint64_t n = lg_store_rows(s);
    if (lg_store_layer_count(s) == 0)
        return lgu_fail(err, LG_EINPUT, "%s: the store has no layers", lg_store_path(s));
    if (n < (uint64_t)o->k + 1)
        return lgu_fail(err, LG_EINPUT,
                       "%s: %llu rows are too few for k = %u (need at least k + 1; try a "
                       "smaller --k)",
                       lg_store_path(s), U64(n), o->k);
    for (size_t i = 0; o->layers && i < o->n_layers; i++)
        if (o->layers[i] >= lg_store_layer_count(s))
            return lgu_fail(err, LG_EUSAGE, "%s: no layer %zu (the store has %zu)",
                           lg_store_path(s), o->layers[i], lg_store_layer_count(s));
    return LG_OK;
}

/* The recommendation and the best label layer, from the finished rows. */
int lgp_finish(lg_profile *out, lg_error *err)
{
    size_t L = out->n_layers;
    const lg_profile_opts *opts = &out->opts;
    out->best_label_layer = -1;
    if (!L)
        return LG_OK;
    double *id = malloc(L * sizeof *id), *e = malloc(L * sizeof *e);
    if (!id || !e) {
        free(id);
        free(e);
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    }
    /* layers without an ID (see their notes) take no part in the choice */
    size_t *map = malloc(L * sizeof *map), m = 0;
    if (!map) {
        free(id);
        free(e);
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    }
    for (size_t q = 0; q < L; q++) {
        if (isfinite(out->layers[q].id) && !out->layers[q].suspect) {
            id[m] = out->layers[q].id;
            e[m] = out->layers[q].id_err;
            map[m++] = q;
        }
        if (out->layers[q].has_labels &&
            (out->best_label_layer < 0 ||
             out->layers[q].overlap_labels.unweighted >
                 out->layers[out->best_label_layer].overlap_labels.unweighted))
            out->best_label_layer = (int)q;
    }
    out->warning[0] = 0;
    if (opts->paper && out->layers[0].n / 32 < opts->min_subset)
        snprintf(out->warning, sizeof out->warning,
                 "--preset paper: N = %llu gives subsets of %llu rows (N / 32), fewer than %u; "
                 "the IDs are biased low and the peak can move: plain TwoNN (no preset) uses "
                 "every row",
                 U64(out->layers[0].n), U64(out->layers[0].n / 32), opts->min_subset);
    out->rec.index = out->rec.peak = -1;
    if (m) {
        lg_recommend_layer(id, opts->paper || opts->decimation ? e : NULL, (int)m, opts->tol,
                           &out->rec);
        out->rec.index = (int)map[out->rec.index];
        out->rec.peak = out->rec.peak >= 0 ? (int)map[out->rec.peak] : -1;
        out->rec.plateau_first = (int)map[out->rec.plateau_first];
        out->rec.plateau_last = (int)map[out->rec.plateau_last];
    } else {
        snprintf(out->rec.reason, sizeof out->rec.reason, "no layer has an ID");
    }
    free(map);
    free(id);
    free(e);
    return LG_OK;
}

int lg_profile_run(lg_store *s, const lg_profile_opts *opts, lg_profile *out, lg_error *err)
{
    memset(out, 0, sizeof *out);
    lg_profile_opts def;
    if (!opts) {
        lg_profile_opts_default(&def);
        opts = &def;
    }
    int rc = check_opts(s, opts, err);
    if (rc)
        return rc;
    double t0 = now();
    out->opts = *opts;
    out->store_layers = lg_store_layer_count(s);
    size_t L = opts->layers ? opts->n_layers : lg_store_layer_count(s);
    uint64_t n = lg_store_rows(s);
    uint32_t klist = lgp_lists_k(opts, n);
    out->k_lists = klist;
    lgp_team team = {opts->team && opts->team->size > 1 ? opts->team : NULL, NULL, 0};
    if (team.team && team.team->rank != 0) { /* a member: searches what it is given */
        out->opts = *opts;
        return lgp_team_member(team.team, s, opts, klist, err);
    }
    size_t *order = team.team ? malloc((L ? L : 1) * sizeof *order) : NULL;
    if (team.team && !order)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    for (size_t q = 0; order && q < L; q++)
        order[q] = opts->layers ? opts->layers[q] : q;
    lgp_acc acc;
    lgp_acc_open(&acc, out, opts, 0);
    lgp_cache *cache = NULL;
    if (opts->cache_dir) {
        lg_error cerr;
        if (lgp_cache_open(opts->cache_dir, &cache, &cerr))
            snprintf(out->cache_note, sizeof out->cache_note, "cache not used: %s", cerr.msg);
    }
    lgp_sources src = {cache, &team, order ? order : opts->layers, L, NULL, 0, NULL};
    lg_knn cur = {0};
    for (size_t q = 0; !rc && q < L; q++) {
        if (opts->stop && *opts->stop) {
            rc = lgu_fail(err, LG_ECANCELED, "stopped: the caller asked the profile to stop");
            break;
        }
        lg_layer_result *r = lgp_acc_slot(&acc, err);
        if (!r) {
            rc = LG_ENOMEM;
            break;
        }
        lgp_ranks ranks;
        src.ranks = team.team ? NULL : lgp_ranks_for_next(&acc, &ranks, err);
        rc = one_layer(&src, s, q, opts, klist, out, r, &cur, err);
        if (!rc)
            rc = lgp_imbalance_prev(&acc, s, src.order ? src.order[q] : q, r, &cur, src.ranks,
                                    cache, err);
        lgp_ranks_free(src.ranks);
        src.ranks = NULL;
        if (rc) {
            lgp_layer_free(r);
            break;
        }
        rc = lgp_acc_add(&acc, r, &cur, err);
        if (!rc && opts->progress)
            opts->progress(opts->progress_ctx, r, q + 1, L);
    }
    lg_knn_free(&cur);
    lgp_cache_close(cache);
    lgp_team_end(&team);
    free(order);
    if (!rc && opts->overlap_matrix)
        rc = lgp_acc_matrix(&acc, err);
    if (!rc && opts->overlap_matrix && opts->ii_k)
        rc = lgp_acc_ii_matrix(&acc, s, err);
    lgp_acc_close(&acc);
    if (rc) {
        lg_profile_free(out);
        return rc;
    }
    rc = lgp_finish(out, err);
    if (rc) {
        lg_profile_free(out);
        return rc;
    }
    out->seconds = now() - t0;
    return LG_OK;
}

/* The information imbalance between consecutive layers, both directions,
 * from the lists the profile holds anyway (the previous layer's and this
 * one's) and, for the ranks those lists do not show, a count over the rows
 * of the layer in question (estimate/imbalance.c, knn/ranks.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "layergeom/profile.h"
#include "profile/cache.h"
#include "profile/profile_int.h"
#include "util/error.h"

typedef struct layer_rows {
    lg_cursor *cur;
} layer_rows;

static int read_layer(void *ctx, uint64_t r0, size_t n, float *out, lg_error *err)
{
    layer_rows *l = ctx;
    return lg_cursor_read(l->cur, r0, n, out, err);
}

static int one_way(lg_store *s, size_t layer_b, const lg_knn *a, const lg_knn *b,
                   const lg_profile_opts *o, lg_imbalance *out, lg_error *err)
{
    lg_layer_info L;
    lg_store_layer(s, layer_b, &L);
    layer_rows lr;
    int rc = lg_cursor_open(s, layer_b, 1, &lr.cur, err);
    if (rc)
        return rc;
    lg_knn_opts ko = {.threads = o->threads, .memory = o->memory, .stop = o->stop};
    rc = lg_information_imbalance(a, b, o->ii_k, L.d, read_layer, &lr, &ko, out, err);
    lg_cursor_close(lr.cur);
    return rc;
}

typedef struct mem_rows {
    const float *x;
    uint32_t d;
} mem_rows;

static int read_mem(void *ctx, uint64_t r0, size_t n, float *out, lg_error *err)
{
    (void)err;
    mem_rows *m = ctx;
    memcpy(out, m->x + r0 * m->d, n * m->d * sizeof *out);
    return LG_OK;
}

/* The rows `rows` (ascending) of a layer, into memory. */
static int gather(lg_store *s, size_t layer, const uint64_t *rows, uint64_t m, uint32_t d,
                  float *out, lg_error *err)
{
    lg_cursor *c;
    int rc = lg_cursor_open(s, layer, 1, &c, err);
    for (uint64_t i = 0; !rc && i < m; i++)
        rc = lg_cursor_read(c, rows[i], 1, out + i * d, err);
    lg_cursor_close(c);
    return rc;
}

static void mean_sem(const double *v, int n, double out[2])
{
    double m = 0, q = 0;
    for (int i = 0; i < n; i++)
        m += v[i];
    m /= n;
    for (int i = 0; i < n; i++)
        q += (v[i] - m) * (v[i] - m);
    out[0] = m;
    out[1] = n > 1 ? sqrt(q / (n - 1)) / sqrt((double)n) : 0;
}

/* DADApy's protocol: N / M disjoint random subsets of equal size (as
 * numpy's array_split; a shorter last one dropped), each with its own
 * neighbours, both directions; mean and sem. */
static int subsets(lg_store *s, size_t la, size_t lb, const lg_profile_opts *o,
                   lg_layer_result *r, lg_error *err)
{
    uint64_t n = r->n, M = o->ii_subsets;
    uint64_t repeats = n / M;
    if (repeats < 1) {
        lgp_note(r, "information imbalance subsets of %llu rows: the layer has only %llu",
                 (unsigned long long)M, (unsigned long long)n);
        return LG_OK;
    }
    /* numpy's array_split: the first n % repeats subsets have one row more;
     * DADApy drops the last when it is shorter than the one before */
    uint64_t size = n / repeats, extra = n % repeats;
    if (repeats > 1 && extra == repeats - 1)
        repeats--;
    lg_layer_info A, B;
    lg_store_layer(s, la, &A);
    lg_store_layer(s, lb, &B);
    uint64_t *perm = malloc(n * sizeof *perm);
    double *ab = malloc(repeats * 2 * sizeof *ab), *ba = ab ? ab + repeats : NULL;
    float *xa = malloc((size + 1) * A.d * sizeof *xa), *xb = malloc((size + 1) * B.d * sizeof *xb);
    int rc = perm && ab && xa && xb ? LG_OK : lgu_fail(err, LG_ENOMEM, "out of memory");
    if (!rc)
        lgp_shuffle(perm, n, o->seed * 1000003u + 77 + lb);
    uint64_t at = 0;
    for (uint64_t q = 0; !rc && q < repeats; q++) {
        uint64_t m = size + (q < extra);
        uint64_t *rows = perm + at;
        at += m;
        qsort(rows, m, sizeof *rows, lgp_cmp_u64);
        rc = gather(s, la, rows, m, A.d, xa, err);
        if (!rc)
            rc = gather(s, lb, rows, m, B.d, xb, err);
        uint32_t k = o->ii_k > 8 ? o->ii_k : 8;
        k = k > m - 1 ? (uint32_t)(m - 1) : k;
        lg_knn_opts ko = {.k = k, .threads = o->threads, .memory = o->memory, .stop = o->stop};
        lg_knn na = {0}, nb = {0};
        if (!rc)
            rc = lg_knn_exact_matrix(xa, m, A.d, &ko, &na, err);
        if (!rc)
            rc = lg_knn_exact_matrix(xb, m, B.d, &ko, &nb, err);
        mem_rows ma = {xa, A.d}, mb = {xb, B.d};
        lg_imbalance x, y;
        if (!rc)
            rc = lg_information_imbalance(&na, &nb, o->ii_k, B.d, read_mem, &mb, &ko, &x, err);
        if (!rc)
            rc = lg_information_imbalance(&nb, &na, o->ii_k, A.d, read_mem, &ma, &ko, &y, err);
        lg_knn_free(&na);
        lg_knn_free(&nb);
        if (!rc) {
            ab[q] = x.value;
            ba[q] = y.value;
        }
    }
    if (!rc) {
        mean_sem(ab, (int)repeats, r->ii_sub_from_prev);
        mean_sem(ba, (int)repeats, r->ii_sub_to_prev);
        r->ii_sub_count = (int)repeats;
        r->ii_sub_rows = size;
    }
    free(perm);
    free(ab);
    free(xa);
    free(xb);
    return rc;
}

lgp_ranks *lgp_ranks_for_next(lgp_acc *a, lgp_ranks *rq, lg_error *err)
{
    (void)err;
    const lg_profile_opts *o = a->o;
    if (!o->ii_k || o->approx || !a->prev.idx || o->ii_k > a->prev.k)
        return NULL;
    rq->prev = &a->prev;
    rq->k = o->ii_k;
    rq->done = 0;
    rq->rank = malloc(a->prev.n * o->ii_k * sizeof *rq->rank);
    return rq->rank ? rq : NULL; /* without: counted after the search */
}

void lgp_ranks_free(lgp_ranks *rq)
{
    if (rq)
        free(rq->rank);
}

/* Delta(A -> B) for the layer pair (la, lb) with lists a, b: from the
 * cache, from the ranks B's search counted, or counted now over B's rows;
 * then cached (exact lists only). */
static int pair(lgp_acc *acc, lg_store *s, size_t la, size_t lb, const lg_knn *a,
                const lg_knn *b, const uint64_t *counted, lgp_cache *cache, lg_imbalance *out,
                int *by, lg_error *err)
{
    const lg_profile_opts *o = acc->o;
    lg_layer_info A, B;
    lg_store_layer(s, la, &A);
    lg_store_layer(s, lb, &B);
    uint64_t ha = 0, hb = 0;
    lg_error herr;
    int keyed = cache && !o->approx && lgp_layer_hash(cache, s, la, A.n, &ha, &herr) == LG_OK &&
                lgp_layer_hash(cache, s, lb, B.n, &hb, &herr) == LG_OK;
    if (keyed && lgp_cache_get_ii(cache, &A, ha, &B, hb, o->ii_k, out)) {
        *by = LG_II_CACHE;
        return LG_OK;
    }
    *by = counted ? LG_II_SEARCH : LG_II_ROWS;
    int rc = counted ? lg_information_imbalance_counted(a, b, o->ii_k, counted, out, err)
                     : one_way(s, lb, a, b, o, out, err);
    if (!rc && keyed)
        lgp_cache_put_ii(cache, &A, ha, &B, hb, out);
    return rc;
}

int lgp_imbalance_prev(lgp_acc *a, lg_store *s, size_t layer, lg_layer_result *r,
                       const lg_knn *nn, const lgp_ranks *rq, lgp_cache *cache, lg_error *err)
{
    lg_profile *p = a->p;
    const lg_profile_opts *o = a->o;
    if (!o->ii_k || !p->n_layers || !a->prev.idx || !nn->idx || a->prev.n != nn->n)
        return LG_OK;
    if (o->ii_k > nn->k || o->ii_k > a->prev.k)
        return lgu_fail(err, LG_EUSAGE, "information imbalance at k = %u needs lists of %u "
                                        "neighbours (these have %u)",
                        o->ii_k, o->ii_k, nn->k);
    size_t prev = p->layers[p->n_layers - 1].index;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* previous -> this: counted in this layer's search when it ran; this ->
     * previous: counted over the previous layer's rows (at most one pass) */
    const uint64_t *counted = rq && rq->done ? rq->rank : NULL;
    int rc = pair(a, s, prev, layer, &a->prev, nn, counted, cache, &r->ii_from_prev,
                  &r->ii_from_by, err);
    if (!rc)
        rc = pair(a, s, layer, prev, nn, &a->prev, NULL, cache, &r->ii_to_prev, &r->ii_to_by,
                  err);
    if (rc == LG_EINPUT) { /* the data allow none (no rows with lists): a note */
        lgp_note(r, "information imbalance: %s", err->msg);
        return LG_OK;
    }
    r->has_ii = !rc;
    if (!rc && o->ii_subsets)
        rc = subsets(s, prev, layer, o, r, err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    r->ii_seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    r->seconds += r->ii_seconds;
    return rc;
}

/* One column of an imbalance matrix: Delta(A_a -> B) for every a, where
 * A_a are first-k neighbour lists (k per row, LG_KNN_NONE for rows without
 * one) and B is the layer `layer_b` of store s with kept list B.  Ranks B's
 * list shows are read; the others are counted over B's rows, in batches of
 * queries sized from the budget.  sum[a], valid[a] receive the sum of ranks
 * and the rows with lists in both. */
int lgp_ii_column(lg_store *s, size_t layer_b, const uint32_t *B, const uint32_t *const *A,
                  size_t nA, uint64_t n, uint32_t k, uint32_t kk, const lg_profile_opts *o,
                  double *sum, uint64_t *valid, lg_error *err)
{
    uint64_t budget = o->memory ? o->memory : lg_default_memory();
    size_t cap = (size_t)(budget / 8 / 48);
    cap = cap < 1024 ? 1024 : cap;
    uint32_t *qi = malloc(cap * sizeof *qi), *qj = malloc(cap * sizeof *qj);
    uint32_t *tag = malloc(cap * sizeof *tag);
    uint64_t *rank = malloc(cap * sizeof *rank);
    lg_layer_info info;
    lg_store_layer(s, layer_b, &info);
    layer_rows lr = {NULL};
    int rc = qi && qj && tag && rank ? lg_cursor_open(s, layer_b, 1, &lr.cur, err)
                                     : lgu_fail(err, LG_ENOMEM, "out of memory");
    lg_knn_opts ko = {.threads = o->threads, .memory = o->memory, .stop = o->stop};
    size_t nq = 0;
    for (size_t a = 0; !rc && a <= nA; a++) {
        const uint32_t *Aa = a < nA ? A[a] : NULL;
        for (uint64_t i = 0; !rc && Aa && B && i < n; i++) {
            if (Aa[i * k] == LG_KNN_NONE || B[i * k] == LG_KNN_NONE)
                continue;
            valid[a]++;
            for (uint32_t q = 0; q < kk; q++) {
                uint32_t j = Aa[i * k + q], r = 0;
                while (r < k && B[i * k + r] != j && B[i * k + r] != LG_KNN_NONE)
                    r++;
                if (r < k && B[i * k + r] == j) {
                    sum[a] += r + 1;
                    continue;
                }
                qi[nq] = (uint32_t)i;
                qj[nq] = j;
                tag[nq++] = (uint32_t)a;
                if (nq == cap) { /* a full batch: count it now */
                    rc = lg_knn_ranks(n, info.d, read_layer, &lr, qi, qj, nq, rank, &ko, err);
                    for (size_t x = 0; !rc && x < nq; x++)
                        sum[tag[x]] += (double)rank[x];
                    nq = 0;
                }
            }
        }
        if (a == nA && !rc && nq) { /* the rest */
            rc = lg_knn_ranks(n, info.d, read_layer, &lr, qi, qj, nq, rank, &ko, err);
            for (size_t x = 0; !rc && x < nq; x++)
                sum[tag[x]] += (double)rank[x];
        }
    }
    lg_cursor_close(lr.cur);
    free(qi);
    free(qj);
    free(tag);
    free(rank);
    return rc;
}

int lgp_acc_ii_matrix(lgp_acc *acc, lg_store *s, lg_error *err)
{
    lg_profile *p = acc->p;
    size_t L = p->n_layers;
    if (acc->o->ii_k > acc->o->k)
        return lgu_fail(err, LG_EUSAGE, "the information imbalance matrix uses the kept "
                                        "neighbours: ii-k %u must not exceed k %u",
                        acc->o->ii_k, acc->o->k);
    free(p->ii_matrix);
    p->ii_matrix = malloc((L ? L : 1) * L * sizeof *p->ii_matrix);
    double *sum = malloc((L + 1) * sizeof *sum);
    uint64_t *valid = malloc((L + 1) * sizeof *valid);
    if (!p->ii_matrix || !sum || !valid) {
        free(sum);
        free(valid);
        return lgu_fail(err, LG_ENOMEM, "out of memory for the information imbalance matrix");
    }
    int rc = LG_OK;
    for (size_t b = 0; !rc && b < L; b++) {
        for (size_t a = 0; a <= L; a++) {
            sum[a] = 0;
            valid[a] = 0;
        }
        if (acc->kept[b])
            rc = lgp_ii_column(s, p->layers[b].index, acc->kept[b],
                               (const uint32_t *const *)acc->kept, L, p->layers[b].n,
                               acc->o->k, acc->o->ii_k, acc->o, sum, valid, err);
        for (size_t a = 0; !rc && a < L; a++)
            p->ii_matrix[a * L + b] =
                valid[a] > 1 ? 2.0 / (double)valid[a] * sum[a] / ((double)valid[a] * acc->o->ii_k)
                             : NAN;
    }
    free(sum);
    free(valid);
    return rc;
}

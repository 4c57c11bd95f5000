/*
 * Approximate kNN for large N: an inverted-file partition searched exactly.
 *
 * k-means centroids (trained with GEMM on a sample of the first rows) cut the
 * space into cells; every row belongs to its nearest centroid's cell.  Two
 * cells are *neighbours* when either is among the nprobe nearest centroids of
 * the other.  Each pair of neighbouring cells (and each cell with itself) is
 * searched exactly with GEMM, and every distance updates the candidate lists
 * of both rows, as in the exact search.  The candidates' distances are then
 * recomputed exactly and sorted: what can be wrong is only a neighbour that
 * lives in a cell never paired with the row's.
 *
 * Rows may arrive in blocks: a new block is assigned to cells and searched
 * against the rows of the neighbouring cells (old and new), so its cost grows
 * with the block and the cells it touches, not with N^2.  A self-check
 * compares a random sample of rows with exact search.
 */
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "knn/cand.h"
#include "knn/engine.h"
#include "util/error.h"
#include "util/parallel.h"

#define U64(x) ((unsigned long long)(x))

typedef struct cell {
    uint32_t *rows; /* global row ids, in arrival order */
    uint64_t n, cap, n_old; /* rows before the current block */
    pthread_mutex_t lock;
} cell;

struct lg_knn_approx {
    uint32_t d, k, kc, C, nprobe;
    int threads;
    uint64_t budget, seed;
    float *mu;       /* centre (the first block's mean): keeps the GEMM form accurate */
    float *x;        /* rows, arrival order */
    uint64_t n, cap;
    float *cent;     /* C x d */
    float *cnorm;    /* |centroid|^2 */
    uint32_t *probe; /* C x nprobe nearest centroids of each centroid */
    unsigned char *near; /* C x C: the two cells are searched against each other */
    uint32_t *assign;    /* cell of each row */
    cell *cells;
    float *hd, *wd;
    uint32_t *hi, *wi;
    uint64_t pairs_done; /* cell pairs searched (for the report) */
    double flops;        /* distance computations x d, for the report */
};

static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---- training and assignment ---- */

/* Nearest centroid of each of n rows (GEMM against all centroids). */
static void nearest(const lg_knn_approx *a, const float *x, uint64_t n, uint32_t *out)
{
    const uint64_t B = 1024;
    float *g = malloc(B * a->C * sizeof *g);
    if (!g)
        return;
    for (uint64_t r0 = 0; r0 < n; r0 += B) {
        uint64_t m = n - r0 < B ? n - r0 : B;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)a->C, (int)a->d, 1.0f,
                    x + r0 * a->d, (int)a->d, a->cent, (int)a->d, 0.0f, g, (int)a->C);
        for (uint64_t i = 0; i < m; i++) {
            uint32_t best = 0;
            float bd = INFINITY;
            for (uint32_t c = 0; c < a->C; c++) {
                float v = a->cnorm[c] - 2 * g[i * a->C + c];
                if (v < bd) {
                    bd = v;
                    best = c;
                }
            }
            out[r0 + i] = best;
        }
    }
    free(g);
}

static void centroid_norms(lg_knn_approx *a)
{
    for (uint32_t c = 0; c < a->C; c++) {
        double s = 0;
        for (uint32_t j = 0; j < a->d; j++)
            s += (double)a->cent[(size_t)c * a->d + j] * a->cent[(size_t)c * a->d + j];
        a->cnorm[c] = (float)s;
    }
}

/* k-means on the first rows of the first block: a few Lloyd iterations. */
static int train(lg_knn_approx *a, const float *x, uint64_t n, lg_error *err)
{
    uint64_t seed = a->seed;
    uint64_t m = n < (uint64_t)a->C * 40 ? n : (uint64_t)a->C * 40;
    float *s = malloc(m * a->d * sizeof *s);
    uint32_t *as = malloc(m * sizeof *as);
    double *sum = malloc((size_t)a->C * a->d * sizeof *sum);
    uint64_t *cnt = malloc(a->C * sizeof *cnt);
    if (!s || !as || !sum || !cnt) {
        free(s);
        free(as);
        free(sum);
        free(cnt);
        return lg_fail(err, LG_ENOMEM, "out of memory for k-means");
    }
    /* the sample is the first block's first rows: the same, whether rows come
     * in one block or many, as long as the first holds them */
    memcpy(s, x, m * a->d * sizeof *s);
    for (uint32_t c = 0; c < a->C; c++)
        memcpy(a->cent + (size_t)c * a->d, s + (rnd(&seed) % m) * a->d, a->d * sizeof *s);
    for (int it = 0; it < 10; it++) {
        centroid_norms(a);
        nearest(a, s, m, as);
        memset(sum, 0, (size_t)a->C * a->d * sizeof *sum);
        memset(cnt, 0, a->C * sizeof *cnt);
        for (uint64_t i = 0; i < m; i++) {
            cnt[as[i]]++;
            for (uint32_t j = 0; j < a->d; j++)
                sum[(size_t)as[i] * a->d + j] += s[i * a->d + j];
        }
        for (uint32_t c = 0; c < a->C; c++) {
            if (!cnt[c]) { /* an empty cell takes a random sample row */
                memcpy(a->cent + (size_t)c * a->d, s + (rnd(&seed) % m) * a->d,
                       a->d * sizeof *s);
                continue;
            }
            for (uint32_t j = 0; j < a->d; j++)
                a->cent[(size_t)c * a->d + j] = (float)(sum[(size_t)c * a->d + j] / cnt[c]);
        }
    }
    centroid_norms(a);
    /* each cell's nprobe nearest cells, and the symmetric neighbour relation */
    float *g = malloc((size_t)a->C * a->C * sizeof *g);
    int rc = LG_OK;
    if (!g) {
        rc = lg_fail(err, LG_ENOMEM, "out of memory for %u cells", a->C);
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)a->C, (int)a->C, (int)a->d,
                    1.0f, a->cent, (int)a->d, a->cent, (int)a->d, 0.0f, g, (int)a->C);
        for (uint32_t c = 0; c < a->C; c++) {
            float *row = g + (size_t)c * a->C;
            for (uint32_t e = 0; e < a->C; e++)
                row[e] = a->cnorm[c] + a->cnorm[e] - 2 * row[e];
            row[c] = -1; /* itself first */
            for (uint32_t q = 0; q < a->nprobe; q++) {
                uint32_t best = 0;
                for (uint32_t e = 1; e < a->C; e++)
                    if (row[e] < row[best] || (row[e] == row[best] && e < best))
                        best = e;
                a->probe[(size_t)c * a->nprobe + q] = best;
                a->near[(size_t)c * a->C + best] = a->near[(size_t)best * a->C + c] = 1;
                row[best] = INFINITY;
            }
        }
    }
    free(g);
    free(s);
    free(as);
    free(sum);
    free(cnt);
    return rc;
}

/* ---- searching cell pairs ---- */

typedef struct pair_job {
    lg_knn_approx *a;
    uint32_t *pa, *pb; /* cell pairs with new rows, c <= e */
    size_t count;
    float **buf;       /* per thread: gathered rows a, rows b, products, norms */
    size_t *cap;
} pair_job;

static int gather(const lg_knn_approx *a, const uint32_t *ids, uint64_t n, float **buf,
                  size_t *cap, float **rows, float **sq)
{
    size_t need = n * (a->d + 1);
    if (need > *cap) {
        float *b = realloc(*buf, need * sizeof *b);
        if (!b)
            return LG_ENOMEM;
        *buf = b;
        *cap = need;
    }
    *rows = *buf;
    *sq = *buf + n * a->d;
    for (uint64_t i = 0; i < n; i++) {
        const float *src = a->x + (uint64_t)ids[i] * a->d;
        float *o = *rows + i * a->d;
        double s = 0;
        for (uint32_t j = 0; j < a->d; j++) {
            o[j] = src[j] - a->mu[j];
            s += (double)o[j] * o[j];
        }
        (*sq)[i] = (float)s;
    }
    return LG_OK;
}

/* Offers every distance between rows u (of cell c) and rows v (of cell e). */
static void offer(lg_knn_approx *a, const uint32_t *u, uint64_t nu, const float *su,
                  const uint32_t *v, uint64_t nv, const float *sv, const float *g, int triangle)
{
    for (uint64_t i = 0; i < nu; i++)
        for (uint64_t j = triangle ? i + 1 : 0; j < nv; j++) {
            float d2 = su[i] + sv[j] - 2 * g[i * nv + j];
            if (d2 < 0)
                d2 = 0;
            if (d2 <= a->wd[u[i]])
                lg_cand_offer(a->hd, a->hi, a->wd, a->wi, a->kc, u[i], d2, v[j]);
            if (d2 <= a->wd[v[j]])
                lg_cand_offer(a->hd, a->hi, a->wd, a->wi, a->kc, v[j], d2, u[i]);
        }
}

/* One block of a x b: the rows given, GEMM, offers under both cells' locks. */
static int block(lg_knn_approx *a, int t, pair_job *j, const uint32_t *u, uint64_t nu,
                 const uint32_t *v, uint64_t nv, int triangle, uint32_t c, uint32_t e)
{
    if (!nu || !nv)
        return LG_OK;
    float *ru, *su, *rv, *sv;
    size_t base = (size_t)t * 3;
    if (gather(a, u, nu, &j->buf[base], &j->cap[base], &ru, &su) ||
        gather(a, v, nv, &j->buf[base + 1], &j->cap[base + 1], &rv, &sv))
        return LG_ENOMEM;
    size_t need = nu * nv;
    if (need > j->cap[base + 2]) {
        float *g = realloc(j->buf[base + 2], need * sizeof *g);
        if (!g)
            return LG_ENOMEM;
        j->buf[base + 2] = g;
        j->cap[base + 2] = need;
    }
    float *g = j->buf[base + 2];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nu, (int)nv, (int)a->d, 1.0f, ru,
                (int)a->d, rv, (int)a->d, 0.0f, g, (int)nv);
    uint32_t lo = c < e ? c : e, hi = c < e ? e : c;
    pthread_mutex_lock(&a->cells[lo].lock);
    if (hi != lo)
        pthread_mutex_lock(&a->cells[hi].lock);
    offer(a, u, nu, su, v, nv, sv, g, triangle);
    if (hi != lo)
        pthread_mutex_unlock(&a->cells[hi].lock);
    pthread_mutex_unlock(&a->cells[lo].lock);
    return LG_OK;
}

/* The pairs of one cell pair that involve a new row: new(c) x all(e),
 * old(c) x new(e); for c == e: new x old and new x new. */
static int pair_item(void *arg, int t, size_t item)
{
    pair_job *j = arg;
    lg_knn_approx *a = j->a;
    uint32_t c = j->pa[item], e = j->pb[item];
    cell *C = &a->cells[c], *E = &a->cells[e];
    uint32_t *cn = C->rows + C->n_old, *en = E->rows + E->n_old;
    uint64_t ncn = C->n - C->n_old, nen = E->n - E->n_old;
    /* in slices of at most 2048 rows a side, so the product stays small */
    const uint64_t S = 2048;
    int rc = LG_OK;
    if (c == e) {
        for (uint64_t p = 0; !rc && p < ncn; p += S) {
            uint64_t np = ncn - p < S ? ncn - p : S;
            for (uint64_t q = 0; !rc && q < C->n_old; q += S)
                rc = block(a, t, j, cn + p, np, C->rows + q, C->n_old - q < S ? C->n_old - q : S,
                           0, c, e);
            for (uint64_t q = p; !rc && q < ncn; q += S) {
                uint64_t nq = ncn - q < S ? ncn - q : S;
                rc = block(a, t, j, cn + p, np, cn + q, nq, q == p, c, e);
            }
        }
        return rc;
    }
    for (uint64_t p = 0; !rc && p < ncn; p += S)
        for (uint64_t q = 0; !rc && q < E->n; q += S)
            rc = block(a, t, j, cn + p, ncn - p < S ? ncn - p : S, E->rows + q,
                       E->n - q < S ? E->n - q : S, 0, c, e);
    for (uint64_t p = 0; !rc && p < C->n_old; p += S)
        for (uint64_t q = 0; !rc && q < nen; q += S)
            rc = block(a, t, j, C->rows + p, C->n_old - p < S ? C->n_old - p : S, en + q,
                       nen - q < S ? nen - q : S, 0, c, e);
    return rc;
}

/* ---- the public calls ---- */

int lg_knn_approx_open(uint32_t d, const lg_knn_opts *o, lg_knn_approx **out, lg_error *err)
{
    *out = NULL;
    if (!o || o->k == 0 || o->k > LG_KNN_MAX_K)
        return lg_fail(err, LG_EUSAGE, "k must be 1..%d", LG_KNN_MAX_K);
    if (d == 0)
        return lg_fail(err, LG_EINPUT, "rows have no columns");
    lg_knn_approx *a = calloc(1, sizeof *a);
    if (!a)
        return lg_fail(err, LG_ENOMEM, "out of memory");
    a->d = d;
    a->k = o->k;
    a->kc = o->k + (o->k / 4 > 8 ? o->k / 4 : 8);
    a->threads = o->threads > 0 ? o->threads : lg_cpu_count();
    a->budget = o->memory ? o->memory : lg_default_memory();
    a->C = o->cells;
    a->nprobe = o->nprobe;
    a->seed = o->seed ? o->seed : 1;
    *out = a;
    return LG_OK;
}

void lg_knn_approx_close(lg_knn_approx *a)
{
    if (!a)
        return;
    for (uint32_t c = 0; a->cells && c < a->C; c++) {
        free(a->cells[c].rows);
        pthread_mutex_destroy(&a->cells[c].lock);
    }
    free(a->cells);
    free(a->x);
    free(a->mu);
    free(a->cent);
    free(a->cnorm);
    free(a->probe);
    free(a->near);
    free(a->assign);
    free(a->hd);
    free(a->wd);
    free(a->hi);
    free(a->wi);
    free(a);
}

uint64_t lg_knn_approx_rows(const lg_knn_approx *a)
{
    return a->n;
}

/* Cells and probes from the first block's size, unless the caller chose. */
static int setup_cells(lg_knn_approx *a, uint64_t n, lg_error *err)
{
    if (!a->C) {
        /* about 2 sqrt(N) cells, searched with their nearest 1/16th: the
         * work falls about 8x below the exact search's, and the recall stays
         * high on data with neighbourhoods smaller than a few cells */
        double c = 2 * sqrt((double)n);
        a->C = c < 1 ? 1 : c > 4096 ? 4096 : (uint32_t)c;
    }
    if (a->C > n)
        a->C = (uint32_t)(n ? n : 1);
    if (!a->nprobe) {
        /* a sixteenth of the cells, and enough that a row meets about 4k others */
        uint32_t p = a->C / 16;
        double need = ceil(4.0 * a->k * a->C / (double)(n ? n : 1));
        if (need > p)
            p = need > a->C ? a->C : (uint32_t)need;
        a->nprobe = p < 8 ? 8 : p;
    }
    if (a->nprobe > a->C)
        a->nprobe = a->C;
    a->cent = malloc((size_t)a->C * a->d * sizeof *a->cent);
    a->cnorm = malloc(a->C * sizeof *a->cnorm);
    a->probe = malloc((size_t)a->C * a->nprobe * sizeof *a->probe);
    a->near = calloc((size_t)a->C * a->C, 1);
    a->cells = calloc(a->C, sizeof *a->cells);
    if (!a->cent || !a->cnorm || !a->probe || !a->near || !a->cells)
        return lg_fail(err, LG_ENOMEM, "out of memory for %u cells", a->C);
    for (uint32_t c = 0; c < a->C; c++)
        pthread_mutex_init(&a->cells[c].lock, NULL);
    return LG_OK;
}

static int grow(lg_knn_approx *a, uint64_t n, lg_error *err)
{
    uint64_t need = n * ((uint64_t)a->d * 4 + (uint64_t)a->kc * 16 + 16);
    if (need > a->budget)
        return lg_fail(err, LG_ENOMEM,
                       "%llu rows x %u columns need %llu MiB for the approximate search, more "
                       "than the budget of %llu MiB",
                       U64(n), a->d, U64(need >> 20), U64(a->budget >> 20));
    if (n > a->cap) {
        uint64_t cap = a->cap ? a->cap : 4096;
        while (cap < n)
            cap *= 2;
        float *x = realloc(a->x, cap * a->d * sizeof *x);
        if (x)
            a->x = x;
        uint32_t *as = realloc(a->assign, cap * sizeof *as);
        if (as)
            a->assign = as;
        float *hd = realloc(a->hd, cap * a->kc * sizeof *hd);
        if (hd)
            a->hd = hd;
        uint32_t *hi = realloc(a->hi, cap * a->kc * sizeof *hi);
        if (hi)
            a->hi = hi;
        float *wd = realloc(a->wd, cap * sizeof *wd);
        if (wd)
            a->wd = wd;
        uint32_t *wi = realloc(a->wi, cap * sizeof *wi);
        if (wi)
            a->wi = wi;
        if (!x || !as || !hd || !hi || !wd || !wi)
            return lg_fail(err, LG_ENOMEM, "out of memory");
        a->cap = cap;
    }
    for (uint64_t i = a->n * a->kc; i < n * a->kc; i++) {
        a->hd[i] = INFINITY;
        a->hi[i] = LG_NO_ROW;
    }
    for (uint64_t i = a->n; i < n; i++) {
        a->wd[i] = INFINITY;
        a->wi[i] = LG_NO_ROW;
    }
    return LG_OK;
}

int lg_knn_approx_add(lg_knn_approx *a, const float *rows, uint64_t m, lg_error *err)
{
    if (!m)
        return LG_OK;
    if (a->n + m >= LG_NO_ROW)
        return lg_fail(err, LG_EUSAGE, "too many rows");
    for (uint64_t i = 0; i < m * a->d; i++)
        if (!isfinite(rows[i]))
            return lg_fail(err, LG_EINPUT, "row %llu, column %llu is not finite",
                           U64(a->n + i / a->d), U64(i % a->d));
    int rc = grow(a, a->n + m, err);
    if (rc)
        return rc;
    memcpy(a->x + a->n * a->d, rows, m * a->d * sizeof *rows);
    int blas = openblas_threads_begin();
    if (!a->cells) {
        a->mu = calloc(a->d, sizeof *a->mu);
        if (!a->mu) {
            openblas_threads_end(blas);
            return lg_fail(err, LG_ENOMEM, "out of memory");
        }
        for (uint64_t i = 0; i < m; i++)
            for (uint32_t c = 0; c < a->d; c++)
                a->mu[c] += rows[i * a->d + c] / (float)m;
        rc = setup_cells(a, m, err);
        if (!rc)
            rc = train(a, rows, m, err);
    }
    if (!rc) {
        nearest(a, rows, m, a->assign + a->n);
        for (uint32_t c = 0; c < a->C; c++)
            a->cells[c].n_old = a->cells[c].n;
        for (uint64_t i = 0; !rc && i < m; i++) {
            cell *C = &a->cells[a->assign[a->n + i]];
            if (C->n == C->cap) {
                uint64_t cap = C->cap ? 2 * C->cap : 16;
                uint32_t *r = realloc(C->rows, cap * sizeof *r);
                if (!r) {
                    rc = lg_fail(err, LG_ENOMEM, "out of memory");
                    break;
                }
                C->rows = r;
                C->cap = cap;
            }
            C->rows[C->n++] = (uint32_t)(a->n + i);
        }
    }
    pair_job j = {a, NULL, NULL, 0, NULL, NULL};
    if (!rc) {
        /* the neighbouring cell pairs in which something is new */
        size_t cap = 0;
        for (uint32_t c = 0; !rc && c < a->C; c++)
            for (uint32_t e = c; e < a->C; e++) {
                if (!a->near[(size_t)c * a->C + e] && c != e)
                    continue;
                if (a->cells[c].n == a->cells[c].n_old && a->cells[e].n == a->cells[e].n_old)
                    continue;
                if (j.count == cap) {
                    cap = cap ? 2 * cap : 1024;
                    uint32_t *pa = realloc(j.pa, cap * sizeof *pa);
                    if (pa)
                        j.pa = pa;
                    uint32_t *pb = realloc(j.pb, cap * sizeof *pb);
                    if (pb)
                        j.pb = pb;
                    if (!pa || !pb) {
                        rc = lg_fail(err, LG_ENOMEM, "out of memory");
                        break;
                    }
                }
                j.pa[j.count] = c;
                j.pb[j.count++] = e;
            }
    }
    a->n += m;
    if (!rc) {
        j.buf = calloc((size_t)a->threads * 3, sizeof *j.buf);
        j.cap = calloc((size_t)a->threads * 3, sizeof *j.cap);
        rc = j.buf && j.cap ? lg_parallel_for(a->threads, j.count, pair_item, &j)
                            : LG_ENOMEM;
        if (rc)
            lg_fail(err, rc, "out of memory in the approximate search");
        for (int t = 0; j.buf && t < a->threads * 3; t++)
            free(j.buf[t]);
        a->pairs_done += j.count;
    }
    free(j.buf);
    free(j.cap);
    free(j.pa);
    free(j.pb);
    openblas_threads_end(blas);
    return rc;
}

/* The exact k nearest rows of row i by a scan over all rows, in double. */
static void exact_row(const lg_knn_approx *a, uint64_t i, uint32_t *ix, double *d)
{
    const float *x = a->x + i * a->d;
    uint32_t k = a->k;
    for (uint32_t q = 0; q < k; q++) {
        d[q] = INFINITY;
        ix[q] = LG_NO_ROW;
    }
    for (uint64_t r = 0; r < a->n; r++) {
        if (r == i)
            continue;
        const float *y = a->x + r * a->d;
        double s = 0;
        for (uint32_t c = 0; c < a->d; c++) {
            double v = (double)x[c] - (double)y[c];
            s += v * v;
        }
        s = sqrt(s);
        if (s > d[k - 1] || (s == d[k - 1] && r > ix[k - 1]))
            continue;
        uint32_t p = k - 1;
        while (p > 0 && (d[p - 1] > s || (d[p - 1] == s && ix[p - 1] > r))) {
            d[p] = d[p - 1];
            ix[p] = ix[p - 1];
            p--;
        }
        d[p] = s;
        ix[p] = (uint32_t)r;
    }
}

typedef struct fin {
    lg_knn_approx *a;
    lg_knn *out;
} fin;

static int finish_item(void *arg, int t, size_t item)
{
    fin *f = arg;
    lg_knn_approx *a = f->a;
    (void)t;
    struct {
        double d;
        uint32_t j;
    } tmp[LG_KNN_MAX_K + 300];
    uint64_t r0 = (uint64_t)item * 256, r1 = r0 + 256 < a->n ? r0 + 256 : a->n;
    for (uint64_t i = r0; i < r1; i++) {
        uint32_t m = 0;
        for (uint32_t q = 0; q < a->kc; q++) {
            uint32_t j = a->hi[i * a->kc + q];
            if (j == LG_NO_ROW)
                continue;
            double s = 0;
            const float *x = a->x + i * a->d, *y = a->x + (uint64_t)j * a->d;
            for (uint32_t c = 0; c < a->d; c++) {
                double v = (double)x[c] - (double)y[c];
                s += v * v;
            }
            tmp[m].d = sqrt(s);
            tmp[m].j = j;
            m++;
        }
        /* insertion sort by (distance, index): kc is small */
        for (uint32_t p = 1; p < m; p++)
            for (uint32_t q = p; q > 0 && (tmp[q - 1].d > tmp[q].d ||
                                           (tmp[q - 1].d == tmp[q].d && tmp[q - 1].j > tmp[q].j));
                 q--) {
                double dd = tmp[q].d;
                uint32_t jj = tmp[q].j;
                tmp[q] = tmp[q - 1];
                tmp[q - 1].d = dd;
                tmp[q - 1].j = jj;
            }
        if (m < a->k) {
            /* its cells held fewer than k others: this row is scanned exactly */
            exact_row(a, i, f->out->idx + i * a->k, f->out->dist + i * a->k);
            continue;
        }
        for (uint32_t q = 0; q < a->k; q++) {
            f->out->idx[i * a->k + q] = tmp[q].j;
            f->out->dist[i * a->k + q] = tmp[q].d;
        }
    }
    return LG_OK;
}

int lg_knn_approx_finish(lg_knn_approx *a, lg_knn *out, lg_error *err)
{
    memset(out, 0, sizeof *out);
    if (a->n < (uint64_t)a->k + 1)
        return lg_fail(err, LG_EINPUT, "%llu rows are too few for k = %u", U64(a->n), a->k);
    out->idx = malloc(a->n * a->k * sizeof *out->idx);
    out->dist = malloc(a->n * a->k * sizeof *out->dist);
    if (!out->idx || !out->dist) {
        lg_knn_free(out);
        return lg_fail(err, LG_ENOMEM, "out of memory");
    }
    fin f = {a, out};
    lg_parallel_for(a->threads, (size_t)((a->n + 255) / 256), finish_item, &f);
    out->n = a->n;
    out->k = a->k;
    out->panels = 1;
    for (uint64_t i = 0; i < a->n; i++)
        out->n_zero += out->dist[i * a->k] == 0;
    return LG_OK;
}

void lg_knn_approx_stats(const lg_knn_approx *a, uint32_t *cells, uint32_t *nprobe,
                         uint64_t *pairs)
{
    *cells = a->C;
    *nprobe = a->nprobe;
    *pairs = a->pairs_done;
}

/* ---- the self-check: a sample of rows against exact search ---- */

typedef struct check_job {
    const lg_knn_approx *a;
    const uint64_t *sample;
    uint64_t m;
    uint32_t *exact_idx;
    double *exact_dist;
} check_job;

static int check_item(void *arg, int t, size_t item)
{
    check_job *j = arg;
    (void)t;
    exact_row(j->a, j->sample[item], j->exact_idx + item * j->a->k,
              j->exact_dist + item * j->a->k);
    return LG_OK;
}

int lg_knn_approx_check(const lg_knn_approx *a, const lg_knn *nn, uint32_t rows,
                        lg_knn_check *out, lg_error *err)
{
    memset(out, 0, sizeof *out);
    uint64_t m = rows < a->n ? rows : a->n;
    uint64_t *sample = malloc(m * sizeof *sample);
    uint32_t *ei = malloc(m * a->k * sizeof *ei);
    double *ed = malloc(m * a->k * sizeof *ed);
    if (!sample || !ei || !ed) {
        free(sample);
        free(ei);
        free(ed);
        return lg_fail(err, LG_ENOMEM, "out of memory");
    }
    /* distinct rows from a seeded shuffle of a prefix-free sample */
    uint64_t seed = a->seed ^ 0x5eed;
    for (uint64_t q = 0; q < m; q++) {
        uint64_t r;
        int dup;
        do {
            r = rnd(&seed) % a->n;
            dup = 0;
            for (uint64_t p = 0; p < q && !dup; p++)
                dup = sample[p] == r;
        } while (dup);
        sample[q] = r;
    }
    check_job j = {a, sample, m, ei, ed};
    lg_parallel_for(a->threads, m, check_item, &j);
    double hit = 0, la = 0, le = 0;
    for (uint64_t q = 0; q < m; q++) {
        uint64_t i = sample[q];
        const uint32_t *ai = nn->idx + i * nn->k;
        for (uint32_t x = 0; x < a->k; x++)
            for (uint32_t y = 0; y < a->k; y++)
                if (ai[x] == ei[q * a->k + y]) {
                    hit++;
                    break;
                }
        const double *ad = nn->dist + i * nn->k;
        if (ad[0] > 0 && ed[q * a->k] > 0 && a->k >= 2) {
            la += log(ad[1] / ad[0]);
            le += log(ed[q * a->k + 1] / ed[q * a->k]);
        }
    }
    out->rows = m;
    out->recall = hit / ((double)m * a->k);
    /* TwoNN (ML) on the sample from the approximate and from the exact r1, r2 */
    out->twonn_approx = la > 0 ? (double)(m - 1) / la : NAN;
    out->twonn_exact = le > 0 ? (double)(m - 1) / le : NAN;
    out->twonn_rel_err = fabs(out->twonn_approx - out->twonn_exact) / out->twonn_exact;
    /* an overlap at k moves by at most the fraction of neighbours that differ */
    out->overlap_err_bound = 1 - out->recall;
    free(sample);
    free(ei);
    free(ed);
    return LG_OK;
}

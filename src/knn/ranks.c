/*
 * Exact neighbour ranks beyond the lists: for queries (i, j), the rank of j
 * among i's neighbours, 1 + the rows m != i with (d(i,m), m) < (d(i,j), j)
 * (ties by row index, as in the lists).  The information imbalance needs it
 * for the pairs whose rank a list does not show.
 *
 * The query rows form a panel held in memory; every row of the layer passes
 * by in blocks, read once per panel; a GEMM of panel and block gives the
 * squared distances in float, and only a pair whose float distance is
 * within the GEMM's rounding bound of a query's threshold is decided by the
 * exact double distance (lgk_exact_dist, the lists' own).  Memory: the
 * panel, one block and their product, sized from the budget; never N^2.
 *
 * Invariant: a count is decided by the exact distance whenever the float one
 * could be on the wrong side, so counts equal a brute-force double count.
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "knn/dist.h"
#include "knn/engine.h"
#include "knn/plan.h"
#include "util/error.h"
#include "util/parallel.h"

#define U64(x) ((unsigned long long)(x))
#define NOT_THIS_WAY (-1) /* symmetric(): take the panels instead */

typedef struct query {
    uint32_t i, j;
    size_t at; /* its place in the caller's arrays */
} query;

static int cmp_query(const void *a, const void *b)
{
    const query *x = a, *y = b;
    return x->i != y->i ? (x->i < y->i ? -1 : 1) : (x->at < y->at ? -1 : x->at > y->at);
}

typedef struct rank_ctx {
    uint32_t d;
    uint64_t p0;            /* first panel row (index into rows[]) */
    size_t np;              /* panel rows */
    const uint32_t *prow;   /* the panel's store rows */
    const size_t *qstart;   /* queries of panel row r: q[qstart[r] .. qstart[r + 1]) */
    const query *q;
    const double *t2;       /* per query: the exact squared distance d(i, j)^2 */
    const float *pa, *pc;   /* panel rows: as read, centred */
    const double *psq;      /* |centred panel row|^2 */
    const float *ba, *bc;   /* block rows: as read, centred */
    const double *bsq;
    uint64_t b0;            /* first block row (a store row) */
    size_t nb;
    const float *g;         /* np x nb dot products of centred rows */
    double gamma;
    uint64_t *count;        /* per query */
} rank_ctx;

/* One panel row against the block: its queries' counts. */
static int count_row(void *vctx, int thread, size_t r)
{
    (void)thread;
    rank_ctx *c = vctx;
    uint32_t i = c->prow[r];
    const float *gi = c->g + r * c->nb;
    for (size_t b = 0; b < c->nb; b++) {
        uint64_t m = c->b0 + b;
        if (m == i)
            continue;
        double d2 = c->psq[r] + c->bsq[b] - 2.0 * (double)gi[b];
        double tol = c->gamma * (c->psq[r] + c->bsq[b]) + 1e-300;
        double exact = -1;
        for (size_t q = c->qstart[r]; q < c->qstart[r + 1]; q++) {
            double t2 = c->t2[q];
            int closer;
            if (fabs(d2 - t2) > tol) {
                closer = d2 < t2;
            } else {
                if (exact < 0) {
                    double e = lgk_exact_dist(c->pa + r * c->d, c->ba + b * c->d, c->d);
                    exact = e * e;
                }
                closer = exact < t2 || (exact == t2 && m < c->q[q].j);
            }
            c->count[q] += (uint64_t)closer;
        }
    }
    return LG_OK;
}

static void centre(const float *x, const float *mu, float *out, double *sq, size_t n, uint32_t d)
{
    for (size_t r = 0; r < n; r++) {
        lgk_centre_row(x + r * d, mu, out + r * d, d);
        double s = 0;
        for (uint32_t j = 0; j < d; j++)
            s += (double)out[r * d + j] * out[r * d + j];
        sq[r] = s;
    }
}

/* When more than half the rows have queries, panels of query rows against
 * every row would cost more than one pass computing each pair once: the
 * counting-only pass of the exact search (rankpass.c) takes them all, if
 * their slots (n x the most queries of a row) fit half the budget.
 * NOT_THIS_WAY: not this way. */
static int symmetric(uint64_t n, uint32_t d, lg_rows_fn rows, void *ctx, const uint32_t *qi,
                     const uint32_t *qj, size_t nq, uint64_t *rank, const lg_knn_opts *o,
                     lg_error *err)
{
    uint32_t *per = calloc(n, sizeof *per);
    if (!per)
        return NOT_THIS_WAY;
    uint64_t distinct = 0;
    uint32_t most = 0;
    for (size_t q = 0; q < nq; q++) {
        distinct += per[qi[q]]++ == 0;
        most = per[qi[q]] > most ? per[qi[q]] : most;
    }
    uint64_t slots = n * most;
    if (2 * distinct <= n || n < 2 || slots * (4 + 8 + 20) > lgk_budget(o) / 2) {
        free(per);
        return NOT_THIS_WAY;
    }
    uint32_t *rq = malloc(slots * sizeof *rq);
    uint64_t *out = malloc(slots * sizeof *out);
    if (!rq || !out) {
        free(per);
        free(rq);
        free(out);
        return NOT_THIS_WAY;
    }
    for (uint64_t x = 0; x < slots; x++)
        rq[x] = LG_KNN_NONE;
    memset(per, 0, n * sizeof *per);
    for (size_t q = 0; q < nq; q++)
        rq[(uint64_t)qi[q] * most + per[qi[q]]++] = qj[q];
    lg_knn_opts co = *o;
    co.k = 1;
    co.team = NULL;
    co.exclude_nonfinite = 1; /* non-finite rows are nobody's neighbour, as here */
    co.rank_q = rq;
    co.rank_n = most;
    co.rank_stride = 0;
    co.rank_out = out;
    co.memory = lgk_budget(o) - slots * (4 + 8);
    int rc = lgk_exact_counts(n, d, rows, ctx, &co, err);
    if (rc == LG_EINPUT) /* too few finite rows for a search: count the slow way */
        rc = NOT_THIS_WAY;
    memset(per, 0, n * sizeof *per);
    for (size_t q = 0; !rc && q < nq; q++)
        rank[q] = out[(uint64_t)qi[q] * most + per[qi[q]]++];
    free(per);
    free(rq);
    free(out);
    return rc;
}

int lg_knn_ranks(uint64_t n, uint32_t d, lg_rows_fn rows, void *ctx, const uint32_t *qi,
                 const uint32_t *qj, size_t nq, uint64_t *rank, const lg_knn_opts *o,
                 lg_error *err)
{
    lg_knn_opts def = {0};
    if (!o)
        o = &def;
    for (size_t q = 0; q < nq; q++)
        if (qi[q] >= n || qj[q] >= n || qi[q] == qj[q])
            return lgu_fail(err, LG_EUSAGE, "rank query %zu: rows %u and %u of %llu", q, qi[q],
                            qj[q], U64(n));
    if (!nq)
        return LG_OK;
    int room = lgk_blas_room(lgk_threads(o), err);
    if (room)
        return room;
    int sym = symmetric(n, d, rows, ctx, qi, qj, nq, rank, o, err);
    if (sym != NOT_THIS_WAY)
        return sym;
    uint64_t budget = lgk_budget(o);
    /* a block of the rows passing by: up to 2048, at most a quarter of the budget */
    uint64_t nb64 = budget / 4 / ((uint64_t)d * 8 + 8);
    nb64 = nb64 > 2048 ? 2048 : nb64 < 16 ? 16 : nb64;
    size_t nb = n < nb64 ? (size_t)n : (size_t)nb64;
    uint64_t fixed = (uint64_t)nb * d * 8 + nb * 8 + nq * (sizeof(query) + 8 + 8 + 8) + d * 16;
    uint64_t per_panel_row = (uint64_t)d * 8 + 16 + (uint64_t)nb * 4;
    if (budget < fixed + 8 * per_panel_row)
        return lgu_fail(err, LG_ENOMEM,
                        "memory budget of %.2f MiB is too small for the ranks of %zu pairs "
                        "(%u columns): at least %.2f MiB",
                        (double)budget / 1048576, nq, d,
                        (double)(fixed + 8 * per_panel_row) / 1048576);
    uint64_t pmax = (budget - fixed) / per_panel_row;
    query *q = malloc(nq * sizeof *q);
    double *t2 = malloc(nq * sizeof *t2);
    uint64_t *count = calloc(nq, sizeof *count);
    float *ba = malloc((size_t)nb * d * sizeof *ba), *bc = malloc((size_t)nb * d * sizeof *bc);
    double *bsq = malloc(nb * sizeof *bsq);
    size_t *qstart = NULL;
    uint32_t *prow = NULL;
    float *pa = NULL, *pc = NULL, *g = NULL, *rj = malloc((size_t)d * sizeof *rj);
    double *psq = NULL, *mu2 = calloc(d, sizeof *mu2);
    float *mu = malloc((size_t)d * sizeof *mu);
    int rc = q && t2 && count && ba && bc && bsq && rj && mu && mu2
                 ? LG_OK
                 : lgu_fail(err, LG_ENOMEM, "out of memory for the ranks");
    for (size_t k = 0; !rc && k < nq; k++)
        q[k] = (query){qi[k], qj[k], k};
    if (!rc)
        qsort(q, nq, sizeof *q, cmp_query);
    /* the distinct query rows, in order: panels of at most pmax of them */
    size_t distinct = 0;
    for (size_t k = 0; !rc && k < nq; k++)
        distinct += k == 0 || q[k].i != q[k - 1].i;
    size_t pcap = distinct < pmax ? distinct : (size_t)pmax;
    if (!rc) {
        qstart = malloc((pcap + 1) * sizeof *qstart);
        prow = malloc(pcap * sizeof *prow);
        pa = malloc(pcap * d * sizeof *pa);
        pc = malloc(pcap * d * sizeof *pc);
        psq = malloc(pcap * sizeof *psq);
        g = malloc(pcap * nb * sizeof *g);
        if (!qstart || !prow || !pa || !pc || !psq || !g)
            rc = lgu_fail(err, LG_ENOMEM, "out of memory for the ranks");
    }
    double gamma = 4.0 * (d + 8) * 0x1p-24;
    int threads = lgk_threads(o);
    size_t k0 = 0;
    while (!rc && k0 < nq) {
        /* the panel: the next pcap distinct rows and their queries */
        size_t np = 0, k = k0;
        while (k < nq && (np < pcap || q[k].i == prow[np - 1])) {
            if (np == 0 || q[k].i != prow[np - 1]) {
                qstart[np] = k - k0;
                prow[np++] = q[k].i;
            }
            k++;
        }
        qstart[np] = k - k0;
        for (size_t r = 0; !rc && r < np; r++)
            rc = rows(ctx, prow[r], 1, pa + r * d, err);
        /* thresholds: exact distances to the query rows j */
        for (size_t r = 0; !rc && r < np; r++)
            for (size_t x = qstart[r]; !rc && x < qstart[r + 1]; x++) {
                rc = rows(ctx, q[k0 + x].j, 1, rj, err);
                double e = rc ? 0 : lgk_exact_dist(pa + r * d, rj, d);
                t2[k0 + x] = e * e;
            }
        if (rc)
            break;
        /* centred on the panel's mean: large common offsets cancel */
        memset(mu2, 0, d * sizeof *mu2);
        for (size_t r = 0; r < np; r++)
            for (uint32_t j = 0; j < d; j++)
                mu2[j] += pa[r * d + j];
        for (uint32_t j = 0; j < d; j++)
            mu[j] = (float)(mu2[j] / (double)np);
        centre(pa, mu, pc, psq, np, d);
        for (uint64_t b0 = 0; !rc && b0 < n; b0 += nb) {
            if (o->stop && *o->stop) {
                rc = lgu_fail(err, LG_ECANCELED, "stopped: the caller asked the search to stop");
                break;
            }
            size_t m = n - b0 < nb ? (size_t)(n - b0) : nb;
            rc = rows(ctx, b0, m, ba, err);
            if (rc)
                break;
            centre(ba, mu, bc, bsq, m, d);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)np, (int)m, (int)d, 1.0f, pc,
                        (int)d, bc, (int)d, 0.0f, g, (int)m);
            rank_ctx c = {d, k0, np, prow, qstart, q + k0, t2 + k0, pa, pc, psq, ba, bc, bsq,
                          b0, m, g, gamma, count + k0};
            int blas = lgk_blas_threads_begin(); /* our threads count; BLAS waits */
            rc = lgu_parallel_for(threads, np, count_row, &c);
            lgk_blas_threads_end(blas);
        }
        k0 = k;
    }
    for (size_t k = 0; !rc && k < nq; k++)
        rank[q[k].at] = count[k] + 1;
    free(q);
    free(t2);
    free(count);
    free(ba);
    free(bc);
    free(bsq);
    free(qstart);
    free(prow);
    free(pa);
    free(pc);
    free(psq);
    free(g);
    free(rj);
    free(mu);
    free(mu2);
    return rc;
}

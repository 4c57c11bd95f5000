/*
 * Ranks counted inside the exact search's GEMM pass.  For a query (i, j) the
 * rank of j among i's neighbours is 1 + the rows m closer to i than j (ties
 * by index).  The pass computes every pair (i, m) once anyway; comparing its
 * distance with i's and m's thresholds d(i, j)^2 costs a few operations per
 * pair, against the 2 D of the product.  The information imbalance of the
 * previous layer towards this one is counted that way (profile/imbalance.c),
 * and lg_knn_ranks uses a counting-only pass when most rows have queries.
 *
 * Invariant: a pair is counted from its float distance only when that is on
 * the same side of the threshold by more than the GEMM's rounding bound
 * gamma (|a|^2 + |b|^2) (the bound of passes.c's margins); otherwise the
 * exact double distance of the rows as read decides, as in ranks.c.  So the
 * counts equal a brute-force count in double.
 */
#include <math.h>
#include <stdlib.h>

#include "knn/dist.h"
#include "knn/engine.h"
#include "util/error.h"

static uint32_t query(const knn_ctx *c, uint64_t i, uint32_t s)
{
    uint32_t stride = c->rank_stride ? c->rank_stride : c->rank_n;
    return c->rank_q[i * stride + s];
}

/* Thresholds of the queries whose two rows lie in panels I and J. */
static void thresholds_of(knn_ctx *c, uint64_t r0, uint64_t nr, const float *xr, uint64_t o0,
                          uint64_t no, const float *xo)
{
    for (uint64_t i = r0; i < r0 + nr; i++)
        for (uint32_t s = 0; s < c->rank_n; s++) {
            uint32_t j = query(c, i, s);
            if (j == LG_KNN_NONE || j == i || j < o0 || j >= o0 + no)
                continue;
            double e = lgk_exact_dist(xr + (i - r0) * c->d, xo + (j - o0) * c->d, c->d);
            c->rank_t2[i * c->rank_n + s] = e * e;
            c->rank_tf[i * c->rank_n + s] = (float)(e * e / c->unscale2);
        }
}

static int thresholds_pair(knn_ctx *c)
{
    thresholds_of(c, c->i0, c->ni, c->xi, c->j0, c->nj, c->xj);
    if (c->i0 != c->j0)
        thresholds_of(c, c->j0, c->nj, c->xj, c->i0, c->ni, c->xi);
    return LG_OK;
}

int lgk_rank_setup(knn_ctx *c)
{
    size_t cells = (size_t)c->n * c->rank_n;
    c->rank_t2 = malloc(cells * sizeof *c->rank_t2);
    c->rank_tf = malloc(cells * sizeof *c->rank_tf);
    c->rank_cnt = calloc(cells, sizeof *c->rank_cnt);
    if (!c->rank_t2 || !c->rank_tf || !c->rank_cnt)
        return lgu_fail(c->err, LG_ENOMEM, "out of memory for %zu rank queries", cells);
    for (size_t x = 0; x < cells; x++) {
        c->rank_t2[x] = NAN; /* no query: nothing is closer than NaN */
        c->rank_tf[x] = NAN;
    }
    for (int t = 0; t < c->threads; t++) {
        c->t[t].cc = malloc(c->tile * sizeof *c->t[t].cc);
        c->t[t].ca = malloc(c->tile);
        if (!c->t[t].cc || !c->t[t].ca)
            return lgu_fail(c->err, LG_ENOMEM, "out of memory for rank counts");
    }
    return lgk_for_panel_pairs(c, thresholds_pair);
}

/* Row i (centred squared norm si, row as read xi) against row m at GEMM
 * distance d2: i's counts. */
static void count_one(knn_ctx *c, uint64_t i, const float *xi, uint64_t m, const float *xm,
                      float d2, float tol)
{
    for (uint32_t s = 0; s < c->rank_n; s++) {
        size_t x = (size_t)i * c->rank_n + s;
        float t = c->rank_tf[x];
        if (d2 < t - tol) {
            c->rank_cnt[x] += query(c, i, s) != m;
        } else if (d2 <= t + tol) { /* too close to call in float */
            uint32_t j = query(c, i, s);
            if (j == m)
                continue;
            double e = lgk_exact_dist(xi, xm, c->d);
            double t2 = c->rank_t2[x];
            c->rank_cnt[x] += e * e < t2 || (e * e == t2 && m < j);
        }
    }
}

/* One query a row (the information imbalance at k = 1): a loop without
 * branches the compiler can vectorize counts the pairs clearly closer than
 * the threshold, for the tile's rows and (in t->cc) its columns, and notes
 * where a pair is too close to call; only those rows and columns are gone
 * over again, pair by pair, with count_one's exact decision of just those
 * pairs.  The query's own row is always too close to call (its distance is
 * the threshold), so it is never counted. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
/* the loop in the widest vectors the CPU has, chosen when the library loads
 * (the build machine's CPU is not assumed) */
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void count_tile_one(knn_ctx *c, const tls *t, uint64_t ga, uint64_t na, uint64_t gb,
                           uint64_t nb, int diagonal, const float *ra, const float *rb,
                           float gamma)
{
    const float *tfa = c->rank_tf + ga, *tfb = c->rank_tf + gb, *sb = t->sb;
    uint32_t *cc = t->cc;
    unsigned char *ca = t->ca;
    for (uint64_t jj = 0; jj < nb; jj++) {
        cc[jj] = 0;
        ca[jj] = 0;
    }
    for (uint64_t ii = 0; ii < na; ii++) {
        const float *g = t->g + ii * nb;
        float si = t->sa[ii], ti = tfa[ii];
        uint32_t ci = 0;
        int amb = 0;
        for (uint64_t jj = diagonal ? ii + 1 : 0; jj < nb; jj++) {
            float d2 = si + sb[jj] - 2.0f * g[jj];
            float tol = gamma * (si + sb[jj]) + 1e-37f;
            float tj = tfb[jj];
            ci += d2 < ti - tol;
            amb |= fabsf(d2 - ti) <= tol;
            cc[jj] += d2 < tj - tol;
            ca[jj] |= fabsf(d2 - tj) <= tol;
        }
        c->rank_cnt[ga + ii] += ci;
        if (!amb)
            continue;
        for (uint64_t jj = diagonal ? ii + 1 : 0; jj < nb; jj++) {
            float d2 = si + sb[jj] - 2.0f * g[jj];
            float tol = gamma * (si + sb[jj]) + 1e-37f;
            if (fabsf(d2 - ti) <= tol)
                count_one(c, ga + ii, ra + ii * c->d, gb + jj, rb + jj * c->d, d2, tol);
        }
    }
    for (uint64_t jj = 0; jj < nb; jj++) {
        c->rank_cnt[gb + jj] += cc[jj];
        if (!ca[jj])
            continue;
        float tj = tfb[jj];
        uint64_t end = diagonal ? jj : na;
        for (uint64_t ii = 0; ii < end; ii++) {
            float d2 = t->sa[ii] + sb[jj] - 2.0f * t->g[ii * nb + jj];
            float tol = gamma * (t->sa[ii] + sb[jj]) + 1e-37f;
            if (fabsf(d2 - tj) <= tol)
                count_one(c, gb + jj, rb + jj * c->d, ga + ii, ra + ii * c->d, d2, tol);
        }
    }
}

void lgk_count_tile(knn_ctx *c, const tls *t, uint64_t ga, uint64_t na, uint64_t gb,
                    uint64_t nb, int diagonal, const float *ra, const float *rb)
{
    /* the rounding bound, a little wider for the rounding of the bound itself */
    const float gamma = (float)(4.0 * (c->d + 8) * 0x1p-24 * 1.01);
    if (c->rank_n == 1) {
        count_tile_one(c, t, ga, na, gb, nb, diagonal, ra, rb, gamma);
        return;
    }
    for (uint64_t ii = 0; ii < na; ii++) {
        uint64_t i = ga + ii;
        const float *g = t->g + ii * nb;
        float si = t->sa[ii];
        for (uint64_t jj = diagonal ? ii + 1 : 0; jj < nb; jj++) {
            float d2 = si + t->sb[jj] - 2.0f * g[jj];
            float tol = gamma * (si + t->sb[jj]) + 1e-37f;
            uint64_t j = gb + jj;
            count_one(c, i, ra + ii * c->d, j, rb + jj * c->d, d2, tol);
            count_one(c, j, rb + jj * c->d, i, ra + ii * c->d, d2, tol);
        }
    }
}

void lgk_rank_results(const knn_ctx *c, uint64_t *out)
{
    for (uint64_t i = 0; i < c->n; i++)
        for (uint32_t s = 0; s < c->rank_n; s++) {
            uint32_t j = query(c, i, s);
            size_t x = (size_t)i * c->rank_n + s;
            out[x] = j == LG_KNN_NONE || j == i || j >= c->n ? 0 : c->rank_cnt[x] + 1;
        }
}

/*
 * Exact kNN shared by a team (see layergeom/team.h).
 *
 * Each member computed its share of the tile pairs into its own candidate
 * heaps and the exact distances of those candidates.  A single process would
 * have kept, for every row, the kc smallest (GEMM value, row) pairs over all
 * tile pairs; since every pair of rows belongs to exactly one member, the kc
 * smallest of the union of the members' heaps are those same pairs.  So
 * merging by (value, row) gives member 0 exactly the heaps, exact distances
 * and worst kept values of the single-process run, and the finishing phases
 * (sort, margin check, rescan) then give the same lists bit for bit.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "knn/cand.h"
#include "knn/engine.h"
#include "layergeom/team.h"
#include "util/error.h"

typedef struct entry {
    float v;
    uint32_t j;
    double ed;
} entry;

#define MAX_KC (LG_KNN_MAX_K + LG_KNN_MAX_K / 4)

static int before(const entry *a, const entry *b)
{
    return a->v < b->v || (a->v == b->v && a->j < b->j);
}

void lg_knn_merge_rows(const void *in, void *inout, size_t n, uint32_t kc)
{
    entry tmp[MAX_KC];
    if (kc > MAX_KC)
        return; /* cannot happen: kc is bounded by LG_KNN_MAX_K */
    for (size_t r = 0; r < n; r++) {
        const entry *a = (const entry *)in + r * kc;
        entry *b = (entry *)inout + r * kc;
        uint32_t x = 0, y = 0;
        for (uint32_t q = 0; q < kc; q++)
            tmp[q] = before(&a[x], &b[y]) ? a[x++] : b[y++];
        memcpy(b, tmp, kc * sizeof *tmp);
    }
}

static int cmp_entry(const void *a, const void *b)
{
    return before(a, b) ? -1 : before(b, a);
}

static void pack(const knn_ctx *c, uint64_t r0, uint64_t m, entry *buf)
{
    for (uint64_t r = 0; r < m; r++) {
        uint64_t i = r0 + r;
        entry *e = buf + r * c->kc;
        for (uint32_t q = 0; q < c->kc; q++) {
            e[q].v = c->hd[i * c->kc + q];
            e[q].j = c->hi[i * c->kc + q];
            e[q].ed = e[q].j == LG_NO_ROW ? INFINITY : c->ed[i * c->kc + q];
        }
        qsort(e, c->kc, sizeof *e, cmp_entry);
    }
}

static void unpack(knn_ctx *c, uint64_t r0, uint64_t m, const entry *buf)
{
    for (uint64_t r = 0; r < m; r++) {
        uint64_t i = r0 + r;
        const entry *e = buf + r * c->kc;
        for (uint32_t q = 0; q < c->kc; q++) {
            c->hd[i * c->kc + q] = e[q].v;
            c->hi[i * c->kc + q] = e[q].j;
            c->ed[i * c->kc + q] = e[q].ed;
        }
        /* the root of a full single-process heap: the kc-th smallest */
        const entry *w = &e[c->kc - 1];
        c->wd[i] = w->j == LG_NO_ROW ? INFINITY : w->v;
        c->wi[i] = w->j;
    }
}

int lgk_team_merge(knn_ctx *c, const lg_team *team)
{
    /* merged in slices of rows so the message buffer stays small */
    uint64_t slice = (16u << 20) / LG_CAND_ROW_BYTES(c->kc);
    if (slice < 1)
        slice = 1;
    if (slice > c->n)
        slice = c->n;
    entry *buf = malloc(slice * c->kc * sizeof *buf);
    if (!buf)
        return lgu_fail(c->err, LG_ENOMEM, "out of memory for merging the team's candidates");
    int rc = LG_OK;
    for (uint64_t r0 = 0; !rc && r0 < c->n; r0 += slice) {
        uint64_t m = c->n - r0 < slice ? c->n - r0 : slice;
        pack(c, r0, m, buf);
        rc = team->merge(team->ctx, buf, (size_t)m, c->kc, c->err);
        if (!rc && team->rank == 0)
            unpack(c, r0, m, buf);
    }
    free(buf);
    return rc;
}

/*
 * A layer's lists from the cache or from a search: exact (shared by a team
 * when one is given) or approximate (the finite rows only, then spread back
 * over all rows: knn/finite.h), and computed exact lists cached.
 */
#include <math.h>
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

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Approximate lists of a layer, read in blocks, and the self-check. */
static int approx_lists(lg_store *s, size_t layer, const lg_profile_opts *o, uint32_t klist,
                        lg_layer_result *r, lg_knn *nn, lg_error *err)
{
    lg_layer_info L;
    lg_store_layer(s, layer, &L);
    memset(nn, 0, sizeof *nn);
    double t0 = now();
    lg_knn_opts ko = {.k = klist, .threads = o->threads, .memory = o->memory,
                      .cells = o->cells, .nprobe = o->nprobe, .seed = o->seed,
                      .scratch_dir = o->scratch_dir, .stop = o->stop};
    ko.cells = lgk_cells(&ko, L.n);
    /* the first block holds the rows k-means trains on; blocks take at most
     * an eighth of the budget */
    uint64_t budget = lgk_budget(&ko);
    uint64_t block = budget / 8 / ((uint64_t)L.d * 4);
    block = block < 64 ? 64 : block > 65536 ? 65536 : block;
    uint64_t first = lgk_train_rows(ko.cells), most = budget / 4 / ((uint64_t)L.d * 4);
    if (first > most)
        first = most; /* fewer rows a cell to train on, rather than a bigger block */
    if (first < block)
        first = block;
    /* the block buffer is ours: the search gets the rest of the budget */
    uint64_t buf_bytes = first * L.d * 4;
    ko.memory = budget > 2 * buf_bytes ? budget - buf_bytes : budget / 2;
    lg_knn_approx *a;
    int rc = lg_knn_approx_open(L.d, &ko, &a, err);
    if (rc)
        return rc;
    lg_cursor *cur;
    rc = lg_cursor_open(s, layer, 1, &cur, err);
    if (!rc && L.n * L.d * 4 > budget)
        lg_cursor_let_go(cur, 1); /* one pass; the rows are copied */
    float *buf = NULL;
    /* rows holding NaN or inf: the policy of every search (knn/finite.h);
     * the approximate search gets the finite rows only, kept[] says which */
    uint32_t *kept = malloc((L.n ? L.n : 1) * sizeof *kept);
    uint64_t n_kept = 0;
    if (!rc && !kept)
        rc = lgu_fail(err, LG_ENOMEM, "out of memory");
    for (uint64_t r0 = 0; !rc && r0 < L.n;) {
        uint64_t m = r0 ? block : first;
        if (m > L.n - r0)
            m = L.n - r0;
        float *b = realloc(buf, m * L.d * sizeof *buf);
        if (!b) {
            rc = lgu_fail(err, LG_ENOMEM, "out of memory");
            break;
        }
        buf = b;
        rc = lg_cursor_read(cur, r0, m, buf, err);
        if (!rc && o->stop && *o->stop)
            rc = lgu_fail(err, LG_ECANCELED, "stopped: the caller asked the profile to stop");
        uint64_t good = 0;
        for (uint64_t i = 0; !rc && i < m; i++) {
            const float *row = buf + i * L.d;
            uint32_t bad = lgk_bad_column(row, L.d);
            if (bad < L.d && o->nonfinite_fail)
                rc = lgk_nonfinite_error(err, r0 + i, row, bad);
            else if (bad == L.d) {
                if (good != i)
                    memmove(buf + good * L.d, row, L.d * sizeof *buf);
                kept[n_kept++] = (uint32_t)(r0 + i);
                good++;
            }
        }
        if (!rc)
            rc = lg_knn_approx_add(a, buf, good, err);
        r0 += m;
    }
    free(buf);
    lg_cursor_close(cur);
    if (!rc && n_kept < (uint64_t)klist + 1) {
        uint64_t first_bad = 0;
        while (first_bad < n_kept && kept[first_bad] == first_bad)
            first_bad++;
        rc = lgk_too_few_error(err, L.n - n_kept, L.n, first_bad, klist);
    }
    if (!rc && o->check_rows && o->recall > 0) {
        rc = lg_knn_approx_tune(a, o->recall, o->check_rows, nn, &r->check, err);
        if (!rc && r->check.note[0]) /* short of the target: the numbers say so */
            lgp_note(r, "approximate kNN: %s", r->check.note);
    }
    else if (!rc) {
        rc = lg_knn_approx_finish(a, nn, err);
        if (!rc && o->check_rows)
            rc = lg_knn_approx_check(a, nn, o->check_rows, &r->check, err);
    }
    lg_knn_approx_close(a);
    if (!rc && n_kept < L.n)
        rc = lgk_expand_lists(nn, kept, L.n, err);
    free(kept);
    if (rc)
        lg_knn_free(nn);
    if (!rc) {
        r->approx = 1;
        nn->seconds = now() - t0;
    }
    return rc;
}

/* A layer's lists, computed (exact lists shared by the team when one is
 * given).  A layer that has none (too few usable rows) gets a note. */
int lgp_compute(lg_store *s, size_t layer, const lg_profile_opts *o, uint32_t klist,
                const lg_team *team, lg_layer_result *r, lg_knn *nn, lgp_ranks *rq,
                lg_error *err)
{
    if (o->approx) {
        int rc = approx_lists(s, layer, o, klist, r, nn, err);
        if (rc == LG_EINPUT && !o->nonfinite_fail) { /* as exact search: a note */
            snprintf(r->note, sizeof r->note, "%s", err->msg);
            memset(nn, 0, sizeof *nn);
            return LG_OK;
        }
        if (rc || !r->check.exact_cheaper)
            return rc;
        /* data on which the probes would cost more than exact search */
        lg_knn_free(nn);
        r->approx = 0;
        lgp_note(r, "the layer was searched exactly instead");
    }
    lg_knn_opts ko = {.k = klist, .threads = o->threads, .memory = o->memory, .tile = o->tile,
                      .exclude_nonfinite = !o->nonfinite_fail, .team = team,
                      .stop = o->stop};
    lg_layer_info L;
    lg_store_layer(s, layer, &L);
    int counting = rq && !team && rq->prev && rq->prev->n == L.n && rq->k <= rq->prev->k;
    if (counting) {
        ko.rank_q = rq->prev->idx;
        ko.rank_n = rq->k;
        ko.rank_stride = rq->prev->k;
        ko.rank_out = rq->rank;
    }
    int rc = lg_knn_exact_layer(s, layer, &ko, nn, err);
    if (!rc && counting)
        rq->done = 1;
    if (rc == LG_EINPUT && !o->nonfinite_fail) {
        snprintf(r->note, sizeof r->note, "%s", err->msg);
        memset(nn, 0, sizeof *nn);
        return LG_OK;
    }
    return rc;
}

/* The lists of a layer: from the cache, or computed (and then cached;
 * approximate lists are not cached: they depend on more knobs). */
int lgp_lists(lg_store *s, size_t layer, const lg_profile_opts *o, uint32_t klist,
              lgp_cache *cache, lg_profile *p, lg_layer_result *r, lg_knn *nn, lg_error *err)
{
    return lgp_lists_counting(s, layer, o, klist, cache, p, r, nn, NULL, err);
}

int lgp_lists_counting(lg_store *s, size_t layer, const lg_profile_opts *o, uint32_t klist,
                       lgp_cache *cache, lg_profile *p, lg_layer_result *r, lg_knn *nn,
                       lgp_ranks *rq, lg_error *err)
{
    lg_layer_info L;
    lg_store_layer(s, layer, &L);
    uint64_t hash;
    lg_error herr;
    if (!o->approx && cache && lgp_cache_has_knn(cache, &L, klist) &&
        lgp_layer_hash(cache, s, layer, L.n, &hash, &herr) == LG_OK &&
        lgp_cache_get_knn(cache, &L, hash, klist, nn)) {
        r->cached = 1;
        p->cache_hits++;
        return LG_OK;
    }
    int grown = 0, rc = LG_OK;
    if (!o->approx && cache)
        rc = lgp_grow_lists(s, layer, o, klist, cache, r, nn, &grown, err);
    if (!rc && grown) {
        p->knn_runs++; /* cached by the update */
        return LG_OK;
    }
    if (!rc)
        rc = lgp_compute(s, layer, o, klist, NULL, r, nn, rq, err);
    if (rc)
        return rc;
    lgp_computed(cache, p, s, layer, nn);
    return LG_OK;
}

/* Counts a computed layer and caches its exact lists. */
void lgp_computed(lgp_cache *cache, lg_profile *p, lg_store *s, size_t layer, const lg_knn *nn)
{
    if (!nn->idx)
        return; /* no lists: the note says why */
    p->knn_runs++;
    if (!p->opts.approx)
        lgp_cache_lists(cache, p, s, layer, nn);
}

void lgp_cache_lists(lgp_cache *cache, lg_profile *p, lg_store *s, size_t layer, const lg_knn *nn)
{
    if (!cache)
        return;
    lg_layer_info L;
    lg_store_layer(s, layer, &L);
    uint64_t hash;
    lg_error cerr;
    int rc = lgp_layer_hash(cache, s, layer, L.n, &hash, &cerr);
    if (!rc)
        rc = lgp_cache_put_knn(cache, &L, hash, nn, &cerr);
    if (rc && !p->cache_note[0])
        snprintf(p->cache_note, sizeof p->cache_note, "%s", cerr.msg);
}

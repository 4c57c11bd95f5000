/*
 * The one place that decides where a layer's neighbour lists come from, for
 * both drivers (profile.c, follow.c): rows searched as they arrived, a
 * team's round, the cache, cached lists of the first rows grown with the
 * rows appended since, or a search.  Dependencies go one way: source.c uses
 * team.c and lists.c; team.c uses lists.c; nothing here calls back.
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

#define FEED_ROWS 4096

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int lgp_layer_lists(lgp_sources *src, lg_store *s, size_t q, size_t layer,
                    const lg_profile_opts *o, uint32_t klist, lg_profile *p, lg_layer_result *r,
                    lg_knn *nn, lg_error *err)
{
    lg_layer_info L;
    lg_store_layer(s, layer, &L);
    if (src->inc && src->inc_id == L.id && lg_knn_inc_rows(src->inc) <= L.n &&
        klist == lgp_lists_k(o, L.n)) {
        double t0 = now();
        int rc = lgp_inc_lists(&src->inc, s, layer, nn, err);
        if (rc)
            return rc;
        r->incremental = 1;
        nn->seconds = now() - t0;
        p->knn_runs++;
        lgp_cache_lists(src->cache, p, s, layer, nn);
        return LG_OK;
    }
    if (src->inc && src->inc_id == L.id) { /* searched with another k: not of use */
        lg_knn_inc_close(src->inc);
        src->inc = NULL;
    }
    if (src->team && src->team->team && src->order)
        return lgp_team_lists(src->team, s, o, klist, src->cache, src->order, src->n_order, q,
                              p, r, nn, err);
    return lgp_lists_counting(s, layer, o, klist, src->cache, p, r, nn, src->ranks, err);
}

int lgp_read_rows(lg_store *s, size_t layer, uint64_t r0, uint64_t n, float *out, lg_error *err)
{
    lg_cursor *cur;
    int rc = lg_cursor_open(s, layer, FEED_ROWS, &cur, err);
    if (!rc) {
        rc = lg_cursor_read(cur, r0, (size_t)n, out, err);
        lg_cursor_close(cur);
    }
    return rc;
}

/* Feeds rows [have, n) of a layer (pending or sealed) to the incremental search. */
int lgp_inc_feed(lg_knn_inc *inc, lg_cursor *cur, uint64_t n, uint32_t d, lg_error *err)
{
    float *buf = malloc((size_t)FEED_ROWS * d * sizeof *buf);
    if (!buf)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    int rc = LG_OK;
    for (uint64_t r = lg_knn_inc_rows(inc); !rc && r < n; r += FEED_ROWS) {
        size_t m = n - r < FEED_ROWS ? (size_t)(n - r) : FEED_ROWS;
        rc = lg_cursor_read(cur, r, m, buf, err);
        if (!rc)
            rc = lg_knn_inc_add(inc, buf, m, err);
    }
    free(buf);
    return rc;
}

/* The rows seen while the layer was written, then the rest from the store. */
int lgp_inc_lists(lg_knn_inc **inc, lg_store *s, size_t layer, lg_knn *nn, lg_error *err)
{
    lg_layer_info L;
    lg_store_layer(s, layer, &L);
    lg_cursor *cur;
    int rc = lg_cursor_open(s, layer, FEED_ROWS, &cur, err);
    if (!rc) {
        rc = lgp_inc_feed(*inc, cur, L.n, L.d, err);
        lg_cursor_close(cur);
    }
    if (!rc)
        rc = lg_knn_inc_finish(*inc, nn, err);
    lg_knn_inc_close(*inc);
    *inc = NULL;
    return rc;
}


/*
 * A layer that grew (rows appended to a profiled store): its cached lists
 * cover the first n0 rows; instead of searching all n rows again, the rows
 * added since are searched against every row and the old lists are merged
 * with what they found (lg_knn_inc_seed).  The lists equal a fresh search;
 * the work is about 2 (n - n0) / n of it.
 *
 * Which cached entry is the layer's prefix is decided by content: the CRC32C
 * of the stored elements of the first n0 rows must equal the entry's, which
 * one pass over those rows computes for every candidate n0 at once.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/crc32c.h"
#include "profile/profile_int.h"
#include "util/error.h"

#define MAX_CANDIDATES 8

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The largest candidate n0 whose content CRC matches the layer's first n0
 * rows (0: none); *crc gets it. */
static uint64_t matching_prefix(lg_store *s, size_t layer, const lg_layer_info *L,
                                const uint64_t *rows, const uint32_t *crcs, size_t n_cand,
                                uint32_t *crc, lg_error *err)
{
    /* the chunks' own checksums tell, where the chunks are plain */
    for (size_t q = 0; q < n_cand; q++) {
        uint32_t c;
        if (lg_store_prefix_crc(s, layer, rows[q], &c) == LG_OK && c == crcs[q]) {
            *crc = c;
            return rows[q]; /* the longest candidate first */
        }
    }
    size_t es = lg_dtype_size(L->dtype), block = 4096;
    unsigned char *buf = malloc(block * L->d * es);
    lg_cursor *cur = NULL;
    uint64_t found = 0;
    if (!buf || lg_cursor_open(s, layer, block, &cur, err)) {
        free(buf);
        return 0;
    }
    uint32_t run = 0;
    uint64_t at = 0;
    /* candidates are sorted most rows first: walk them from the fewest,
     * keeping the longest that matches */
    for (size_t q = n_cand; q-- > 0;) {
        while (at < rows[q]) {
            uint64_t m = rows[q] - at < block ? rows[q] - at : block;
            if (lg_cursor_read_raw(cur, at, (size_t)m, buf, err))
                goto out;
            run = lgc_crc32c(run, buf, (size_t)m * L->d * es);
            at += m;
        }
        if (run == crcs[q]) {
            *crc = run;
            found = rows[q];
        }
    }
out:
    lg_cursor_close(cur);
    free(buf);
    return found;
}

int lgp_grow_lists(lg_store *s, size_t layer, const lg_profile_opts *o, uint32_t klist,
                   lgp_cache *cache, lg_layer_result *r, lg_knn *nn, int *done, lg_error *err)
{
    *done = 0;
    lg_layer_info L;
    lg_store_layer(s, layer, &L);
    uint64_t rows[MAX_CANDIDATES];
    uint32_t crcs[MAX_CANDIDATES], crc = 0;
    size_t n_cand = lgp_cache_prefixes(cache, &L, klist, rows, crcs, MAX_CANDIDATES);
    if (!n_cand)
        return LG_OK;
    double t0 = now();
    lg_error local;
    uint64_t n0 = matching_prefix(s, layer, &L, rows, crcs, n_cand, &crc, &local);
    /* too few new rows to fill a candidate list: a fresh search is as cheap */
    if (!n0 || L.n - n0 < 2ull * klist + 16)
        return LG_OK;
    lg_layer_info P = L;
    P.n = n0;
    P.content_crc = crc;
    lg_knn old;
    uint64_t hp;
    if (lgp_layer_hash(cache, s, layer, n0, &hp, &local) ||
        !lgp_cache_get_knn(cache, &P, hp, klist, &old))
        return LG_OK;
    uint64_t budget = o->memory ? o->memory : lg_default_memory();
    float *x = L.n * L.d * 4 < budget ? malloc(L.n * L.d * sizeof *x) : NULL;
    lg_knn_inc *inc = NULL;
    lg_knn_opts ko = {.k = klist, .threads = o->threads, .memory = budget - L.n * L.d * 4,
                      .tile = o->tile, .stop = o->stop};
    int rc = !x ? LG_ENOMEM : lgp_read_rows(s, layer, 0, L.n, x, &local);
    if (!rc)
        rc = lg_knn_inc_open(L.d, &ko, &inc, &local);
    if (!rc)
        rc = lg_knn_inc_seed(inc, x, n0, &old, &local);
    if (!rc)
        rc = lg_knn_inc_add(inc, x + n0 * L.d, L.n - n0, &local);
    if (!rc)
        rc = lg_knn_inc_finish(inc, nn, &local);
    lg_knn_inc_close(inc);
    lg_knn_free(&old);
    free(x);
    if (rc == LG_ENOMEM || rc == LG_EINPUT)
        return LG_OK; /* does not fit, or rows a fresh search must exclude: search afresh */
    if (rc)
        return lgu_fail(err, rc, "%s", local.msg);
    nn->seconds = now() - t0;
    r->grown_from = n0;
    *done = 1;
    /* the longer lists replace the prefix's: a store that grows batch by
     * batch would otherwise leave one entry per update in the cache */
    lg_error cerr;
    uint64_t h;
    if (lgp_layer_hash(cache, s, layer, L.n, &h, &cerr) == LG_OK &&
        lgp_cache_put_knn(cache, &L, h, nn, &cerr) == LG_OK)
        lgp_cache_drop_knn(cache, &P);
    return LG_OK;
}

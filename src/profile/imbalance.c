/* The information imbalance between consecutive layers, both directions,
 * from the lists the profile holds anyway (the previous layer's and this
 * one's) and, for the ranks those lists do not show, a count over the rows
 * of the layer in question (estimate/imbalance.c, knn/ranks.c). */
#include <time.h>

#include "layergeom/profile.h"
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

int lgp_imbalance_prev(lgp_acc *a, lg_store *s, size_t layer, lg_layer_result *r,
                       const lg_knn *nn, lg_error *err)
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
    int rc = one_way(s, layer, &a->prev, nn, o, &r->ii_from_prev, err);
    if (!rc)
        rc = one_way(s, prev, nn, &a->prev, o, &r->ii_to_prev, err);
    if (rc == LG_EINPUT) { /* the data allow none (no rows with lists): a note */
        lgp_note(r, "information imbalance: %s", err->msg);
        return LG_OK;
    }
    r->has_ii = !rc;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    r->ii_seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    r->seconds += r->ii_seconds;
    return rc;
}

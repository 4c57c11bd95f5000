/*
 * The accumulator: what a profile keeps as layers come, whichever driver
 * brings them (lg_profile_run over a finished store, lg_profile_follow while
 * it is written).  It owns the per-layer results, the previous layer's
 * lists (the overlap with the previous layer), each layer's first k
 * neighbours (the overlap matrix, and labels that arrive after their layer),
 * and at the end the recommendation.
 *
 * Invariants: p->n_layers results are filled, in order; prev holds the lists
 * of the last layer added (none when it had none); kept[q] holds layer q's
 * first k neighbours (n x k, LG_KNN_NONE for rows left out) when the matrix
 * or late labels may need them, else NULL.
 */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "profile/profile_int.h"
#include "util/error.h"

int lgp_acc_open(lgp_acc *a, lg_profile *p, const lg_profile_opts *o, int keep_lists)
{
    memset(a, 0, sizeof *a);
    a->p = p;
    a->o = o;
    a->keep = keep_lists || o->overlap_matrix;
    p->best_label_layer = -1;
    p->rec.index = -1;
    return LG_OK;
}

lg_layer_result *lgp_acc_slot(lgp_acc *a, lg_error *err)
{
    lg_profile *p = a->p;
    if (p->n_layers == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 16;
        lg_layer_result *r = realloc(p->layers, cap * sizeof *r);
        if (r)
            p->layers = r;
        uint32_t **k = realloc(a->kept, cap * sizeof *k);
        if (k)
            a->kept = k;
        if (!r || !k) {
            lgu_fail(err, LG_ENOMEM, "out of memory");
            return NULL;
        }
        memset(p->layers + a->cap, 0, (cap - a->cap) * sizeof *r);
        memset(a->kept + a->cap, 0, (cap - a->cap) * sizeof *k);
        a->cap = cap;
    }
    lg_layer_result *r = &p->layers[p->n_layers];
    memset(r, 0, sizeof *r);
    return r;
}

int lgp_acc_add(lgp_acc *a, lg_layer_result *r, lg_knn *nn, lg_error *err)
{
    lg_profile *p = a->p;
    uint32_t k = a->o->k;
    assert(r == &p->layers[p->n_layers]); /* the slot lgp_acc_slot gave */
    size_t q = p->n_layers++; /* from here on, lg_profile_free frees its name */
    int rc = LG_OK;
    if (nn->idx && a->prev.idx) {
        rc = lg_overlap_data(nn, &a->prev, k, &r->overlap_prev, err);
        for (size_t i = 0; !rc && i < a->o->n_more_k; i++)
            rc = lg_overlap_data(nn, &a->prev, a->o->more_k[i], &r->overlap_prev_more[i], err);
        r->has_prev = !rc;
    }
    if (!rc && a->keep) {
        uint64_t n = r->n;
        uint32_t *keep = malloc((n ? n : 1) * k * sizeof *keep);
        if (!keep)
            rc = lgu_fail(err, LG_ENOMEM, "out of memory for the kept lists");
        for (uint64_t i = 0; !rc && i < n; i++)
            if (nn->idx)
                memcpy(keep + i * k, nn->idx + i * nn->k, k * sizeof *keep);
            else /* a layer without lists: every row left out */
                for (uint32_t m = 0; m < k; m++)
                    keep[i * k + m] = LG_KNN_NONE;
        a->kept[q] = keep;
    }
    lg_knn_free(&a->prev);
    a->prev = *nn;
    memset(nn, 0, sizeof *nn);
    return rc;
}

void lgp_acc_restart(lgp_acc *a)
{
    lg_profile *p = a->p;
    for (size_t q = 0; q < p->n_layers; q++) {
        lgp_layer_free(&p->layers[q]);
        free(a->kept[q]);
        a->kept[q] = NULL;
    }
    p->n_layers = 0;
    lg_knn_free(&a->prev);
}

int lgp_acc_late_labels(lgp_acc *a, const int64_t *labels, lg_error *err)
{
    lg_profile *p = a->p;
    for (size_t q = 0; labels && q < p->n_layers; q++) {
        lg_layer_result *r = &p->layers[q];
        if (r->has_labels || !a->kept[q])
            continue;
        lg_knn x = {.n = r->n, .k = a->o->k, .idx = a->kept[q]};
        int rc = lg_overlap_labels(&x, labels, a->o->k, 0, &r->overlap_labels, err);
        if (rc)
            return rc;
        r->has_labels = 1;
    }
    return LG_OK;
}

int lgp_acc_matrix(lgp_acc *a, lg_error *err)
{
    lg_profile *p = a->p;
    size_t L = p->n_layers;
    uint32_t k = a->o->k;
    free(p->matrix);
    p->matrix = malloc((L ? L : 1) * L * sizeof *p->matrix);
    if (!p->matrix)
        return lgu_fail(err, LG_ENOMEM, "out of memory for the overlap matrix");
    for (size_t x = 0; x < L; x++) {
        p->matrix[x * L + x] = 1;
        for (size_t y = x + 1; y < L; y++) {
            double v = NAN;
            lg_error none;
            if (a->kept[x] && a->kept[y] && p->layers[x].n == p->layers[y].n) {
                lg_knn A = {.n = p->layers[x].n, .k = k, .idx = a->kept[x]};
                lg_knn B = {.n = p->layers[y].n, .k = k, .idx = a->kept[y]};
                if (lg_overlap_data(&A, &B, k, &v, &none))
                    v = NAN; /* no row has lists in both */
            }
            p->matrix[x * L + y] = p->matrix[y * L + x] = v;
        }
    }
    return LG_OK;
}

void lgp_acc_close(lgp_acc *a)
{
    for (size_t q = 0; a->kept && q < a->p->n_layers; q++)
        free(a->kept[q]);
    free(a->kept);
    a->kept = NULL;
    lg_knn_free(&a->prev);
}

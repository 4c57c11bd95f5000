/*
 * A profile shared by a team (layergeom/team.h).
 *
 * Member 0 drives: walking the layers in order, when it needs lists it has
 * neither held nor cached it starts a round: the next (up to) `size` layers
 * without cached lists.  A full round gives each member one layer to search
 * alone; an incomplete one (the tail) has the whole team share each layer's
 * exact search, tile pair by tile pair (approximate search stays one layer
 * per member).  Members send their lists to member 0, which estimates,
 * caches and reports exactly as a single process would.
 *
 * Messages (same program on every member, so structs travel as bytes):
 *   plan:   plan_head, then count uint64 layer indices (member 0 -> all);
 *   result: result_head, then n*k uint32 rows and n*k double distances
 *           when has_lists (member r -> 0, in layer-per-member rounds).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile/profile_int.h"
#include "util/error.h"

typedef struct plan_head {
    int32_t stop;  /* 1: the profile is over */
    int32_t split; /* 1: every member takes part in each layer's search */
    uint64_t count;
    uint64_t rows, content; /* rank 0's store: rows, and its first layer's checksum */
} plan_head;

typedef struct result_head {
    int32_t rc, has_lists, approx, pad;
    uint64_t n, n_zero, n_rescanned, panels, n_excluded, first_excluded;
    uint32_t k, pad2;
    double seconds;
    lg_knn_check check;
    char note[256];
    char msg[LG_ERROR_MSG_MAX];
} result_head;

struct lgp_held {
    size_t q; /* position in the profile's order */
    lg_knn nn;
    int approx;
    lg_knn_check check;
    char note[256];
};

static void held_free(lgp_team *t)
{
    for (size_t i = 0; i < t->n_held; i++)
        lg_knn_free(&t->held[i].nn);
    t->n_held = 0;
}

/* ---- messages ---- */

static int send_result(const lg_team *team, int rc, const lg_error *err,
                       const lg_layer_result *r, const lg_knn *nn, lg_error *cerr)
{
    result_head h;
    memset(&h, 0, sizeof h);
    h.rc = rc;
    if (rc)
        snprintf(h.msg, sizeof h.msg, "%s", err->msg);
    h.has_lists = !rc && nn->idx != NULL;
    h.approx = r->approx;
    h.check = r->check;
    snprintf(h.note, sizeof h.note, "%s", r->note);
    h.n = nn->n;
    h.k = nn->k;
    h.n_zero = nn->n_zero;
    h.n_rescanned = nn->n_rescanned;
    h.panels = nn->panels;
    h.n_excluded = nn->n_excluded;
    h.first_excluded = nn->first_excluded;
    h.seconds = nn->seconds;
    int x = team->send(team->ctx, 0, &h, sizeof h, cerr);
    if (!x && h.has_lists)
        x = team->send(team->ctx, 0, nn->idx, nn->n * nn->k * sizeof *nn->idx, cerr);
    if (!x && h.has_lists)
        x = team->send(team->ctx, 0, nn->dist, nn->n * nn->k * sizeof *nn->dist, cerr);
    return x;
}

static int recv_result(const lg_team *team, int from, lgp_held *h, lg_error *err)
{
    result_head m;
    int rc = team->recv(team->ctx, from, &m, sizeof m, err);
    if (rc)
        return rc;
    if (m.rc)
        return lgu_fail(err, m.rc, "member %d: %s", from, m.msg);
    memset(&h->nn, 0, sizeof h->nn);
    h->approx = m.approx;
    h->check = m.check;
    memcpy(h->note, m.note, sizeof h->note);
    h->note[sizeof h->note - 1] = 0;
    if (!m.has_lists)
        return LG_OK;
    h->nn.idx = malloc(m.n * m.k * sizeof *h->nn.idx);
    h->nn.dist = malloc(m.n * m.k * sizeof *h->nn.dist);
    if (!h->nn.idx || !h->nn.dist) {
        lg_knn_free(&h->nn);
        return lgu_fail(err, LG_ENOMEM, "out of memory for member %d's lists", from);
    }
    rc = team->recv(team->ctx, from, h->nn.idx, m.n * m.k * sizeof *h->nn.idx, err);
    if (!rc)
        rc = team->recv(team->ctx, from, h->nn.dist, m.n * m.k * sizeof *h->nn.dist, err);
    if (rc) {
        lg_knn_free(&h->nn);
        return rc;
    }
    h->nn.n = m.n;
    h->nn.k = m.k;
    h->nn.n_zero = m.n_zero;
    h->nn.n_rescanned = m.n_rescanned;
    h->nn.panels = m.panels;
    h->nn.n_excluded = m.n_excluded;
    h->nn.first_excluded = m.first_excluded;
    h->nn.seconds = m.seconds;
    return LG_OK;
}

static int bcast_plan(const lg_team *team, plan_head *h, uint64_t **layers, lg_error *err)
{
    int rc = team->bcast(team->ctx, h, sizeof *h, err);
    if (rc || h->stop)
        return rc;
    if (team->rank != 0) {
        if (h->count > (uint64_t)team->size)
            return lgu_fail(err, LG_EINPUT, "a plan of %llu layers for a team of %d",
                           (unsigned long long)h->count, team->size);
        *layers = malloc((h->count ? h->count : 1) * sizeof **layers);
        if (!*layers)
            return lgu_fail(err, LG_ENOMEM, "out of memory");
    }
    return team->bcast(team->ctx, *layers, h->count * sizeof **layers, err);
}

/* What members compare to tell whether they opened the same store. */
static void store_id(lg_store *s, plan_head *h)
{
    lg_layer_info L;
    h->rows = lg_store_rows(s);
    h->content = lg_store_layer(s, 0, &L) == LG_OK ? L.content_crc : 0;
}

/* ---- one round, seen by any member ---- */

/* This member's part of a round.  Member 0 keeps what it computed in
 * held[0] (a split round: held[i] for every layer). */
static int do_round(const lg_team *team, lg_store *s, const lg_profile_opts *o,
                    uint32_t klist, const plan_head *h, const uint64_t *layers, lgp_held *held,
                    lg_error *err)
{
    int me = team->rank;
    int split = h->split;
    for (uint64_t i = 0; i < h->count; i++) {
        if (!split && i != (uint64_t)me)
            continue;
        lg_layer_result r;
        memset(&r, 0, sizeof r);
        lg_knn nn = {0};
        int rc = lgp_compute(s, (size_t)layers[i], o, klist, split ? team : NULL, &r, &nn, NULL, err);
        if (me == 0) {
            if (rc)
                return rc;
            lgp_held *x = &held[split ? i : 0];
            x->nn = nn;
            x->approx = r.approx;
            x->check = r.check;
            memcpy(x->note, r.note, sizeof x->note);
        } else if (split) {
            lg_knn_free(&nn);
            if (rc)
                return rc; /* the team cannot go on without this member */
        } else {
            lg_error cerr;
            int x = send_result(team, rc, err, &r, &nn, &cerr);
            lg_knn_free(&nn);
            if (x)
                return lgu_fail(err, x, "%s", cerr.msg);
        }
    }
    return LG_OK;
}

/* ---- member 0 ---- */

static int start_round(lgp_team *t, lg_store *s, const lg_profile_opts *o, uint32_t klist,
                       lgp_cache *cache, const size_t *order, size_t L, size_t q, lg_error *err)
{
    const lg_team *team = t->team;
    size_t P = (size_t)team->size;
    held_free(t);
    if (!t->held && !(t->held = calloc(P, sizeof *t->held)))
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    uint64_t *layers = malloc(P * sizeof *layers);
    if (!layers)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    plan_head h = {0, 0, 0, 0, 0};
    store_id(s, &h);
    for (size_t x = q; x < L && h.count < P; x++) {
        lg_layer_info info;
        lg_store_layer(s, order[x], &info);
        if (x == q || o->approx || !cache || !lgp_cache_has_knn(cache, &info, klist)) {
            t->held[h.count].q = x;
            layers[h.count++] = order[x];
        }
    }
    h.split = h.count < P && !o->approx;
    int rc = bcast_plan(team, &h, &layers, err);
    if (!rc)
        rc = do_round(team, s, o, klist, &h, layers, t->held, err);
    for (size_t i = 1; !rc && !h.split && i < h.count; i++)
        rc = recv_result(team, (int)i, &t->held[i], err);
    t->n_held = h.count; /* what arrived is freed with the rest */
    free(layers);
    return rc;
}

int lgp_team_lists(lgp_team *t, lg_store *s, const lg_profile_opts *o, uint32_t klist,
                   lgp_cache *cache, const size_t *order, size_t L, size_t q, lg_profile *p,
                   lg_layer_result *r, lg_knn *nn, lg_error *err)
{
    lg_layer_info info;
    lg_store_layer(s, order[q], &info);
    size_t i = 0;
    while (i < t->n_held && t->held[i].q != q)
        i++;
    if (i == t->n_held) {
        if (!o->approx && cache && lgp_cache_has_knn(cache, &info, klist))
            return lgp_lists(s, order[q], o, klist, cache, p, r, nn, err);
        int rc = start_round(t, s, o, klist, cache, order, L, q, err);
        if (rc)
            return rc;
        i = 0;
    }
    lgp_held *h = &t->held[i];
    *nn = h->nn;
    memset(&h->nn, 0, sizeof h->nn);
    h->q = (size_t)-1;
    r->approx = h->approx;
    r->check = h->check;
    memcpy(r->note, h->note, sizeof r->note);
    lgp_computed(cache, p, s, order[q], nn);
    return LG_OK;
}

void lgp_team_end(lgp_team *t)
{
    if (!t->team)
        return;
    plan_head h = {1, 0, 0, 0, 0};
    lg_error ignored;
    t->team->bcast(t->team->ctx, &h, sizeof h, &ignored);
    held_free(t);
    free(t->held);
    t->held = NULL;
}

/* ---- members 1.. ---- */

int lgp_team_member(const lg_team *team, lg_store *s, const lg_profile_opts *o, uint32_t klist,
                    lg_error *err)
{
    for (;;) {
        plan_head h;
        uint64_t *layers = NULL;
        int rc = bcast_plan(team, &h, &layers, err);
        plan_head mine = h;
        store_id(s, &mine);
        if (!rc && !h.stop && (mine.rows != h.rows || mine.content != h.content))
            rc = lgu_fail(err, LG_EINPUT,
                         "%s: this store has %llu rows (first layer checksum %08llx), rank 0's "
                         "%llu (%08llx): every rank must open the same store",
                         lg_store_path(s), (unsigned long long)mine.rows,
                         (unsigned long long)mine.content, (unsigned long long)h.rows,
                         (unsigned long long)h.content);
        if (!rc && !h.stop)
            for (uint64_t i = 0; !rc && i < h.count; i++)
                if (layers[i] >= lg_store_layer_count(s))
                    rc = lgu_fail(err, LG_EINPUT, "%s: member 0 asks for layer %llu of %zu: do "
                                 "all members open the same store?",
                                 lg_store_path(s), (unsigned long long)layers[i],
                                 lg_store_layer_count(s));
        if (!rc && !h.stop)
            rc = do_round(team, s, o, klist, &h, layers, NULL, err);
        free(layers);
        if (rc || h.stop)
            return rc;
    }
}

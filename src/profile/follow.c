/*
 * Live profiling: follow a store while a producer is still writing it.
 *
 * Every poll re-opens the store.  Layer by layer (a store whose layers come
 * one at a time): layers that are complete (sealed) and new are profiled in
 * order, and rows of the layer being written are fed to an incremental kNN
 * as they appear, so that when its seal arrives only the exact re-rank is
 * left.  Batch by batch (every layer grows at each commit): whenever the
 * committed N grew, every layer's lists are brought up to date from the
 * previous ones, and the running view is refreshed.  Each layer's rows and
 * lists are held in memory between updates while they fit the budget
 * (`held`): an update then reads only the new rows and searches them
 * against all (the old lists seed the search, lg_knn_inc_seed), with no
 * round trip through the cache; layers that do not fit take the cached
 * lists of their first rows instead (profile/grow.c).  When the producer
 * ends the held lists are cached and the profile is the offline one, over
 * lists that are by then all cached, so it equals `profile` of the
 * finished store number for number.
 * The run ends when no process holds the store's writer lock any more and
 * nothing new has appeared, or when *stop is set.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "profile/profile_int.h"
#include "util/error.h"

#define U64(x) ((unsigned long long)(x))
#define FEED_ROWS 4096

/* A layer held between updates (batch by batch): its rows so far and their
 * exact lists. */
typedef struct held_layer {
    uint32_t id;
    uint64_t n;   /* rows held (0: not held) */
    uint32_t d;
    float *x;     /* n x d */
    lg_knn nn;    /* lists of the n rows */
} held_layer;

typedef struct follower {
    lg_profile_opts *o;     /* a copy: labels are filled in when they arrive */
    int64_t *labels;        /* the store's labels, once there (owned) */
    lg_profile *p;
    lgp_cache *cache;
    lgp_acc acc;          /* the results, the previous lists, the kept neighbours */
    lg_knn_inc *inc;      /* the layer being written, searched as it grows */
    int inc_failed;       /* it stopped fitting the budget: compute at the seal */
    uint32_t inc_id;
    uint32_t klist;
    uint64_t rows_seen;   /* the store's N when its layers were last profiled */
    int grown;            /* the layers grew after they were profiled (batch by batch) */
    held_layer *held;     /* by layer index (batch by batch) */
    size_t n_held;
    uint64_t held_bytes;  /* rows and lists held, within the budget */
} follower;

static double now(void);

static void held_free(held_layer *h)
{
    free(h->x);
    lg_knn_free(&h->nn);
    memset(h, 0, sizeof *h);
}

static void held_free_all(follower *f)
{
    for (size_t i = 0; i < f->n_held; i++)
        held_free(&f->held[i]);
    free(f->held);
    f->held = NULL;
    f->n_held = 0;
    f->held_bytes = 0;
}

static uint64_t held_size(uint64_t n, uint32_t d, uint32_t k)
{
    return n * d * 4 + n * k * 12;
}

static int copy_lists(const lg_knn *a, lg_knn *out, lg_error *err)
{
    *out = *a;
    out->idx = malloc(a->n * a->k * sizeof *out->idx);
    out->dist = malloc(a->n * a->k * sizeof *out->dist);
    if (!out->idx || !out->dist) {
        lg_knn_free(out);
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    }
    memcpy(out->idx, a->idx, a->n * a->k * sizeof *out->idx);
    memcpy(out->dist, a->dist, a->n * a->k * sizeof *out->dist);
    return LG_OK;
}

/* The held layer q brought up to the store's N: its new rows read and
 * searched against all, the old lists seeding the search.  *done = 0 when
 * it is not held (or cannot be grown in memory): the caller takes the
 * usual way, then holds it (hold_layer). */
static int grow_held(follower *f, lg_store *s, size_t q, lg_layer_result *r, lg_knn *out,
                     int *done, lg_error *err)
{
    *done = 0;
    lg_layer_info L;
    lg_store_layer(s, q, &L);
    if (q >= f->n_held)
        return LG_OK;
    held_layer *h = &f->held[q];
    if (!h->n || h->id != L.id || h->d != L.d || h->nn.k != f->klist || L.n <= h->n ||
        L.n - h->n < 2ull * f->klist + 16) {
        if (h->n && (h->id != L.id || h->nn.k != f->klist || L.n < h->n)) {
            f->held_bytes -= held_size(h->n, h->d, h->nn.k);
            held_free(h); /* another layer, or other lists: not of use */
        }
        return LG_OK;
    }
    uint64_t more = held_size(L.n, L.d, f->klist) - held_size(h->n, h->d, f->klist);
    uint64_t budget = f->o->memory ? f->o->memory : lg_default_memory();
    if (f->held_bytes + more > budget / 2)
        return LG_OK;
    double t0 = now();
    float *x = realloc(h->x, L.n * L.d * sizeof *x);
    if (!x)
        return LG_OK;
    h->x = x;
    lg_error local;
    int rc = lgp_read_rows(s, q, h->n, L.n - h->n, x + h->n * L.d, &local);
    lg_knn_inc *inc = NULL;
    /* what is held stays below half the budget: the search has the other half */
    lg_knn_opts ko = {.k = f->klist, .threads = f->o->threads, .memory = budget / 2,
                      .tile = f->o->tile, .stop = f->o->stop};
    if (!rc)
        rc = lg_knn_inc_open(L.d, &ko, &inc, &local);
    if (!rc)
        rc = lg_knn_inc_seed(inc, x, h->n, &h->nn, &local);
    if (!rc)
        rc = lg_knn_inc_add(inc, x + h->n * L.d, L.n - h->n, &local);
    lg_knn grown = {0};
    if (!rc)
        rc = lg_knn_inc_finish(inc, &grown, &local);
    lg_knn_inc_close(inc);
    if (rc == LG_ENOMEM || rc == LG_EINPUT) { /* search it the usual way; stop holding it */
        f->held_bytes -= held_size(h->n, h->d, h->nn.k);
        held_free(h);
        return LG_OK;
    }
    if (rc)
        return lgu_fail(err, rc, "%s", local.msg);
    r->grown_from = h->n;
    f->held_bytes += more;
    lg_knn_free(&h->nn);
    h->nn = grown;
    h->n = L.n;
    h->nn.seconds = now() - t0;
    f->p->knn_runs++;
    *done = 1;
    return copy_lists(&h->nn, out, err);
}

/* Holds layer q's rows and lists (just computed the usual way) for the next
 * update, if they fit the budget beside what is held. */
static void hold_layer(follower *f, lg_store *s, size_t q, const lg_knn *nn)
{
    lg_layer_info L;
    lg_store_layer(s, q, &L);
    uint64_t budget = f->o->memory ? f->o->memory : lg_default_memory();
    uint64_t need = held_size(L.n, L.d, nn->k);
    if (!nn->idx || nn->n_excluded || f->held_bytes + need > budget / 2)
        return;
    if (q >= f->n_held) {
        held_layer *h = realloc(f->held, (q + 1) * sizeof *h);
        if (!h)
            return;
        memset(h + f->n_held, 0, (q + 1 - f->n_held) * sizeof *h);
        f->held = h;
        f->n_held = q + 1;
    }
    held_layer *h = &f->held[q];
    if (h->n) {
        f->held_bytes -= held_size(h->n, h->d, h->nn.k);
        held_free(h);
    }
    lg_error local;
    h->x = malloc(L.n * L.d * sizeof *h->x);
    int rc = h->x ? lgp_read_rows(s, q, 0, L.n, h->x, &local) : LG_ENOMEM;
    if (!rc)
        rc = copy_lists(nn, &h->nn, &local);
    if (rc) {
        held_free(h);
        return;
    }
    h->id = L.id;
    h->d = L.d;
    h->n = L.n;
    f->held_bytes += need;
}

/* At the end: the held lists go to the cache, where the final (offline)
 * profile finds them. */
static void cache_held(follower *f, const char *path)
{
    if (!f->cache || !f->n_held)
        return;
    lg_store *s;
    lg_error err;
    if (lg_store_open(path, 0, &s, &err))
        return;
    for (size_t q = 0; q < f->n_held && q < lg_store_layer_count(s); q++) {
        lg_layer_info L;
        lg_store_layer(s, q, &L);
        held_layer *h = &f->held[q];
        if (h->n == L.n && h->id == L.id)
            lgp_cache_lists(f->cache, f->p, s, q, &h->nn);
    }
    lg_store_close(s);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* A file shorter than a store's header: a producer has created it and not
 * yet written the header (for a moment; after that it is bad input). */
static int being_created(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
           (uint64_t)st.st_size < 64; /* the file header (formats/store-format.md) */
}

static void sleep_for(double s)
{
    struct timespec t = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&t, NULL);
}

static void drop_inc(follower *f)
{
    lg_knn_inc_close(f->inc);
    f->inc = NULL;
    f->inc_failed = 0;
}

/* Rows of the layer being written: extend the incremental search. */
static int follow_pending(follower *f, lg_store *s, lg_error *err)
{
    lg_layer_info P;
    if (!lg_store_pending(s, &P))
        return LG_OK;
    if (f->inc && f->inc_id != P.id)
        drop_inc(f);
    if (f->inc_failed && f->inc_id == P.id)
        return LG_OK;
    if (!f->inc) {
        lg_knn_opts ko = {.k = f->klist, .threads = f->o->threads, .memory = f->o->memory,
                          .tile = f->o->tile, .stop = f->o->stop};
        int rc = lg_knn_inc_open(P.d, &ko, &f->inc, err);
        if (rc)
            return rc;
        f->inc_id = P.id;
    }
    if (P.n <= lg_knn_inc_rows(f->inc))
        return LG_OK;
    lg_cursor *cur;
    int rc = lg_cursor_open_pending(s, FEED_ROWS, &cur, err);
    if (rc)
        return rc;
    rc = lgp_inc_feed(f->inc, cur, P.n, P.d, err);
    lg_cursor_close(cur);
    if (rc == LG_ENOMEM || rc == LG_EINPUT) {
        /* too big to hold, or rows with NaN or inf: the layer is searched
         * from the store once sealed */
        lg_knn_inc_close(f->inc);
        f->inc = NULL;
        f->inc_failed = 1;
        return LG_OK;
    }
    return rc;
}

/* Profiles sealed layer `layer`, with incremental lists when they match. */
static int follow_layer(follower *f, lg_store *s, size_t layer, lg_error *err)
{
    double t0 = now();
    lg_profile *p = f->p;
    lg_layer_result *r = lgp_acc_slot(&f->acc, err);
    if (!r)
        return LG_ENOMEM;
    if (lgp_identify(s, layer, r))
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    lg_knn nn = {0};
    lgp_sources src = {f->cache, NULL, NULL, 0, f->inc, f->inc_id, NULL};
    int rc = lgp_layer_lists(&src, s, p->n_layers, layer, f->o, f->klist, p, r, &nn, err);
    if (f->inc && !src.inc) { /* consumed (or of no use) */
        f->inc = NULL;
        f->inc_failed = 0;
    }
    if (!rc)
        rc = lgp_estimate(s, layer, f->o, f->cache, r, &nn, err);
    if (!rc)
        rc = lgp_imbalance_prev(&f->acc, s, layer, r, &nn, NULL, f->cache, err);
    r->seconds = now() - t0;
    int added = lgp_acc_add(&f->acc, r, &nn, err); /* counts r: its name is freed later */
    if (!rc)
        rc = added;
    if (!rc && f->o->progress)
        f->o->progress(f->o->progress_ctx, r, p->n_layers, 0);
    return rc;
}

static void pick_up_labels(follower *f, lg_store *s);

/* Batch by batch the labels grow with the rows: the copy is taken again. */
static void refresh_labels(follower *f, lg_store *s)
{
    if (!f->o->labels_from_store || !f->labels)
        return;
    free(f->labels);
    f->labels = NULL;
    f->o->labels = NULL;
    pick_up_labels(f, s);
}

/* Batch by batch: the store's N grew.  Every layer's result is made again
 * from lists updated with the new rows (cached lists of the first rows, then
 * merged: cheap), and the running view is called. */
static int update_cycle(follower *f, lg_store *s, lg_error *err)
{
    lg_profile *p = f->p;
    size_t count = lg_store_layer_count(s);
    if (f->o->approx) {
        /* approximate lists are not cached, so they cannot be grown: the
         * layers are searched once, at the end */
        f->rows_seen = lg_store_rows(s);
        f->grown = 1;
        return LG_OK;
    }
    f->klist = lgp_lists_k(f->o, lg_store_rows(s));
    p->k_lists = f->klist;
    drop_inc(f);
    refresh_labels(f, s);
    lgp_acc_restart(&f->acc); /* every layer comes again, with its new rows */
    for (size_t q = 0; q < count; q++) {
        double t0 = now();
        lg_layer_result *r = lgp_acc_slot(&f->acc, err);
        if (!r)
            return LG_ENOMEM;
        if (lgp_identify(s, q, r))
            return lgu_fail(err, LG_ENOMEM, "out of memory");
        lg_knn nn = {0};
        lg_profile_opts quick = *f->o;
        quick.decimation = 0; /* the running view: lists, TwoNN, overlaps */
        quick.paper = 0;
        quick.per_class = 0;
        quick.groups = NULL;
        if (quick.id_kind != LG_ID_GRIDE) {
            /* the running view shows the TwoNN; GRIDE's scales and k* are
             * the final profile's (a tenth of an update's time otherwise) */
            quick.gride_max_rank = 2;
            quick.id_kind = quick.id_kind == LG_ID_KSTAR ? LG_ID_TWONN : quick.id_kind;
        }
        int held = 0;
        int rc = grow_held(f, s, q, r, &nn, &held, err);
        if (!rc && !held) {
            rc = lgp_lists(s, q, &quick, f->klist, f->cache, p, r, &nn, err);
            if (!rc)
                hold_layer(f, s, q, &nn);
        }
        if (!rc)
            rc = lgp_estimate(s, q, &quick, f->cache, r, &nn, err);
        r->seconds = now() - t0;
        int added = lgp_acc_add(&f->acc, r, &nn, err);
        if (rc || added)
            return rc ? rc : added;
    }
    f->rows_seen = lg_store_rows(s);
    f->grown = 1;
    if (f->o->live)
        f->o->live(f->o->progress_ctx, p, f->rows_seen);
    return LG_OK;
}

/* The store's labels, copied once they are there (the store is re-opened at
 * every poll). */
static void pick_up_labels(follower *f, lg_store *s)
{
    const int64_t *lab;
    uint64_t n;
    lg_error ignored;
    if (f->o->labels || !f->o->labels_from_store || !lg_store_label_set_count(s) ||
        lg_store_labels(s, NULL, &lab, &n, &ignored) != LG_OK)
        return;
    f->labels = malloc(n * sizeof *lab);
    if (!f->labels)
        return;
    memcpy(f->labels, lab, n * sizeof *lab);
    f->o->labels = f->labels;
}

/* Labels that arrived after some layers were profiled: their overlaps now. */
static int late_labels(follower *f, lg_store *s, lg_error *err)
{
    pick_up_labels(f, s);
    return lgp_acc_late_labels(&f->acc, f->o->labels, err);
}

int lg_profile_follow(const char *path, const lg_profile_opts *o, double poll,
                      volatile int *stop, lg_profile *out, lg_error *err)
{
    memset(out, 0, sizeof *out);
    if (o->layers || o->class_fraction > 0)
        return lgu_fail(err, LG_EUSAGE,
                       "following a store profiles every layer in order: --layers and "
                       "--class-fraction do not apply");
    double t0 = now();
    lg_profile_opts own = *o;
    out->opts = *o;
    out->best_label_layer = -1;
    out->rec.index = -1;
    follower f = {&own, NULL, out, NULL, {0}, NULL, 0, 0, 0, 0, 0, NULL, 0, 0};
    lgp_acc_open(&f.acc, out, &own, 1); /* labels may come after their layers */
    if (o->cache_dir) {
        lg_error cerr;
        if (lgp_cache_open(o->cache_dir, &f.cache, &cerr))
            snprintf(out->cache_note, sizeof out->cache_note, "cache not used: %s", cerr.msg);
    }
    int rc = LG_OK, idle = 0;
    lg_store *s = NULL;
    while (!rc && !(stop && *stop)) {
        int active = lg_store_writer_active(path);
        rc = lg_store_open(path, 0, &s, err);
        if ((rc == LG_ENOTFOUND || (rc == LG_EINPUT && being_created(path))) &&
            out->n_layers == 0 && now() - t0 < 30) {
            /* the producer may not have created it, or its header, yet */
            rc = LG_OK;
            sleep_for(poll);
            continue;
        }
        if (rc)
            break;
        if (lg_store_rows(s)) {
            if (lg_store_rows(s) < (uint64_t)o->k + 1)
                rc = lgu_fail(err, LG_EINPUT, "%s: %llu rows are too few for k = %u", path,
                             U64(lg_store_rows(s)), o->k);
            f.klist = lgp_lists_k(o, lg_store_rows(s));
        } else {
            /* N is known once a layer is complete; until then, lists as long
             * as the options ask (cut to N - 1 at the seal, if N is smaller) */
            f.klist = lgp_lists_k(o, UINT32_MAX);
        }
        out->k_lists = f.klist;
        pick_up_labels(&f, s);
        size_t before = out->n_layers;
        uint64_t rows_before = f.rows_seen;
        int grew = 0;
        if (!rc && (f.grown || (out->n_layers && lg_store_rows(s) > f.rows_seen))) {
            /* batch by batch: every layer grew */
            if (lg_store_rows(s) > f.rows_seen || lg_store_layer_count(s) > out->n_layers)
                rc = update_cycle(&f, s, err);
            grew = f.rows_seen > rows_before;
        }
        while (!rc && !f.grown && out->n_layers < lg_store_layer_count(s) &&
               !(stop && *stop)) {
            rc = follow_layer(&f, s, out->n_layers, err);
            f.rows_seen = lg_store_rows(s);
        }
        if (!rc && !f.grown) {
            uint64_t had = f.inc ? lg_knn_inc_rows(f.inc) : 0;
            rc = follow_pending(&f, s, err);
            grew = f.inc && lg_knn_inc_rows(f.inc) > had;
        }
        /* the writer is asked about again after the store was read: a producer
         * that created the store just after the first look holds the lock now */
        if (!rc && active == 0)
            active = lg_store_writer_active(path);
        if (!rc && (active == 0 || (active < 0 && idle > 20)) && out->n_layers == before &&
            !grew) {
            rc = late_labels(&f, s, err);
            break; /* no writer, nothing new: the stream has ended */
        }
        idle = out->n_layers == before && !grew ? idle + 1 : 0;
        lg_store_close(s);
        s = NULL;
        if (!rc && !(stop && *stop))
            sleep_for(poll);
    }
    if (!rc && s == NULL && stop && *stop) {
        /* interrupted: labels may still be in the store as it is now */
        if (lg_store_open(path, 0, &s, err) == LG_OK)
            late_labels(&f, s, err);
    }
    lg_store_close(s);
    drop_inc(&f);
    if (!rc && !f.grown && o->overlap_matrix) /* layer by layer: from the kept lists */
        rc = lgp_acc_matrix(&f.acc, err);
    lgp_acc_close(&f.acc);
    if (!rc && !(stop && *stop) && f.grown)
        cache_held(&f, path);
    held_free_all(&f);
    if (!rc && !(stop && *stop) && f.grown) {
        /* the finished store, profiled as offline: its lists are cached */
        lg_profile_free(out);
        memset(out, 0, sizeof *out);
        lg_store *fin;
        lg_profile_opts last = own;
        last.progress = NULL;
        last.cache_dir = o->cache_dir;
        rc = lg_store_open(path, 0, &fin, err);
        if (!rc) {
            if (last.labels_from_store) {
                refresh_labels(&f, fin);
                pick_up_labels(&f, fin);
                last.labels = f.labels;
            }
            rc = lg_profile_run(fin, &last, out, err);
            lg_store_close(fin);
        }
        lgp_cache_close(f.cache);
        free(f.labels);
        if (rc)
            return rc;
        out->seconds = now() - t0;
        return LG_OK;
    }
    lgp_cache_close(f.cache);
    out->store_layers = out->n_layers;
    out->opts = *o; /* the caller's options: the copied labels are freed below */
    out->opts.labels = NULL;
    if (!rc)
        rc = lgp_finish(out, err);
    free(f.labels);
    if (rc) {
        lg_profile_free(out);
        return rc;
    }
    out->seconds = now() - t0;
    return LG_OK;
}

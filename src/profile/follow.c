/*
 * Live profiling: follow a store while a producer is still writing it.
 *
 * Every poll re-opens the store.  Layer by layer (a store whose layers come
 * one at a time): layers that are complete (sealed) and new are profiled in
 * order, and rows of the layer being written are fed to an incremental kNN
 * as they appear, so that when its seal arrives only the exact re-rank is
 * left.  Batch by batch (every layer grows at each commit): whenever the
 * committed N grew, every layer's lists are brought up to date from the
 * previous ones (the cached lists of the first rows, merged with a search of
 * the new rows: profile/grow.c), and the running view is refreshed; when the
 * producer ends, the profile is the offline one, over lists that are by then
 * all cached, so it equals `profile` of the finished store number for number.
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
} follower;

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
        int rc = lgp_lists(s, q, &quick, f->klist, f->cache, p, r, &nn, err);
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
    follower f = {&own, NULL, out, NULL, {0}, NULL, 0, 0, 0, 0, 0};
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

/*
 * A profile described by named settings (job.h): the one place that turns
 * what a user asks for into lg_profile_opts, and that decides where labels,
 * the cache and scratch files come from.  The command line and the Python
 * package both run a job, so they cannot disagree.
 */
#include "profile/job_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "layergeom/estimate.h"
#include "layergeom/import.h"
#include "layergeom/knn.h"
#include "util/error.h"

/* ---- life of a job ---- */

int lg_job_create(const char *store_path, lg_job **out, lg_error *err)
{
    *out = NULL;
    if (!store_path || !*store_path)
        return lgu_fail(err, LG_EUSAGE, "a job needs a store path");
    lg_job *j = calloc(1, sizeof *j);
    if (!j || !(j->path = strdup(store_path))) {
        free(j);
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    }
    lg_profile_opts_default(&j->o);
    *out = j;
    return LG_OK;
}

void lg_job_free(lg_job *j)
{
    if (!j)
        return;
    if (j->ran)
        lg_profile_free(&j->p);
    lg_store_close(j->store);
    free(j->path);
    free(j->labels_file);
    free(j->label_set);
    free(j->groups);
    free(j->group_keys);
    free(j->layers);
    free(j->cache);
    free(j->scratch);
    free(j->labels);
    free(j->labels_from_given);
    free(j->layer_list);
    free(j);
}

lg_profile_opts *lg_job_opts(lg_job *j)
{
    return &j->o;
}

void lg_job_set_stop(lg_job *j, const volatile int *stop)
{
    j->o.stop = stop;
}

void lg_job_on_layer(lg_job *j, lg_job_layer_fn fn, void *ctx)
{
    j->on_layer = fn;
    j->on_layer_ctx = ctx;
}

int lg_job_set_labels(lg_job *j, const int64_t *labels, uint64_t n, const char *from,
                      lg_error *err)
{
    if (!labels && n)
        return lgu_fail(err, LG_EUSAGE, "labels: NULL with a count of %llu",
                       (unsigned long long)n);
    int64_t *c = malloc((n ? n : 1) * sizeof *c);
    char *f = strdup(from ? from : "labels given by the caller");
    if (!c || !f) {
        free(c);
        free(f);
        return lgu_fail(err, LG_ENOMEM, "out of memory for %llu labels", (unsigned long long)n);
    }
    if (n)
        memcpy(c, labels, n * sizeof *c);
    free(j->labels);
    free(j->labels_from_given);
    j->labels = c;
    j->n_labels = n;
    j->have_labels = 1;
    j->labels_from_given = f;
    return LG_OK;
}

/* A layer index, or -1. */
static long index_of(const char *tok, size_t count)
{
    char *end;
    unsigned long idx = strtoul(tok, &end, 10);
    return *tok >= '0' && *tok <= '9' && !*end && idx < count ? (long)idx : -1;
}

/* "0,3,layer05,6-9,10-" -> store indices: indices, ids or names, and
 * ranges of indices (an open range runs to the last layer). */
static int pick_layers(lg_job *j, lg_error *err)
{
    lg_store *s = j->store;
    size_t count = lg_store_layer_count(s), cap = 16, m = 0;
    char *copy = strdup(j->layers);
    size_t *v = malloc(cap * sizeof *v);
    if (!copy || !v) {
        free(copy);
        free(v);
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    }
    int rc = LG_OK;
    for (char *tok = strtok(copy, ","); !rc && tok; tok = strtok(NULL, ",")) {
        long lo = index_of(tok, count), hi = lo;
        if (lo < 0)
            lo = hi = lg_store_find_layer(s, tok);
        char *dash = strchr(tok, '-');
        if (lo < 0 && dash && dash != tok) { /* a range */
            *dash = 0;
            lo = index_of(tok, count);
            hi = dash[1] ? index_of(dash + 1, count) : (long)count - 1;
            *dash = '-';
            if (lo < 0 || hi < 0 || hi < lo) {
                rc = lgu_fail(err, LG_EUSAGE,
                              "%s: layers '%s': a range runs from one layer index to a later "
                              "one (the store has layers 0..%zu)",
                              j->path, tok, count ? count - 1 : 0);
                break;
            }
        }
        if (lo < 0) {
            rc = lgu_fail(err, LG_EUSAGE, "%s: no layer '%s' (see 'layergeom info %s')", j->path,
                          tok, j->path);
            break;
        }
        for (long q = lo; q <= hi; q++) {
            if (m == cap) {
                size_t *w = realloc(v, 2 * cap * sizeof *v);
                if (!w) {
                    rc = lgu_fail(err, LG_ENOMEM, "out of memory");
                    break;
                }
                v = w;
                cap *= 2;
            }
            if (!rc)
                v[m++] = (size_t)q;
        }
    }
    free(copy);
    if (!rc && !m)
        rc = lgu_fail(err, LG_EUSAGE, "layers: the list '%s' names no layer", j->layers);
    if (rc) {
        free(v);
        return rc;
    }
    j->layer_list = v;
    j->o.layers = v;
    j->o.n_layers = m;
    return LG_OK;
}

/* The "labels" file, loaded; its length is checked when the store is known. */
static int load_labels_file(lg_job *j, lg_error *err)
{
    uint64_t n;
    int64_t *own = NULL;
    int rc = lg_labels_load(j->labels_file, &own, &n, NULL, err);
    if (rc)
        return rc;
    free(j->labels);
    j->labels = own;
    j->n_labels = n;
    j->have_labels = 1;
    snprintf(j->from, sizeof j->from, "%s", j->labels_file);
    return LG_OK;
}

/* The labels the caller chose, for a run or a follow: a file (loaded) or an
 * array given; j->from names them. */
static int caller_labels(lg_job *j, lg_error *err)
{
    if (j->labels_file && (j->no_labels || j->have_labels))
        return lgu_fail(err, LG_EUSAGE, "labels (a file) excludes no-labels and labels given "
                                        "by the caller");
    if (j->labels_file)
        return load_labels_file(j, err);
    if (j->have_labels)
        snprintf(j->from, sizeof j->from, "%s", j->labels_from_given);
    return LG_OK;
}

static int resolve_labels(lg_job *j, lg_error *err)
{
    lg_store *s = j->store;
    uint64_t rows = lg_store_rows(s), n = 0;
    if (j->labels_file && j->label_set)
        return lgu_fail(err, LG_EUSAGE, "labels (a file) excludes label-set");
    int rc = caller_labels(j, err);
    if (rc)
        return rc;
    if (j->have_labels) {
        if (j->n_labels != rows)
            return lgu_fail(err, LG_EINPUT, "%s: %llu labels for %llu rows", j->from,
                           (unsigned long long)j->n_labels, (unsigned long long)rows);
        j->o.labels = j->labels;
        return LG_OK;
    }
    if (j->no_labels || (!j->label_set && !lg_store_label_set_count(s)))
        return LG_OK;
    const char *set = j->label_set ? j->label_set : lg_store_label_set_name(s, 0);
    rc = lg_store_labels(s, set, &j->o.labels, &n, err);
    if (rc)
        return rc;
    snprintf(j->from, sizeof j->from, "label set '%s' of the store", set);
    return LG_OK;
}

/* The groups: a label set of the store by that name, else a file. */
static int resolve_groups(lg_job *j, lg_error *err)
{
    if (!j->groups)
        return LG_OK;
    lg_store *s = j->store;
    uint64_t rows = lg_store_rows(s), n = 0;
    for (size_t i = 0; i < lg_store_label_set_count(s); i++)
        if (!strcmp(lg_store_label_set_name(s, i), j->groups))
            return lg_store_labels(s, j->groups, &j->o.groups, &n, err);
    int rc = lg_labels_load(j->groups, &j->group_keys, &n, NULL, err);
    if (rc) {
        lgu_fail_prefix(err, "groups: '%s' is no label set of the store, and as a file", j->groups);
        return rc;
    }
    if (n != rows)
        return lgu_fail(err, LG_EINPUT, "%s: %llu groups for %llu rows", j->groups,
                        (unsigned long long)n, (unsigned long long)rows);
    j->o.groups = j->group_keys;
    return LG_OK;
}

/* The store's directory: a scratch file there is on the disk that holds
 * the data, not in a RAM-backed /tmp. */
static void resolve_dirs(lg_job *j)
{
    if (j->no_cache)
        j->o.cache_dir = NULL;
    else {
        snprintf(j->cache_dir, sizeof j->cache_dir, "%s%s", j->cache ? j->cache : j->path,
                 j->cache ? "" : ".lgcache");
        j->o.cache_dir = j->cache_dir;
    }
    if (j->scratch) {
        snprintf(j->scratch_dir, sizeof j->scratch_dir, "%s", j->scratch);
    } else {
        snprintf(j->scratch_dir, sizeof j->scratch_dir, "%s", j->path);
        char *slash = strrchr(j->scratch_dir, '/');
        if (!slash)
            snprintf(j->scratch_dir, sizeof j->scratch_dir, ".");
        else
            slash[slash == j->scratch_dir] = 0; /* "/x.lgs" -> "/" */
    }
    j->o.scratch_dir = j->scratch_dir;
}

typedef struct relay {
    lg_job *j;
    void (*inner)(void *ctx, const lg_layer_result *r, size_t done, size_t total);
    void *inner_ctx;
} relay;

static void on_layer(void *ctx, const lg_layer_result *r, size_t done, size_t total)
{
    relay *x = ctx;
    if (x->inner)
        x->inner(x->inner_ctx, r, done, total);
    if (x->j->on_layer)
        x->j->on_layer(x->j->on_layer_ctx, r->name, done, total, r->id);
}

int lg_job_run(lg_job *j, lg_error *err)
{
    if (j->ran || j->store || j->following)
        return lgu_fail(err, LG_EUSAGE, "the job has already run");
    int rc = lg_store_open(j->path, 0, &j->store, err);
    if (rc)
        return rc;
    if (lg_store_recovery(j->store))
        snprintf(j->warning, sizeof j->warning, "%s", lg_store_recovery(j->store));
    rc = resolve_labels(j, err);
    if (!rc)
        rc = resolve_groups(j, err);
    if (!rc && j->layers)
        rc = pick_layers(j, err);
    if (rc)
        return rc;
    resolve_dirs(j);
    lg_profile_opts o = j->o;
    relay x = {j, o.progress, o.progress_ctx};
    if (j->on_layer) {
        o.progress = on_layer;
        o.progress_ctx = &x;
    }
    rc = lg_profile_run(j->store, &o, &j->p, err);
    if (rc)
        return rc;
    j->p.opts.progress = j->o.progress; /* the relay lives on this stack */
    j->p.opts.progress_ctx = j->o.progress_ctx;
    j->ran = 1;
    if (j->p.cache_note[0] && !j->warning[0])
        snprintf(j->warning, sizeof j->warning, "%s", j->p.cache_note);
    size_t mlen;
    const char *model = lg_store_meta(j->store, "model", &mlen);
    if (model) {
        snprintf(j->model, sizeof j->model, "%.*s", (int)mlen, model);
        snprintf(j->p.model, sizeof j->p.model, "%.*s", (int)mlen, model);
    }
    j->info.store_path = j->path;
    j->info.labels_from = j->from[0] ? j->from : NULL;
    j->info.model = model ? j->model : NULL;
    return LG_OK;
}

int lg_job_follow(lg_job *j, double poll_seconds, volatile int *stop, lg_error *err)
{
    if (j->ran || j->store || j->following)
        return lgu_fail(err, LG_EUSAGE, "the job has already run");
    if (j->layers || j->label_set || j->groups)
        return lgu_fail(err, LG_EUSAGE, "following a store profiles every layer with the "
                                       "store's labels: layers, label-set and groups do not "
                                       "apply");
    int rc = caller_labels(j, err);
    if (rc)
        return rc;
    if (!j->have_labels && !j->no_labels)
        snprintf(j->from, sizeof j->from, "the store's labels");
    lg_profile_opts o = j->o;
    o.labels = j->have_labels ? j->labels : NULL;
    o.labels_from_store = !j->have_labels && !j->no_labels;
    resolve_dirs(j);
    o.cache_dir = j->o.cache_dir;
    o.scratch_dir = j->o.scratch_dir;
    relay x = {j, o.progress, o.progress_ctx};
    if (j->on_layer) {
        o.progress = on_layer;
        o.progress_ctx = &x;
    }
    j->info.store_path = j->path;
    j->info.labels_from = j->from[0] ? j->from : NULL;
    j->following = 1;
    rc = lg_profile_follow(j->path, &o, poll_seconds > 0 ? poll_seconds : 0.5, stop, &j->p,
                               err);
    j->following = 0;
    if (rc)
        return rc;
    j->p.opts.progress = j->o.progress;
    j->p.opts.progress_ctx = j->o.progress_ctx;
    j->ran = 1;
    if (j->p.cache_note[0])
        snprintf(j->warning, sizeof j->warning, "%s", j->p.cache_note);
    /* the finished store names its labels and model, as an offline profile
     * would (the reports of both are the same) */
    lg_store *fin;
    lg_error ferr;
    if (lg_store_open(j->path, LG_OPEN_NO_VERIFY, &fin, &ferr) == LG_OK) {
        size_t mlen;
        const char *m = lg_store_meta(fin, "model", &mlen);
        if (m) {
            snprintf(j->model, sizeof j->model, "%.*s", (int)mlen, m);
            j->info.model = j->model;
        }
        if (o.labels_from_store && lg_store_label_set_count(fin))
            snprintf(j->from, sizeof j->from, "label set '%s' of the store",
                     lg_store_label_set_name(fin, 0));
        /* the writer is gone but the store has no index at its end: it
         * stopped (died, or its input was cut) before finishing */
        if (lg_store_recovery(fin) && !(stop && *stop))
            snprintf(j->warning, sizeof j->warning,
                     "the writer stopped before finishing %s (no index at its end): the profile "
                     "covers its last commit, %zu layers of %llu rows ('layergeom verify "
                     "--repair' makes it whole)",
                     j->path, lg_store_layer_count(fin), (unsigned long long)lg_store_rows(fin));
        lg_store_close(fin);
    }
    return LG_OK;
}

const lg_profile *lg_job_profile(const lg_job *j)
{
    return j && (j->ran || j->following) ? &j->p : NULL;
}

const lg_report_info *lg_job_info(const lg_job *j)
{
    return j && (j->ran || j->following) ? &j->info : NULL;
}

const char *lg_job_warning(const lg_job *j)
{
    return j && j->warning[0] ? j->warning : NULL;
}

int lg_job_report(const lg_job *j, const char *kind, FILE *f, lg_error *err)
{
    if (!j || !j->ran)
        return lgu_fail(err, LG_EUSAGE, "the job has not run");
    int rc;
    if (!strcmp(kind, "table"))
        rc = lg_report_table(f, &j->p, &j->info);
    else if (!strcmp(kind, "json"))
        rc = lg_report_json(f, &j->p, &j->info);
    else if (!strcmp(kind, "csv"))
        rc = lg_report_csv(f, &j->p);
    else if (!strcmp(kind, "html"))
        rc = lg_report_html(f, &j->p, &j->info);
    else if (!strcmp(kind, "groups"))
        rc = lg_report_groups_csv(f, &j->p);
    else if (!strcmp(kind, "svg"))
        rc = lg_report_svg(f, &j->p, &j->info);
    else
        return lgu_fail(err, LG_EUSAGE, "no report kind '%s' (table, json, csv, groups, html or svg)",
                       kind);
    if (rc || ferror(f))
        return lgu_fail(err, LG_EIO, "writing the %s report failed", kind);
    return LG_OK;
}

int lg_job_report_string(const lg_job *j, const char *kind, char **out, size_t *len,
                         lg_error *err)
{
    *out = NULL;
    *len = 0;
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f)
        return lgu_fail(err, LG_ENOMEM, "out of memory for the %s report", kind);
    int rc = lg_job_report(j, kind, f, err);
    if (fclose(f) && !rc)
        rc = lgu_fail(err, LG_ENOMEM, "out of memory for the %s report", kind);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = n;
    return LG_OK;
}

void lg_free(void *p)
{
    free(p);
}

size_t lg_abi_sizeof(const char *t)
{
    static const struct {
        const char *name;
        size_t size;
    } sizes[] = {
        {"lg_error", sizeof(lg_error)},
        {"lg_knn", sizeof(lg_knn)},
        {"lg_knn_opts", sizeof(lg_knn_opts)},
        {"lg_knn_check", sizeof(lg_knn_check)},
        {"lg_twonn_opts", sizeof(lg_twonn_opts)},
        {"lg_twonn_result", sizeof(lg_twonn_result)},
        {"lg_gride_result", sizeof(lg_gride_result)},
        {"lg_kstar_opts", sizeof(lg_kstar_opts)},
        {"lg_kstar_result", sizeof(lg_kstar_result)},
        {"lg_label_overlap", sizeof(lg_label_overlap)},
        {"lg_imbalance", sizeof(lg_imbalance)},
        {"lg_layer_info", sizeof(lg_layer_info)},
        {"lg_writer_opts", sizeof(lg_writer_opts)},
    };
    for (size_t i = 0; t && i < sizeof sizes / sizeof *sizes; i++)
        if (!strcmp(sizes[i].name, t))
            return sizes[i].size;
    return 0;
}

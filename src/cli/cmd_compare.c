/* layergeom compare: any number of profiles (JSON, or stores profiled on
 * the way) side by side, layers matched by relative depth; stores of the
 * same inputs also every layer against every layer (overlap and information
 * imbalance). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char help[] =
    "usage: layergeom compare A B [C ...] [--json FILE] [--report FILE] [--plot FILE]\n"
    "\n"
    "A, B, ... are profiles written by 'layergeom profile --json', or stores (.lgs),\n"
    "which are profiled with the options below (their caches make a second run\n"
    "fast).  Prints the profiles side by side, layers matched by relative depth,\n"
    "and warns when their parameters differ.  For every pair of stores of the\n"
    "same inputs (the same N, and the same META input_id when both have one) it\n"
    "also gives the overlap and the information imbalance between every layer of\n"
    "one and every layer of the other.\n";

enum { OPT_REPORT, OPT_PLOT, OPT_JSON, OPT_K, OPT_IIK, OPT_NO_CACHE, OPT_MEMORY, OPT_THREADS,
       OPT_QUIET };
static const cli_spec opts[] = {
    {OPT_JSON, "--json", NULL, "FILE", "the comparison as JSON ('-': stdout, then no text)"},
    {OPT_REPORT, "--report", NULL, "FILE", "an HTML page: the profiles overlaid, the matrices"},
    {OPT_PLOT, "--plot", NULL, "FILE", "the overlaid figure alone, as SVG"},
    {OPT_K, "--k", "-k", "K", "stores: the overlap neighbourhood (default 30)"},
    {OPT_IIK, "--ii-k", NULL, "K", "stores: the information imbalance's k (default 1; 0: none)"},
    {OPT_NO_CACHE, "--no-cache", NULL, NULL, "stores: compute every list, keep none"},
    {OPT_MEMORY, "--memory", NULL, "SIZE", "stores: memory budget (default: a quarter of RAM)"},
    {OPT_THREADS, "--threads", NULL, "N", "stores: threads (default: all cores)"},
    {OPT_QUIET, "--quiet", "-q", NULL, "no text"},
};
#define N_OPTS (sizeof opts / sizeof *opts)
#define MAX_IN 16

typedef struct input {
    const char *path;
    lg_store *store;  /* a store, or NULL (a profile JSON) */
    lg_job *job;      /* the store's profile */
    lg_profile loaded; /* the JSON's */
    const lg_profile *p;
    char name[300];
} input;

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* A store is opened and profiled; anything else is read as a profile JSON. */
static int open_input(input *in, char *const *set, size_t n_set, lg_error *err)
{
    if (lg_store_open(in->path, 0, &in->store, err) == LG_OK) {
        int rc = lg_job_create(in->path, &in->job, err);
        for (size_t i = 0; !rc && i < n_set; i += 2)
            rc = lg_job_set(in->job, set[i], set[i + 1], err);
        if (!rc)
            rc = lg_job_run(in->job, err);
        if (rc)
            return rc;
        in->p = lg_job_profile(in->job);
        size_t len;
        const char *model = lg_store_meta(in->store, "model", &len);
        snprintf(in->name, sizeof in->name, "%.*s", model ? (int)(len > 200 ? 200 : len) : 0,
                 model ? model : "");
    } else {
        lg_error serr = *err;
        if (lg_profile_load_json(in->path, &in->loaded, err)) {
            FILE *f = fopen(in->path, "rb");
            int c = f ? fgetc(f) : EOF;
            if (f)
                fclose(f);
            if (c != '{') /* not JSON: the store's reason is the one to give */
                *err = serr;
            return err->code;
        }
        in->p = &in->loaded;
        snprintf(in->name, sizeof in->name, "%s", in->loaded.model);
    }
    if (!in->name[0])
        snprintf(in->name, sizeof in->name, "%s", base_name(in->path));
    return LG_OK;
}

static int write_file(const char *path, const lg_compare *c, int kind)
{
    FILE *f = cli_open_out(path);
    if (!f) {
        fprintf(stderr, "layergeom: %s: cannot write: %s\n", path, strerror(errno));
        return EXIT_IO;
    }
    int rc = kind == 0 ? lg_report_compare_json(f, c) : lg_report_compare_page(f, c, kind == 1);
    if (cli_close_out(f, path) || rc)
        return EXIT_IO;
    return EXIT_OK;
}

int cmd_compare(int argc, char **argv)
{
    input in[MAX_IN];
    memset(in, 0, sizeof in);
    const char *report = NULL, *plot = NULL, *json = NULL;
    char *set[16];
    size_t n_set = 0;
    int n = 0, quiet = 0, no_cache = 0;
    cli_parser args;
    cli_parser_init(&args, argc, argv, "compare", opts, N_OPTS);
    const char *v;
    int done = -1;
    for (int id; (id = cli_next_opt(&args, &v, help, &done)) != CLI_END;) {
        switch (id) {
        case OPT_REPORT: report = v; break;
        case OPT_PLOT: plot = v; break;
        case OPT_JSON: json = v; break;
        case OPT_QUIET: quiet = 1; break;
        case OPT_NO_CACHE: no_cache = 1; break;
        case OPT_K: set[n_set++] = "k"; set[n_set++] = (char *)v; break;
        case OPT_IIK: set[n_set++] = "ii-k"; set[n_set++] = (char *)v; break;
        case OPT_MEMORY: set[n_set++] = "memory"; set[n_set++] = (char *)v; break;
        case OPT_THREADS: set[n_set++] = "threads"; set[n_set++] = (char *)v; break;
        default:
            if (n == MAX_IN)
                return cli_usage("compare", "at most %d profiles", MAX_IN);
            in[n++].path = v;
        }
    }
    if (done >= 0)
        return done;
    if (n < 2)
        return cli_usage("compare", "needs at least two profiles (JSON files or stores)");
    if (no_cache) {
        set[n_set++] = "no-cache";
        set[n_set++] = "1";
    }
    lg_error err = {0};
    int code = EXIT_OK;
    for (int k = 0; !code && k < n; k++)
        if (open_input(&in[k], set, n_set, &err))
            code = cli_report(&err);
    /* every pair of stores: the matrices */
    lg_cross cross[MAX_IN * (MAX_IN - 1) / 2];
    size_t ca[MAX_IN * (MAX_IN - 1) / 2], cb[MAX_IN * (MAX_IN - 1) / 2], nc = 0;
    for (int a = 0; !code && a < n; a++)
        for (int b = a + 1; !code && b < n; b++) {
            if (!in[a].store || !in[b].store)
                continue;
            lg_profile_opts o = *lg_job_opts(in[a].job);
            o.no_cross_cache = no_cache;
            if (o.ii_k > o.k)
                o.ii_k = o.k;
            if (lg_cross_stores(in[a].store, in[b].store, &o, &cross[nc], &err)) {
                code = cli_report(&err);
                break;
            }
            ca[nc] = (size_t)a;
            cb[nc++] = (size_t)b;
        }
    /* the same model twice (two checkpoints, exact against approximate):
     * the file names tell them apart */
    int twin[MAX_IN] = {0};
    for (int k = 0; k < n; k++)
        for (int m = 0; m < n; m++)
            twin[k] |= m != k && !strcmp(in[k].name, in[m].name);
    for (int k = 0; k < n; k++)
        if (twin[k] && strcmp(in[k].name, base_name(in[k].path))) {
            size_t l = strlen(in[k].name);
            snprintf(in[k].name + l, sizeof in[k].name - l, " (%s)", base_name(in[k].path));
        }
    const lg_profile *ps[MAX_IN];
    const char *names[MAX_IN], *sources[MAX_IN];
    for (int k = 0; k < n; k++) {
        ps[k] = in[k].p;
        names[k] = in[k].name;
        sources[k] = in[k].path;
    }
    lg_compare c = {(size_t)n, ps, names, sources, cross, ca, cb, nc};
    if (!code && !quiet && !(json && !strcmp(json, "-")))
        lg_report_compare_text(stdout, &c);
    if (!code && json)
        code = write_file(json, &c, 0);
    if (!code && report)
        code = write_file(report, &c, 1);
    if (!code && plot)
        code = write_file(plot, &c, 2);
    for (size_t x = 0; x < nc; x++)
        lg_cross_free(&cross[x]);
    for (int k = 0; k < n; k++) {
        lg_job_free(in[k].job);
        lg_store_close(in[k].store);
        if (!in[k].store)
            lg_profile_free(&in[k].loaded);
    }
    return code;
}

/* layergeom profile: the ID and overlap profile of every layer of a store. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const char help[] =
    "usage: layergeom profile STORE [options]\n"
    "\n"
    "For every layer: exact k-nearest neighbours, the intrinsic dimension (TwoNN,\n"
    "GRIDE at ranks 2..64), the neighbourhood overlap with the previous layer and\n"
    "with the labels; then the recommended layer (the ID minimum after the first\n"
    "ID peak).  Prints a table; --json / --csv write the numbers.\n"
    "\n";

enum {
    OPT_FOLLOW, OPT_POLL, OPT_REPORT, OPT_PLOT, OPT_JSON, OPT_CSV, OPT_GROUPS_OUT, OPT_QUIET, OPT_VERBOSE, OPT_WIDE
};
static const cli_spec opts[] = {
    {OPT_FOLLOW, "--follow", NULL, NULL,
     "live, while a producer (layergeom ingest) still writes\nthe store: layer by layer, each "
     "layer's row as soon as\nit is complete; batch by batch, every layer's lists\nkept up to "
     "date as rows arrive, a running line on\nstderr, and the final profile when the writer is "
     "done\n(equal to an offline profile); Ctrl-C keeps what is done"},
    {OPT_POLL, "--poll", NULL, "SECONDS", "how often --follow looks for new rows (default 0.5)"},
    {OPT_REPORT, "--report", NULL, "FILE", "write a self-contained HTML report with the figures"},
    {OPT_PLOT, "--plot", NULL, "FILE", "write the main figure (ID and overlaps) as SVG"},
    {OPT_JSON, "--json", NULL, "FILE", "write the profile as JSON ('-': stdout, then no table)"},
    {OPT_CSV, "--csv", NULL, "FILE", "write one CSV row per layer ('-': stdout)"},
    {OPT_GROUPS_OUT, "--groups-out", NULL, "FILE",
     "with --per-class / --groups: one CSV row per layer\nand group ('-': stdout)"},
    {OPT_QUIET, "--quiet", "-q", NULL, "no table, no progress"},
    {OPT_VERBOSE, "--verbose", "-v", NULL,
     "a line per layer on stderr (kNN time, cache, rows/s);\nthe table with every column"},
    {OPT_WIDE, "--wide", NULL, NULL,
     "the table with every column: ML (the same estimate as\nG@2), GRIDE at every scale, "
     "seconds (by default it fits\n120 columns)"},
};
#define N_OPTS (sizeof opts / sizeof *opts)

/* The job's settings (job.h) as options: "--k K", "--no-cache", ... */
#define JOB_BASE 1000
static cli_spec job_specs[64];
static char job_names[64][40];
static size_t n_job_specs;

static void load_job_specs(void)
{
    n_job_specs = 0;
    for (size_t q = 0; q < lg_job_setting_count() && q < 64; q++) {
        const char *name, *arg, *what;
        lg_job_setting(q, &name, &arg, &what);
        snprintf(job_names[q], sizeof job_names[q], "--%s", name);
        /* -k: what people type, as in other tools */
        job_specs[n_job_specs++] =
            (cli_spec){JOB_BASE + (int)q, job_names[q], strcmp(name, "k") ? NULL : "-k", arg, what};
    }
}

typedef struct prof_args {
    const char *store, *json, *csv, *report, *plot, *groups_out;
    int quiet, follow, verbose, wide;
    double poll;
    /* the profile's own settings, as the library's job spells them */
    size_t n_set;
    const char *key[64], *value[64];
} prof_args;

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

static int parse(int argc, char **argv, prof_args *a)
{
    load_job_specs();
    cli_parser p;
    cli_parser_init(&p, argc, argv, "profile", opts, N_OPTS);
    p.extra = job_specs;
    p.n_extra = n_job_specs;
    const char *v;
    for (int id; (id = cli_next(&p, &v)) != CLI_END;) {
        if (id >= JOB_BASE) {
            if (a->n_set == sizeof a->key / sizeof *a->key)
                return cli_usage("profile", "too many options");
            a->key[a->n_set] = job_specs[id - JOB_BASE].name + 2;
            a->value[a->n_set++] = v ? v : "1";
            continue;
        }
        switch (id) {
        case CLI_HELP:
            cli_print_help(help, job_specs, n_job_specs, opts, N_OPTS);
            return -1;
        case CLI_BAD: return EXIT_USAGE;
        case OPT_POLL:
            if (parse_double(v, 0.01, 3600, &a->poll))
                return cli_usage("profile", "--poll takes seconds, 0.01..3600");
            break;
        case OPT_REPORT: a->report = v; break;
        case OPT_PLOT: a->plot = v; break;
        case OPT_JSON: a->json = v; break;
        case OPT_CSV: a->csv = v; break;
        case OPT_GROUPS_OUT: a->groups_out = v; break;
        case OPT_FOLLOW: a->follow = 1; break;
        case OPT_QUIET: a->quiet = 1; break;
        case OPT_VERBOSE: a->verbose = 1; break;
        case OPT_WIDE: a->wide = 1; break;
        default:
            if (a->store)
                return cli_usage("profile", "one store at a time");
            a->store = v;
        }
    }
    if (!a->store)
        return cli_usage("profile", "missing STORE");
    return 0;
}

/* The job of the store with every setting given; usage errors reported. */
static int make_job(prof_args *a, lg_job **out)
{
    lg_error err = {0};
    if (lg_job_create(a->store, out, &err))
        return cli_report(&err);
    for (size_t q = 0; q < a->n_set; q++)
        if (lg_job_set(*out, a->key[q], a->value[q], &err)) {
            lg_job_free(*out);
            *out = NULL;
            return cli_usage("profile", "--%s", err.msg);
        }
    return EXIT_OK;
}

/* Follow mode prints the table as layers complete. */
/* Where the profile came from, for the table, with its width. */
static lg_report_info table_info(const lg_job *j, int wide)
{
    lg_report_info i = {0};
    if (lg_job_info(j))
        i = *lg_job_info(j);
    i.wide = wide;
    return i;
}

typedef struct live {
    lg_job *j;
    int wide;
    int printed_head;
    int grown; /* the store is written batch by batch: running view on stderr */
} live;

/* Batch by batch: a running line each time every layer caught up. */
static void live_view(void *ctx, const lg_profile *p, uint64_t rows)
{
    live *l = ctx;
    l->grown = 1;
    fprintf(stderr, "live: %llu rows, TwoNN (accumulated online) by layer:",
            (unsigned long long)rows);
    for (size_t q = 0; q < p->n_layers; q++)
        fprintf(stderr, " %.2f", p->layers[q].twonn.id);
    fputc('\n', stderr);
}

static void live_row(void *ctx, const lg_layer_result *r, size_t done, size_t total)
{
    live *l = ctx;
    (void)r;
    (void)total;
    if (!l->printed_head) {
        lg_report_info i = table_info(l->j, l->wide);
        lg_report_table_head(stdout, lg_job_profile(l->j), &i);
        l->printed_head = 1;
    }
    lg_report_info i = table_info(l->j, l->wide);
    lg_report_table_row(stdout, lg_job_profile(l->j), &i, done - 1);
}

static volatile int interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* The progress line on a terminal: layer i of L, rows per second, time left;
 * with -v a line per layer with the kNN's details instead. */
static void progress(void *ctx, const lg_layer_result *r, size_t done, size_t total)
{
    const int *verbose = ctx;
    static double spent;
    spent += r->seconds;
    double left = done ? spent / (double)done * (double)(total - done) : 0;
    if (verbose && *verbose) {
        fprintf(stderr,
                "layer %zu/%zu %s: N %llu, D %u, ID %.2f; kNN %.2f s (%s, %llu rows "
                "rescanned, %llu panels), %.0f rows/s\n",
                done, total, r->name, (unsigned long long)r->n, r->d, r->id, r->knn_seconds,
                r->cached ? "from the cache" : "computed", (unsigned long long)r->rescanned,
                (unsigned long long)r->panels, r->seconds > 0 ? (double)r->n / r->seconds : 0);
        return;
    }
    fprintf(stderr, "\r[layer %zu of %zu] %s: %.0f rows/s, about %.0f s left     ", done, total,
            r->name, r->seconds > 0 ? (double)r->n / r->seconds : 0, left);
    if (done == total)
        fputs("\r\033[K", stderr);
    fflush(stderr);
}

static int write_reports(prof_args *a, const lg_job *j)
{
    const char *paths[5] = {a->json, a->csv, a->report, a->plot, a->groups_out};
    const char *kinds[5] = {"json", "csv", "html", "svg", "groups"};
    for (int q = 0; q < 5; q++) {
        if (!paths[q])
            continue;
        FILE *f = cli_open_out(paths[q]);
        if (!f) {
            fprintf(stderr, "layergeom: %s: cannot write: %s\n", paths[q], strerror(errno));
            return EXIT_IO;
        }
        lg_error err;
        int rc = lg_job_report(j, kinds[q], f, &err);
        if (cli_close_out(f, paths[q]) || rc)
            return EXIT_IO;
    }
    return EXIT_OK;
}

static int follow(prof_args *a, lg_job *j)
{
    lg_error err = {0};
    lg_profile_opts *o = lg_job_opts(j);
    int json_stdout = a->json && !strcmp(a->json, "-"),
        csv_stdout = (a->csv && !strcmp(a->csv, "-")) ||
                     (a->groups_out && !strcmp(a->groups_out, "-"));
    live l = {j, a->wide || a->verbose, 0, 0};
    if (!a->quiet && !json_stdout && !csv_stdout) {
        o->progress = live_row;
        o->live = live_view;
        o->progress_ctx = &l;
    }
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, &old);
    int rc = lg_job_follow(j, a->poll, &interrupted, &err);
    sigaction(SIGINT, &old, NULL);
    if (rc)
        return cli_report(&err);
    const lg_profile *p = lg_job_profile(j);
    if (lg_job_warning(j))
        fprintf(stderr, "layergeom: warning: %s\n", lg_job_warning(j));
    if (interrupted)
        fprintf(stderr, "layergeom: interrupted: the %zu layers done so far are reported\n",
                p->n_layers);
    if (!a->quiet && !json_stdout && !csv_stdout) {
        /* the rows again only if none was printed live */
        lg_report_info i = table_info(j, a->wide || a->verbose);
        if (!l.printed_head || l.grown) /* the layers grew since their rows */
            lg_report_table(stdout, p, &i);
        else
            lg_report_table_tail(stdout, p);
    }
    return write_reports(a, j);
}

static void print_kernels(void)
{
    fprintf(stderr, "layergeom: BLAS kernels: %s%s\n", lg_blas_kernel(),
            !getenv("OPENBLAS_CORETYPE")             ? ""
            : getenv("LAYERGEOM_BLAS") && !strcmp(getenv("LAYERGEOM_BLAS"), "keep")
                ? " (chosen for this CPU, which OpenBLAS does not know; "
                  "LAYERGEOM_BLAS=keep keeps OpenBLAS's own choice)"
                : " (OPENBLAS_CORETYPE)");
}

static int profile_with(int argc, char **argv, const lg_team *team)
{
    prof_args a = {0};
    int rc = parse(argc, argv, &a);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    int member = team->rank != 0;
    if (a.follow && team->size > 1)
        return member ? EXIT_USAGE
                      : cli_usage("profile", "--follow runs in one process, not under mpirun");
    lg_job *j;
    if ((rc = make_job(&a, &j)) != EXIT_OK)
        return rc;
    if (a.follow) {
        rc = follow(&a, j);
        lg_job_free(j);
        return rc;
    }
    if (member) /* rank 0 alone reports and writes */
        a.quiet = 1, a.json = a.csv = a.report = a.plot = a.groups_out = NULL;
    lg_profile_opts *o = lg_job_opts(j);
    o->team = team;
    int json_stdout = a.json && !strcmp(a.json, "-"),
        csv_stdout = (a.csv && !strcmp(a.csv, "-")) ||
                     (a.groups_out && !strcmp(a.groups_out, "-"));
    if (!a.quiet && (a.verbose || isatty(STDERR_FILENO))) {
        o->progress = progress;
        o->progress_ctx = &a.verbose;
    }
    if (a.verbose && !a.quiet)
        print_kernels();
    lg_error err = {0};
    int code = EXIT_OK;
    if (!member && lg_store_writer_active(a.store) == 1)
        fprintf(stderr, "layergeom: warning: %s is being written by another process: this "
                        "profiles what was committed so far (--follow follows it)\n",
                a.store);
    if (lg_job_run(j, &err)) {
        if (member) {
            char m[sizeof err.msg];
            snprintf(m, sizeof m, "rank %d: %s", team->rank, err.msg);
            memcpy(err.msg, m, sizeof m);
        }
        /* a recovered store is worth saying even when the profile fails */
        if (lg_job_warning(j) && !member)
            fprintf(stderr, "layergeom: warning: %s\n", lg_job_warning(j));
        code = cli_report(&err);
    } else if (!member) {
        if (lg_job_warning(j))
            fprintf(stderr, "layergeom: warning: %s\n", lg_job_warning(j));
        lg_report_info i = table_info(j, a.wide || a.verbose);
        if (!a.quiet && !json_stdout && !csv_stdout)
            lg_report_table(stdout, lg_job_profile(j), &i);
        code = write_reports(&a, j);
    }
    lg_job_free(j);
    return code;
}

/* Under mpirun/srun: the ranks share the search; rank 0 reports.  An error
 * on any rank ends them all, since the others would wait for it forever. */
int cmd_profile(int argc, char **argv)
{
    lg_team team;
    lg_error err = {0};
    if (lg_team_mpi_init(&argc, &argv, &team, &err))
        return cli_report(&err);
    int code = profile_with(argc, argv, &team);
    if (code && team.size > 1)
        lg_team_mpi_abort(&team, code);
    lg_team_mpi_end(&team);
    return code;
}

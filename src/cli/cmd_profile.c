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
    "\n"
    "  --k K                overlap neighbourhood size (default 30)\n"
    "  --knn exact|approx   neighbour search (default exact); approx: cells of a\n"
    "                       k-means partition searched exactly, for large N, with\n"
    "                       a self-check against exact search on sampled rows\n"
    "  --cells C, --nprobe P  approx: cells (default 2 sqrt N) and neighbouring\n"
    "                       cells each row searches (default 12 or more)\n"
    "  --id twonn|ml|gride  the estimator of the profile (default twonn: least\n"
    "                       squares with --discard); gride uses --gride-rank\n"
    "  --gride-rank R       the GRIDE scale (n2) used by --id gride (default 16)\n"
    "  --gride-max R        GRIDE scales up to this rank (default 64)\n"
    "  --discard F          TwoNN: fraction of the largest mu left out (default 0.1)\n"
    "  --preset paper       the paper's protocol: TwoNN with discard 0.02 on 4\n"
    "                       random subsets of N/32 rows, mean +- sem\n"
    "  --decimation         TwoNN on subsets of N/2, N/4, ... rows (error bars)\n"
    "  --duplicates drop|keep  rows with an identical twin: left out of the ID\n"
    "                       (drop, default) or kept as DADApy does (keep: an\n"
    "                       estimate that becomes infinite is an error)\n"
    "  --nonfinite exclude|fail  rows holding NaN or inf: left out of their layer\n"
    "                       and counted (exclude, default), or an error (fail)\n"
    "  --labels FILE        labels (.npy or text); default: the store's label set\n"
    "  --label-set NAME     use this label set of the store\n"
    "  --no-labels          ignore the store's labels\n"
    "  --class-fraction F   label overlap with k_i = F x size of i's class\n"
    "  --overlap-matrix     also the overlap between every pair of layers\n"
    "  --layers LIST        only these layers: indices or names, comma-separated\n"
    "  --follow             live, while a producer (layergeom ingest) still writes\n"
    "                       the store: layer by layer, each layer's row as soon as\n"
    "                       it is complete; batch by batch, every layer's lists\n"
    "                       kept up to date as rows arrive, a running line on\n"
    "                       stderr, and the final profile when the writer is done\n"
    "                       (equal to an offline profile); Ctrl-C keeps what is done\n"
    "  --poll SECONDS       how often --follow looks for new rows (default 0.5)\n"
    "  --tolerance F        relative size of an ID change that counts (default 0.05)\n"
    "  --seed N             subsets for --preset paper / --decimation (default 1)\n"
    "  --cache DIR          keep neighbour lists and subset results here, and reuse\n"
    "                       them (default: STORE.lgcache beside the store)\n"
    "  --no-cache           compute everything, keep nothing\n"
    "  --threads N          default: all cores\n"
    "  --memory SIZE        memory budget, e.g. 512M, 8G (default: a quarter of RAM)\n"
    "  --scratch DIR        approx: where rows that do not fit the budget are kept\n"
    "                       (an unlinked file; default: the store's directory)\n"
    "  --report FILE        write a self-contained HTML report with the figures\n"
    "  --plot FILE          write the main figure (ID and overlaps) as SVG\n"
    "  --json FILE          write the profile as JSON ('-': stdout, then no table)\n"
    "  --csv FILE           write one CSV row per layer ('-': stdout)\n"
    "  -q, --quiet          no table, no progress\n"
    "  -v, --verbose        a line per layer on stderr (kNN time, cache, rows/s)\n";

typedef struct prof_args {
    const char *store, *json, *csv, *report, *plot;
    int quiet, follow, verbose;
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

/* "--k 30" (or "--k=30") and "--no-cache": a setting of the job (job.h
 * lists them); 1 when argv[*i] was one, -1 on a usage error. */
static int job_option(int argc, char **argv, int *i, prof_args *a)
{
    const char *arg = argv[*i];
    if (strncmp(arg, "--", 2))
        return 0;
    for (size_t q = 0; q < lg_job_setting_count(); q++) {
        const char *name, *val, *what;
        lg_job_setting(q, &name, &val, &what);
        const char *v = "1";
        if (!val) {
            if (strcmp(arg + 2, name))
                continue;
        } else {
            char opt[64];
            snprintf(opt, sizeof opt, "--%s", name);
            int r = cli_opt(argc, argv, i, opt, &v);
            if (r == 0)
                continue;
            if (r < 0)
                return -1;
        }
        if (a->n_set == sizeof a->key / sizeof *a->key) {
            cli_usage("profile", "too many options");
            return -1;
        }
        a->key[a->n_set] = name;
        a->value[a->n_set++] = v;
        return 1;
    }
    return 0;
}

static int parse(int argc, char **argv, prof_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *v;
        int r;
        if (cli_is_help(argv[i])) {
            fputs(help, stdout);
            return -1;
        }
#define OPT(name) ((r = cli_opt(argc, argv, &i, name, &v)) != 0)
#define NEED()                                                                                     \
    if (r < 0)                                                                                     \
    return EXIT_USAGE
        if ((r = job_option(argc, argv, &i, a)) != 0) {
            if (r < 0)
                return EXIT_USAGE;
        } else if (OPT("--poll")) {
            NEED();
            if (parse_double(v, 0.01, 3600, &a->poll))
                return cli_usage("profile", "--poll takes seconds, 0.01..3600");
        } else if (OPT("--report")) {
            NEED();
            a->report = v;
        } else if (OPT("--plot")) {
            NEED();
            a->plot = v;
        } else if (OPT("--json")) {
            NEED();
            a->json = v;
        } else if (OPT("--csv")) {
            NEED();
            a->csv = v;
        } else if (cli_flag(argv, i, "--follow")) {
            a->follow = 1;
        } else if (cli_flag(argv, i, "-q") || cli_flag(argv, i, "--quiet")) {
            a->quiet = 1;
        } else if (cli_flag(argv, i, "-v") || cli_flag(argv, i, "--verbose")) {
            a->verbose = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage("profile", "unknown option '%s'", argv[i]);
        } else if (a->store) {
            return cli_usage("profile", "one store at a time");
        } else {
            a->store = argv[i];
        }
#undef OPT
#undef NEED
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
typedef struct live {
    lg_job *j;
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
        lg_report_table_head(stdout, lg_job_profile(l->j), lg_job_info(l->j));
        l->printed_head = 1;
    }
    lg_report_table_row(stdout, lg_job_profile(l->j), done - 1);
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
    const char *paths[4] = {a->json, a->csv, a->report, a->plot};
    const char *kinds[4] = {"json", "csv", "html", "svg"};
    for (int q = 0; q < 4; q++) {
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
    int json_stdout = a->json && !strcmp(a->json, "-"), csv_stdout = a->csv && !strcmp(a->csv, "-");
    live l = {j, 0, 0};
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
        if (!l.printed_head || l.grown) /* the layers grew since their rows */
            lg_report_table(stdout, p, lg_job_info(j));
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
        a.quiet = 1, a.json = a.csv = a.report = a.plot = NULL;
    lg_profile_opts *o = lg_job_opts(j);
    o->team = team;
    int json_stdout = a.json && !strcmp(a.json, "-"), csv_stdout = a.csv && !strcmp(a.csv, "-");
    if (!a.quiet && (a.verbose || isatty(STDERR_FILENO))) {
        o->progress = progress;
        o->progress_ctx = &a.verbose;
    }
    if (a.verbose && !a.quiet)
        print_kernels();
    lg_error err = {0};
    int code = EXIT_OK;
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
        if (!a.quiet && !json_stdout && !csv_stdout)
            lg_report_table(stdout, lg_job_profile(j), lg_job_info(j));
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

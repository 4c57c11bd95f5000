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
    const char *store, *labels, *label_set, *json, *csv, *layers, *cache, *report, *plot;
    const char *scratch;
    int no_labels, quiet, no_cache, follow, verbose;
    double poll;
    lg_profile_opts o;
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
    lg_profile_opts_default(&a->o);
    for (int i = 1; i < argc; i++) {
        const char *v;
        int r;
        unsigned long long u;
        if (cli_is_help(argv[i])) {
            fputs(help, stdout);
            return -1;
        }
#define OPT(name) ((r = cli_opt(argc, argv, &i, name, &v)) != 0)
#define NEED()                                                                                     \
    if (r < 0)                                                                                     \
    return EXIT_USAGE
        if (OPT("--k")) {
            NEED();
            if (cli_parse_uint(v, LG_KNN_MAX_K, &u) || u == 0)
                return cli_usage("profile", "--k takes 1..%d", LG_KNN_MAX_K);
            a->o.k = (uint32_t)u;
        } else if (OPT("--knn")) {
            NEED();
            if (!strcmp(v, "exact"))
                a->o.approx = 0;
            else if (!strcmp(v, "approx"))
                a->o.approx = 1;
            else
                return cli_usage("profile", "--knn takes exact or approx");
        } else if (OPT("--cells")) {
            NEED();
            if (cli_parse_uint(v, 1u << 20, &u) || u == 0)
                return cli_usage("profile", "--cells takes a positive integer");
            a->o.cells = (uint32_t)u;
        } else if (OPT("--nprobe")) {
            NEED();
            if (cli_parse_uint(v, 1u << 20, &u) || u == 0)
                return cli_usage("profile", "--nprobe takes a positive integer");
            a->o.nprobe = (uint32_t)u;
        } else if (OPT("--id")) {
            NEED();
            if (!strcmp(v, "twonn"))
                a->o.id_kind = LG_ID_TWONN;
            else if (!strcmp(v, "ml"))
                a->o.id_kind = LG_ID_ML;
            else if (!strcmp(v, "gride"))
                a->o.id_kind = LG_ID_GRIDE;
            else
                return cli_usage("profile", "--id takes twonn, ml or gride");
        } else if (OPT("--gride-rank")) {
            NEED();
            if (cli_parse_uint(v, 1024, &u) || u < 2 || (u & (u - 1)))
                return cli_usage("profile", "--gride-rank takes a power of two, 2..1024");
            a->o.gride_rank = (uint32_t)u;
        } else if (OPT("--gride-max")) {
            NEED();
            if (cli_parse_uint(v, 1024, &u) || u < 2)
                return cli_usage("profile", "--gride-max takes 2..1024");
            a->o.gride_max_rank = (uint32_t)u;
        } else if (OPT("--discard")) {
            NEED();
            if (parse_double(v, 0, 0.99, &a->o.twonn.discard))
                return cli_usage("profile", "--discard takes a fraction in [0, 0.99]");
        } else if (OPT("--preset")) {
            NEED();
            if (strcmp(v, "paper"))
                return cli_usage("profile", "--preset takes paper");
            a->o.paper = 1;
        } else if (OPT("--duplicates")) {
            NEED();
            if (!strcmp(v, "drop"))
                a->o.twonn.duplicates = LG_DUP_DROP;
            else if (!strcmp(v, "keep"))
                a->o.twonn.duplicates = LG_DUP_KEEP;
            else
                return cli_usage("profile", "--duplicates takes drop or keep");
        } else if (OPT("--nonfinite")) {
            NEED();
            if (!strcmp(v, "exclude"))
                a->o.nonfinite_fail = 0;
            else if (!strcmp(v, "fail"))
                a->o.nonfinite_fail = 1;
            else
                return cli_usage("profile", "--nonfinite takes exclude or fail");
        } else if (OPT("--labels")) {
            NEED();
            a->labels = v;
        } else if (OPT("--label-set")) {
            NEED();
            a->label_set = v;
        } else if (OPT("--class-fraction")) {
            NEED();
            if (parse_double(v, 1e-9, 1, &a->o.class_fraction))
                return cli_usage("profile", "--class-fraction takes a fraction in (0, 1]");
        } else if (OPT("--layers")) {
            NEED();
            a->layers = v;
        } else if (OPT("--tolerance")) {
            NEED();
            if (parse_double(v, 0, 1, &a->o.tol))
                return cli_usage("profile", "--tolerance takes a fraction in [0, 1]");
        } else if (OPT("--seed")) {
            NEED();
            if (cli_parse_uint(v, UINT64_MAX, &u))
                return cli_usage("profile", "--seed takes a non-negative integer");
            a->o.seed = u;
        } else if (OPT("--threads")) {
            NEED();
            if (cli_parse_uint(v, 1024, &u) || u == 0)
                return cli_usage("profile", "--threads takes 1..1024");
            a->o.threads = (int)u;
        } else if (OPT("--memory")) {
            NEED();
            if (cli_parse_size(v, &u) || u < (1u << 20))
                return cli_usage("profile", "--memory takes a size such as 512M or 8G (>= 1M)");
            a->o.memory = u;
        } else if (OPT("--poll")) {
            NEED();
            if (parse_double(v, 0.01, 3600, &a->poll))
                return cli_usage("profile", "--poll takes seconds, 0.01..3600");
        } else if (OPT("--scratch")) {
            NEED();
            a->scratch = v;
        } else if (OPT("--cache")) {
            NEED();
            a->cache = v;
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
        } else if (cli_flag(argv, i, "--decimation")) {
            a->o.decimation = 1;
        } else if (cli_flag(argv, i, "--overlap-matrix")) {
            a->o.overlap_matrix = 1;
        } else if (cli_flag(argv, i, "--follow")) {
            a->follow = 1;
        } else if (cli_flag(argv, i, "--no-cache")) {
            a->no_cache = 1;
        } else if (cli_flag(argv, i, "--no-labels")) {
            a->no_labels = 1;
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
    if (a->labels && (a->label_set || a->no_labels))
        return cli_usage("profile", "--labels excludes --label-set and --no-labels");
    return 0;
}

/* "0,3,layer05" -> store indices. */
static int pick_layers(lg_store *s, const char *list, size_t **out, size_t *n, lg_error *err)
{
    char *copy = strdup(list);
    size_t cap = 16, m = 0;
    size_t *v = malloc(cap * sizeof *v);
    if (!copy || !v) {
        free(copy);
        free(v);
        err->code = LG_ENOMEM;
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return LG_ENOMEM;
    }
    for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ",")) {
        char *end;
        unsigned long idx = strtoul(tok, &end, 10);
        long li = (*tok && !*end && idx < lg_store_layer_count(s)) ? (long)idx
                                                                  : lg_store_find_layer(s, tok);
        if (li < 0) {
            err->code = LG_EUSAGE;
            snprintf(err->msg, sizeof err->msg, "%s: no layer '%s' (see 'layergeom info %s')",
                     lg_store_path(s), tok, lg_store_path(s));
            free(copy);
            free(v);
            return LG_EUSAGE;
        }
        if (m == cap) {
            size_t *w = realloc(v, 2 * cap * sizeof *v);
            if (!w)
                break;
            v = w;
            cap *= 2;
        }
        v[m++] = (size_t)li;
    }
    free(copy);
    *out = v;
    *n = m;
    return LG_OK;
}

/* Follow mode prints the table as layers complete. */
typedef struct live {
    lg_profile *p;
    const lg_report_info *info;
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
        lg_report_table_head(stdout, l->p, l->info);
        l->printed_head = 1;
    }
    lg_report_table_row(stdout, l->p, done - 1);
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

static int write_reports(prof_args *a, const lg_profile *p, const lg_report_info *info)
{
    const char *paths[4] = {a->json, a->csv, a->report, a->plot};
    for (int q = 0; q < 4; q++) {
        if (!paths[q])
            continue;
        FILE *f = cli_open_out(paths[q]);
        if (!f) {
            fprintf(stderr, "layergeom: %s: cannot write: %s\n", paths[q], strerror(errno));
            return EXIT_IO;
        }
        if (q == 0)
            lg_report_json(f, p, info);
        else if (q == 1)
            lg_report_csv(f, p);
        else if (q == 2)
            lg_report_html(f, p, info);
        else
            lg_report_svg(f, p, info);
        if (cli_close_out(f, paths[q]))
            return EXIT_IO;
    }
    return EXIT_OK;
}

/* The store's directory: a scratch file there is on the disk that holds
 * the data, not in a RAM-backed /tmp. */
static const char *default_scratch(prof_args *a, char *buf, size_t cap)
{
    if (a->scratch)
        return a->scratch;
    snprintf(buf, cap, "%s", a->store);
    char *slash = strrchr(buf, '/');
    if (!slash)
        return ".";
    slash[slash == buf] = 0; /* "/x.lgs" -> "/" */
    return buf;
}

static const char *default_cache(prof_args *a, char *buf, size_t cap)
{
    if (a->no_cache)
        return NULL;
    snprintf(buf, cap, "%s%s", a->cache ? a->cache : a->store, a->cache ? "" : ".lgcache");
    return buf;
}

static int follow(prof_args *a)
{
    if (a->layers || a->label_set)
        return cli_usage("profile", "--follow profiles every layer with the store's labels: "
                                    "--layers and --label-set do not apply");
    lg_error err = {0};
    int64_t *own = NULL;
    if (a->labels) {
        uint64_t n;
        if (lg_labels_load(a->labels, &own, &n, NULL, &err))
            return cli_report(&err);
        a->o.labels = own;
    } else if (!a->no_labels) {
        a->o.labels_from_store = 1;
    }
    char cache_dir[4200];
    a->o.cache_dir = default_cache(a, cache_dir, sizeof cache_dir);
    lg_profile p;
    memset(&p, 0, sizeof p);
    lg_report_info info = {a->store, a->labels ? a->labels : (a->no_labels ? NULL : "the store's labels"), NULL};
    int json_stdout = a->json && !strcmp(a->json, "-"), csv_stdout = a->csv && !strcmp(a->csv, "-");
    live l = {&p, &info, 0, 0};
    if (!a->quiet && !json_stdout && !csv_stdout) {
        a->o.progress = live_row;
        a->o.live = live_view;
        a->o.progress_ctx = &l;
    }
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, &old);
    int rc = lg_profile_follow(a->store, &a->o, a->poll > 0 ? a->poll : 0.5, &interrupted, &p,
                               &err);
    sigaction(SIGINT, &old, NULL);
    int code = rc ? cli_report(&err) : EXIT_OK;
    /* the finished store names its labels and model, as an offline profile
     * would (the report of both is the same) */
    char from[4300] = "", model[4200] = "";
    lg_store *fin = NULL;
    lg_error ferr;
    if (!rc && lg_store_open(a->store, LG_OPEN_NO_VERIFY, &fin, &ferr) == LG_OK) {
        size_t mlen;
        const char *m = lg_store_meta(fin, "model", &mlen);
        if (m)
            snprintf(model, sizeof model, "%.*s", (int)mlen, m);
        if (!a->labels && !a->no_labels && lg_store_label_set_count(fin))
            snprintf(from, sizeof from, "label set '%s' of the store",
                     lg_store_label_set_name(fin, 0));
        lg_store_close(fin);
        if (from[0])
            info.labels_from = from;
        if (model[0])
            info.model = model;
    }
    if (!rc) {
        if (p.cache_note[0])
            fprintf(stderr, "layergeom: warning: %s\n", p.cache_note);
        if (interrupted)
            fprintf(stderr, "layergeom: interrupted: the %zu layers done so far are reported\n",
                    p.n_layers);
        if (!a->quiet && !json_stdout && !csv_stdout) {
            /* the rows again only if none was printed live */
            if (!l.printed_head || l.grown) /* the layers grew since their rows */
                lg_report_table(stdout, &p, &info);
            else
                lg_report_table_tail(stdout, &p);
        }
        code = write_reports(a, &p, &info);
        lg_profile_free(&p);
    }
    free(own);
    return code;
}

static int profile_with(int argc, char **argv, const lg_team *team)
{
    prof_args a = {0};
    int rc = parse(argc, argv, &a);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    lg_error err = {0};
    int member = team->rank != 0;
    if (a.follow && team->size > 1)
        return member ? EXIT_USAGE
                      : cli_usage("profile", "--follow runs in one process, not under mpirun");
    if (a.follow)
        return follow(&a);
    if (member) /* rank 0 alone reports and writes */
        a.quiet = 1, a.json = a.csv = a.report = a.plot = NULL;
    a.o.team = team;
    lg_store *s;
    if (lg_store_open(a.store, 0, &s, &err))
        return cli_report(&err);
    if (lg_store_recovery(s))
        fprintf(stderr, "layergeom: warning: %s\n", lg_store_recovery(s));
    int64_t *own = NULL;
    size_t *layers = NULL;
    char from[600] = "";
    int code = EXIT_OK;
    if (a.labels) {
        uint64_t n;
        if (lg_labels_load(a.labels, &own, &n, NULL, &err)) {
            code = cli_report(&err);
        } else if (n != lg_store_rows(s)) {
            fprintf(stderr, "layergeom: %s: %llu labels for %llu rows\n", a.labels,
                    (unsigned long long)n, (unsigned long long)lg_store_rows(s));
            code = EXIT_INPUT;
        }
        a.o.labels = own;
        snprintf(from, sizeof from, "%s", a.labels);
    } else if (!a.no_labels && (a.label_set || lg_store_label_set_count(s))) {
        uint64_t n;
        const char *set = a.label_set ? a.label_set : lg_store_label_set_name(s, 0);
        if (lg_store_labels(s, set, &a.o.labels, &n, &err))
            code = cli_report(&err);
        snprintf(from, sizeof from, "label set '%s' of the store", set);
    }
    if (!code && a.layers && pick_layers(s, a.layers, &layers, &a.o.n_layers, &err))
        code = cli_report(&err);
    a.o.layers = layers;
    int json_stdout = a.json && !strcmp(a.json, "-"), csv_stdout = a.csv && !strcmp(a.csv, "-");
    if (!a.quiet && (a.verbose || isatty(STDERR_FILENO))) {
        a.o.progress = progress;
        a.o.progress_ctx = &a.verbose;
    }
    if (a.verbose && !a.quiet)
        fprintf(stderr, "layergeom: BLAS kernels: %s%s\n", lg_blas_kernel(),
                !getenv("OPENBLAS_CORETYPE")             ? ""
                : getenv("LAYERGEOM_BLAS") && !strcmp(getenv("LAYERGEOM_BLAS"), "keep")
                    ? " (chosen for this CPU, which OpenBLAS does not know; "
                      "LAYERGEOM_BLAS=keep keeps OpenBLAS's own choice)"
                    : " (OPENBLAS_CORETYPE)");
    char cache_dir[4200], scratch_dir[4200];
    a.o.cache_dir = default_cache(&a, cache_dir, sizeof cache_dir);
    a.o.scratch_dir = default_scratch(&a, scratch_dir, sizeof scratch_dir);
    lg_profile p;
    if (!code) {
        rc = lg_profile_run(s, &a.o, &p, &err);
        if (rc && member) {
            char m[sizeof err.msg];
            snprintf(m, sizeof m, "rank %d: %s", team->rank, err.msg);
            memcpy(err.msg, m, sizeof m);
        }
        if (rc)
            code = cli_report(&err);
        else if (member)
            lg_profile_free(&p); /* empty: rank 0 holds the profile */
    }
    if (!code && p.cache_note[0])
        fprintf(stderr, "layergeom: warning: %s\n", p.cache_note);
    if (!code && !member) {
        size_t mlen;
        const char *model = lg_store_meta(s, "model", &mlen);
        lg_report_info info = {a.store, from[0] ? from : NULL, model};
        if (!a.quiet && !json_stdout && !csv_stdout)
            lg_report_table(stdout, &p, &info);
        code = write_reports(&a, &p, &info);
        lg_profile_free(&p);
    }
    free(own);
    free(layers);
    lg_store_close(s);
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

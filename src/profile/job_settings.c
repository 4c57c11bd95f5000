/*
 * A job's settings by name, as the command line spells its options: one
 * table lists each with its argument and help (the CLI's --help and option
 * parsing, and Python's keywords, come from it); values are checked when set.
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


/* ---- the settings ---- */

typedef enum setting_kind {
    K_UINT, K_FRAC, K_SIZE, K_WORD, K_TEXT, K_FLAG, K_KLIST
} setting_kind;

typedef struct setting {
    const char *name, *arg, *help;
    setting_kind kind;
    double lo, hi; /* numbers: the range accepted */
    const char *words; /* K_WORD: the words accepted, '|'-separated */
} setting;

static const setting settings[] = {
    {"k", "K[,K2...]",
     "overlap neighbourhood size (default 30); a list (10,30)\nreports the overlaps at each k, "
     "the first in the table",
     K_KLIST, 1, LG_KNN_MAX_K, NULL},
    {"knn", "exact|approx",
     "neighbour search (default exact); approx: cells of a\nk-means partition searched exactly, "
     "for large N, with\na self-check against exact search on sampled rows",
     K_WORD, 0, 0, "exact|approx"},
    {"cells", "C", "approx: cells of the partition (default 2 sqrt N)", K_UINT, 1, 1 << 20, NULL},
    {"nprobe", "P", "approx: neighbouring cells each row searches (default\n12 or more)", K_UINT,
     1, 1 << 20, NULL},
    {"check-rows", "R", "approx: rows the self-check compares with exact\nsearch (default 500)",
     K_UINT, 0, 1 << 20, NULL},
    {"recall", "R",
     "approx: the recall@k the self-check must reach; the\nprobes are doubled until it does "
     "(default 0.97;\n0: the probes as planned, not tuned)",
     K_FRAC, 0, 1, NULL},
    {"id", "twonn|ml|gride|kstar",
     "the estimator of the profile (default twonn: least\nsquares with --discard); gride uses "
     "--gride-rank;\nkstar: k*-GRIDE, a scale per row chosen by the data",
     K_WORD, 0, 0, "twonn|ml|gride|kstar"},
    {"kstar-maxk", "K", "k*-GRIDE: scales up to this rank (default 100, as\nDADApy's maxk)",
     K_UINT, 6, 1024, NULL},
    {"kstar-rounds", "N", "k*-GRIDE: rounds of scale choice and GRIDE (default 5)", K_UINT, 1,
     LG_KSTAR_MAX_ROUNDS, NULL},
    {"gride-rank", "R", "the GRIDE scale (n2) used by --id gride (default 16)", K_UINT, 2, 1024,
     NULL},
    {"gride-max", "R", "GRIDE scales up to this rank (default 64)", K_UINT, 2, 1024, NULL},
    {"discard", "F", "TwoNN: fraction of the largest mu left out (default 0.1)", K_FRAC, 0, 0.99,
     NULL},
    {"preset", "paper",
     "the paper's protocol: TwoNN with discard 0.02 on 4\nrandom subsets of N/32 rows, mean +- sem",
     K_WORD, 0, 0, "paper"},
    {"decimation", NULL, "TwoNN on subsets of N/2, N/4, ... rows (error bars)", K_FLAG, 0, 0,
     NULL},
    {"min-subset", "ROWS",
     "decimation stops above, and --preset paper warns\nbelow, subsets of ROWS rows (default 200)",
     K_UINT, 20, 1e9, NULL},
    {"duplicates", "drop|keep",
     "rows with a twin (see --dup-tol): each group merged\ninto one row for the ID (drop, "
     "default) or kept as\nDADApy does (keep: an estimate that becomes infinite\nis a note)",
     K_WORD, 0, 0, "drop|keep"},
    {"dup-tol", "auto|T|Tx",
     "twins: rows closer than the float resolution at\ntheir norm (auto, default), than T, or "
     "than T x the\nlayer's median r1 (e.g. 1e-3x); 0: exact only",
     K_TEXT, 0, 0, NULL},
    {"nonfinite", "exclude|fail",
     "rows holding NaN or inf: left out of their layer\nand counted (exclude, default), or an "
     "error (fail)",
     K_WORD, 0, 0, "exclude|fail"},
    {"labels", "FILE", "labels (.npy or text); default: the store's label set", K_TEXT, 0, 0,
     NULL},
    {"ii-k", "K",
     "the information imbalance with the previous layer,\nboth directions, at k = K (default 1; "
     "0: none)", K_UINT, 0, LG_KNN_MAX_K, NULL},
    {"ii-subsets", "M",
     "also DADApy's protocol for it: N / M random disjoint\nsubsets (MetricComparisons' "
     "subset_size), mean +- sem", K_UINT, 0, 1e9, NULL},
    {"per-class", NULL, "also the ID of each class's own rows, per layer", K_FLAG, 0, 0, NULL},
    {"groups", "SET|FILE",
     "also the ID of each group's own rows (e.g. one\nprompt's tokens): a label set of the "
     "store, or a\nfile of one group per row; their median and quartiles",
     K_TEXT, 0, 0, NULL},
    {"groups-only", NULL,
     "only the groups: no search over the whole layer; a\nlayer's ID is the median of its "
     "groups'", K_FLAG, 0, 0, NULL},
    {"group-rank", "R", "per class / group: GRIDE at n2 = R too (a power of\ntwo; default: "
     "TwoNN only)", K_UINT, 2, 1024, NULL},
    {"label-set", "NAME", "use this label set of the store", K_TEXT, 0, 0, NULL},
    {"no-labels", NULL, "ignore the store's labels", K_FLAG, 0, 0, NULL},
    {"class-fraction", "F", "label overlap with k_i = F x size of i's class", K_FRAC, 1e-9, 1,
     NULL},
    {"overlap-matrix", NULL, "also the overlap between every pair of layers", K_FLAG, 0, 0, NULL},
    {"layers", "LIST", "only these layers: indices or names, comma-separated", K_TEXT, 0, 0,
     NULL},
    {"tolerance", "F", "relative size of an ID change that counts (default 0.05)", K_FRAC, 0, 1,
     NULL},
    {"seed", "N", "subsets for --preset paper / --decimation (default 1)", K_UINT, 0, 1.8e19,
     NULL},
    {"cache", "DIR",
     "keep neighbour lists and subset results here, and reuse\nthem (default: STORE.lgcache "
     "beside the store)",
     K_TEXT, 0, 0, NULL},
    {"no-cache", NULL, "compute everything, keep nothing", K_FLAG, 0, 0, NULL},
    {"threads", "N", "threads (default: all cores)", K_UINT, 1, 1024, NULL},
    {"memory", "SIZE", "memory budget, e.g. 512M, 8G (default: a quarter of RAM)", K_SIZE,
     1 << 20, 1.8e19, NULL},
    {"scratch", "DIR",
     "approx: where rows that do not fit the budget are kept\n(an unlinked file; default: the "
     "store's directory)",
     K_TEXT, 0, 0, NULL},
};
#define N_SETTINGS (sizeof settings / sizeof settings[0])

size_t lg_job_setting_count(void)
{
    return N_SETTINGS;
}

int lg_job_setting(size_t i, const char **name, const char **arg, const char **help)
{
    if (i >= N_SETTINGS)
        return 0;
    *name = settings[i].name;
    *arg = settings[i].arg;
    *help = settings[i].help;
    return 1;
}

int lg_parse_size(const char *s, uint64_t *out)
{
    char *end;
    if (!s || !*s || *s == '-')
        return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || !(v >= 0))
        return -1;
    double m = 1;
    switch (*end) {
    case 'k': case 'K': m = 1024.0; end++; break;
    case 'm': case 'M': m = 1024.0 * 1024; end++; break;
    case 'g': case 'G': m = 1024.0 * 1024 * 1024; end++; break;
    case 't': case 'T': m = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end == 'B' || *end == 'b' || (*end == 'i' && end[1] == 'B' && end++))
        end++;
    if (*end || v * m > 1.8e19)
        return -1;
    *out = (uint64_t)(v * m);
    return 0;
}

static int parse_flag(const char *v, int *out)
{
    static const char *yes[] = {"1", "true", "yes", "on", ""}, *no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        if (!strcmp(v, yes[i]))
            return *out = 1, 0;
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        if (!strcmp(v, no[i]))
            return *out = 0, 0;
    return -1;
}

/* Position of v among the '|'-separated words, or -1. */
static int word_index(const char *words, const char *v)
{
    size_t len = strlen(v);
    int i = 0;
    for (const char *w = words; *w; i++) {
        const char *bar = strchr(w, '|');
        size_t wl = bar ? (size_t)(bar - w) : strlen(w);
        if (wl == len && !strncmp(w, v, len))
            return i;
        if (!bar)
            break;
        w = bar + 1;
    }
    return -1;
}

static int takes(lg_error *err, const setting *s, const char *v)
{
    switch (s->kind) {
    case K_UINT:
        return lgu_fail(err, LG_EUSAGE, "%s takes an integer in %.0f..%.0f (not '%s')", s->name,
                       s->lo, s->hi, v);
    case K_KLIST:
        return lgu_fail(err, LG_EUSAGE,
                        "%s takes an integer in %.0f..%.0f, or up to %d of them separated by "
                        "commas (not '%s')",
                        s->name, s->lo, s->hi, LG_MAX_KS + 1, v);
    case K_FRAC:
        return lgu_fail(err, LG_EUSAGE, "%s takes a number in [%g, %g] (not '%s')", s->name, s->lo,
                       s->hi, v);
    case K_SIZE:
        return lgu_fail(err, LG_EUSAGE, "%s takes a size such as 512M or 8G, at least 1M (not '%s')",
                       s->name, v);
    case K_WORD: {
        char w[64];
        snprintf(w, sizeof w, "%s", s->words);
        for (char *c = w; *c; c++)
            if (*c == '|')
                *c = '/';
        return lgu_fail(err, LG_EUSAGE, "%s takes %s (not '%s')", s->name, w, v);
    }
    case K_FLAG:
        return lgu_fail(err, LG_EUSAGE, "%s is a flag: 1 or 0 (not '%s')", s->name, v);
    default:
        return lgu_fail(err, LG_EUSAGE, "%s takes a non-empty value", s->name);
    }
}

static int set_text(char **slot, const char *v, lg_error *err)
{
    char *c = strdup(v);
    if (!c)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    free(*slot);
    *slot = c;
    return LG_OK;
}

/* auto | T | Tx: the twin tolerance (lg_profile_opts.dup_tol). */
static int parse_dup_tol(lg_profile_opts *o, const char *v, lg_error *err)
{
    if (!strcmp(v, "auto")) {
        o->dup_tol = -1;
        o->dup_tol_median = 0;
        return LG_OK;
    }
    char *end;
    errno = 0;
    double t = strtod(v, &end);
    int rel = *end == 'x';
    if (rel)
        end++;
    if (end == v || *end || errno || !(t >= 0) || !isfinite(t))
        return lgu_fail(err, LG_EUSAGE,
                        "dup-tol '%s': expected auto, a distance >= 0 (e.g. 1e-6), or a multiple "
                        "of the median r1 ending in x (e.g. 1e-3x)",
                        v);
    o->dup_tol = rel ? -1 : t;
    o->dup_tol_median = rel ? t : 0;
    if (rel && t == 0)
        o->dup_tol = 0;
    return LG_OK;
}

/* Stores a checked value in the job. */
static int apply(lg_job *j, const setting *s, const char *v, uint64_t u, double f, int w,
                 lg_error *err)
{
    lg_profile_opts *o = &j->o;
    const char *n = s->name;
    if (!strcmp(n, "k")) o->k = (uint32_t)u;
    else if (!strcmp(n, "knn")) o->approx = w;
    else if (!strcmp(n, "cells")) o->cells = (uint32_t)u;
    else if (!strcmp(n, "nprobe")) o->nprobe = (uint32_t)u;
    else if (!strcmp(n, "check-rows")) o->check_rows = (uint32_t)u;
    else if (!strcmp(n, "recall")) o->recall = f;
    else if (!strcmp(n, "id")) o->id_kind = (lg_id_kind)w; /* the words in lg_id_kind order */
    else if (!strcmp(n, "kstar-maxk")) o->kstar.maxk = (uint32_t)u;
    else if (!strcmp(n, "kstar-rounds")) o->kstar.rounds = (int)u;
    else if (!strcmp(n, "dup-tol")) return parse_dup_tol(o, v, err);
    else if (!strcmp(n, "gride-rank")) {
        if (u & (u - 1))
            return lgu_fail(err, LG_EUSAGE, "gride-rank takes a power of two, 2..1024 (not '%s')",
                           v);
        o->gride_rank = (uint32_t)u;
    } else if (!strcmp(n, "gride-max")) o->gride_max_rank = (uint32_t)u;
    else if (!strcmp(n, "discard")) o->twonn.discard = f;
    else if (!strcmp(n, "preset")) o->paper = 1;
    else if (!strcmp(n, "decimation")) o->decimation = w;
    else if (!strcmp(n, "min-subset")) o->min_subset = (uint32_t)u;
    else if (!strcmp(n, "duplicates")) o->twonn.duplicates = w ? LG_DUP_KEEP : LG_DUP_DROP;
    else if (!strcmp(n, "nonfinite")) o->nonfinite_fail = w;
    else if (!strcmp(n, "labels")) return set_text(&j->labels_file, v, err);
    else if (!strcmp(n, "label-set")) return set_text(&j->label_set, v, err);
    else if (!strcmp(n, "per-class")) o->per_class = w;
    else if (!strcmp(n, "ii-k")) o->ii_k = (uint32_t)u;
    else if (!strcmp(n, "ii-subsets")) o->ii_subsets = (uint32_t)u;
    else if (!strcmp(n, "groups")) return set_text(&j->groups, v, err);
    else if (!strcmp(n, "groups-only")) o->groups_only = w;
    else if (!strcmp(n, "group-rank")) {
        if (u & (u - 1))
            return lgu_fail(err, LG_EUSAGE, "group-rank takes a power of two, 2..1024 (not '%s')",
                            v);
        o->group_rank = (uint32_t)u;
    }
    else if (!strcmp(n, "no-labels")) j->no_labels = w;
    else if (!strcmp(n, "class-fraction")) o->class_fraction = f;
    else if (!strcmp(n, "overlap-matrix")) o->overlap_matrix = w;
    else if (!strcmp(n, "layers")) return set_text(&j->layers, v, err);
    else if (!strcmp(n, "tolerance")) o->tol = f;
    else if (!strcmp(n, "seed")) o->seed = u;
    else if (!strcmp(n, "cache")) return set_text(&j->cache, v, err);
    else if (!strcmp(n, "no-cache")) j->no_cache = w;
    else if (!strcmp(n, "threads")) o->threads = (int)u;
    else if (!strcmp(n, "memory")) o->memory = u;
    else if (!strcmp(n, "scratch")) return set_text(&j->scratch, v, err);
    return LG_OK;
}

int lg_job_set(lg_job *j, const char *key, const char *value, lg_error *err)
{
    if (!j || !key || !value)
        return lgu_fail(err, LG_EUSAGE, "lg_job_set needs a job, a key and a value");
    if (j->ran)
        return lgu_fail(err, LG_EUSAGE, "the job has run: settings no longer change it");
    const setting *s = NULL;
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (!strcmp(settings[i].name, key))
            s = &settings[i];
    if (!s)
        return lgu_fail(err, LG_EUSAGE, "no setting '%s'", key);
    uint64_t u = 0;
    double f = 0;
    int w = 0;
    char *end = NULL;
    switch (s->kind) {
    case K_UINT:
        errno = 0;
        u = strtoull(value, &end, 10);
        if (!*value || *end || errno || *value == '-' || (double)u < s->lo || (double)u > s->hi)
            return takes(err, s, value);
        break;
    case K_KLIST: {
        uint32_t ks[LG_MAX_KS + 1];
        size_t n = 0;
        for (const char *c = value;;) {
            errno = 0;
            unsigned long long x = strtoull(c, &end, 10);
            if (end == c || errno || *c == '-' || (double)x < s->lo || (double)x > s->hi ||
                n == LG_MAX_KS + 1 || (*end && *end != ','))
                return takes(err, s, value);
            int dup = 0;
            for (size_t q = 0; q < n; q++)
                dup |= ks[q] == x;
            if (!dup)
                ks[n++] = (uint32_t)x;
            if (!*end)
                break;
            c = end + 1;
        }
        j->o.k = ks[0];
        j->o.n_more_k = n - 1;
        for (size_t q = 1; q < n; q++)
            j->o.more_k[q - 1] = ks[q];
        return LG_OK;
    }
    case K_FRAC:
        f = strtod(value, &end);
        if (!*value || *end || !(f >= s->lo && f <= s->hi))
            return takes(err, s, value);
        break;
    case K_SIZE:
        if (lg_parse_size(value, &u) || (double)u < s->lo)
            return takes(err, s, value);
        break;
    case K_WORD:
        if ((w = word_index(s->words, value)) < 0)
            return takes(err, s, value);
        break;
    case K_FLAG:
        if (parse_flag(value, &w))
            return takes(err, s, value);
        break;
    case K_TEXT:
        if (!*value)
            return takes(err, s, value);
        break;
    }
    return apply(j, s, value, u, f, w, err);
}

/* layergeom pack: inputs -> store.  Every input is opened and checked before
 * the first byte is written. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char help[] =
    "usage: layergeom pack -o STORE [options] INPUT...\n"
    "\n"
    "Imports activations into a layergeom store, one layer per array.  INPUT is a\n"
    ".npy file (N x D, or a stacked L x N x D), a safetensors file (every float\n"
    "tensor, in natural name order, or --tensors), or with --dim a raw buffer.\n"
    "Layer files named like layer_2.npy ... layer_10.npy that come in the shell's\n"
    "string order are taken in natural (numeric) order.\n"
    "\n"
    "\n";

enum {
    OPT_BATCHES, OPT_TOKENS, OPT_MASK, OPT_OUT, OPT_APPEND, OPT_LABELS, OPT_LABEL_SET,
    OPT_LABEL_NAMES, OPT_TENSORS, OPT_DIM, OPT_RAW_DTYPE, OPT_MODEL, OPT_META, OPT_QUIET
};
static const cli_spec opts[] = {
    {OPT_BATCHES, "--batches", NULL, NULL,
     "each INPUT is one batch of every layer (an L x B x D\n.npy, or a safetensors file of one "
     "tensor per layer),\njoined along the rows in the order given; memory is\nbounded by a "
     "batch"},
    {OPT_TOKENS, "--tokens", NULL, "MODE",
     "per-token inputs, (N, T, D) or (L, N, T, D): mean | first\n| last (one row per input, "
     "pooled over its tokens) | all\n(every token its own row)"},
    {OPT_MASK, "--mask", NULL, "FILE",
     "with --tokens: an (N, T) .npy, nonzero = a real token\n(the attention mask); others are "
     "left out of the pooling"},
    {OPT_OUT, "--output", "-o", "STORE", "the store to create (refuses to overwrite one)"},
    {OPT_APPEND, "--append", NULL, NULL, "add the layers to an existing STORE instead"},
    {OPT_LABELS, "--labels", NULL, "FILE", "labels: an integer .npy, or a text file, one per line"},
    {OPT_LABEL_SET, "--label-set", NULL, "NAME", "name of that label set (default: labels)"},
    {OPT_LABEL_NAMES, "--label-names", NULL, "FILE",
     "names of label ids 0, 1, ...: a text file, one per line"},
    {OPT_TENSORS, "--tensors", NULL, "A,B,...", "safetensors: these tensors, in this order"},
    {OPT_DIM, "--dim", NULL, "D", "inputs are raw little-endian buffers of D columns"},
    {OPT_RAW_DTYPE, "--raw-dtype", NULL, "T", "element type of raw inputs (default f32)"},
    {OPT_MODEL, "--model", NULL, "NAME", "record the model name in the metadata"},
    {OPT_META, "--meta", NULL, "KEY=VALUE", "record a metadata pair (repeatable)"},
    {OPT_QUIET, "--quiet", "-q", NULL, "print nothing on success"},
};

#define MAX_META 64

typedef struct pack_args {
    const char *out, *labels, *label_set, *label_names, *tensors, *model;
    const char *meta[MAX_META];
    int n_meta, append, quiet, batches;
    lg_tokens tokens;
    const char *mask;
    lg_writer_opts opts;
    unsigned long long dim;
    lg_dtype raw_dtype;
    char **inputs;
    int n_inputs;
} pack_args;

static int parse(int argc, char **argv, pack_args *a)
{
    lg_writer_opts_default(&a->opts);
    a->raw_dtype = LG_F32;
    a->label_set = "labels";
    a->inputs = calloc((size_t)argc, sizeof *a->inputs);
    if (!a->inputs)
        return EXIT_NOMEM;
    cli_parser p;
    cli_parser_init(&p, argc, argv, "pack", opts, sizeof opts / sizeof *opts);
    p.extra = cli_writer_specs;
    p.n_extra = cli_writer_spec_count;
    const char *v;
    for (int id; (id = cli_next(&p, &v)) != CLI_END;) {
        if (id >= CLI_W_CODEC) {
            if (cli_writer_apply(id, v, &a->opts, "pack"))
                return EXIT_USAGE;
            continue;
        }
        switch (id) {
        case CLI_HELP:
            cli_print_help(help, opts, sizeof opts / sizeof *opts, p.extra, p.n_extra);
            return -1;
        case CLI_BAD: return EXIT_USAGE;
        case OPT_OUT: a->out = v; break;
        case OPT_LABELS: a->labels = v; break;
        case OPT_LABEL_NAMES: a->label_names = v; break;
        case OPT_LABEL_SET: a->label_set = v; break;
        case OPT_RAW_DTYPE:
            if (lg_dtype_parse(v, &a->raw_dtype) || a->raw_dtype == LG_DTYPE_KEEP)
                return cli_usage("pack", "--raw-dtype takes f32, f16, bf16 or f64");
            break;
        case OPT_DIM:
            if (cli_parse_uint(v, 1u << 24, &a->dim) || a->dim == 0)
                return cli_usage("pack", "--dim takes the columns of a row, 1..%u", LG_MAX_COLUMNS);
            break;
        case OPT_TENSORS: a->tensors = v; break;
        case OPT_MODEL: a->model = v; break;
        case OPT_META:
            if (!strchr(v, '=') || v[0] == '=' || a->n_meta == MAX_META)
                return cli_usage("pack", "--meta takes KEY=VALUE");
            a->meta[a->n_meta++] = v;
            break;
        case OPT_TOKENS:
            if (lg_tokens_parse(v, &a->tokens))
                return cli_usage("pack", "--tokens takes mean, first, last or all");
            break;
        case OPT_MASK: a->mask = v; break;
        case OPT_BATCHES: a->batches = 1; break;
        case OPT_APPEND: a->append = 1; break;
        case OPT_QUIET: a->quiet = 1; break;
        default: a->inputs[a->n_inputs++] = (char *)v;
        }
    }
    if (!a->out)
        return cli_usage("pack", "missing -o STORE");
    if (!a->n_inputs && !a->labels)
        return cli_usage("pack", "no inputs");
    if (a->mask && !a->tokens)
        return cli_usage("pack", "--mask goes with --tokens");
    if (a->tokens && (a->dim || a->tensors))
        return cli_usage("pack", "--tokens takes .npy inputs (not --dim or --tensors)");
    return 0;
}

/* Compares names as people sort them: runs of digits by value. */
static int natural_cmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
            char *ea, *eb;
            unsigned long long x = strtoull(a, &ea, 10), y = strtoull(b, &eb, 10);
            if (x != y)
                return x < y ? -1 : 1;
            a = ea;
            b = eb;
        } else {
            if (*a != *b)
                return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
            a++;
            b++;
        }
    }
    return *a ? 1 : *b ? -1 : 0;
}

static int by_natural(const void *x, const void *y)
{
    return natural_cmp(*(char *const *)x, *(char *const *)y);
}

static int by_string(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Inputs in the shell's string order (a glob) whose natural order differs
 * (layer_10 before layer_2): taken in natural order, and said so.  An order
 * that is neither was chosen by hand and is kept. */
static void natural_order(pack_args *a)
{
    int n = a->n_inputs;
    char **s = malloc((size_t)n * sizeof *s);
    if (!s || n < 2) {
        free(s);
        return;
    }
    memcpy(s, a->inputs, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, by_string);
    int globbed = memcmp(s, a->inputs, (size_t)n * sizeof *s) == 0;
    qsort(s, (size_t)n, sizeof *s, by_natural);
    int differs = memcmp(s, a->inputs, (size_t)n * sizeof *s) != 0;
    if (globbed && differs) {
        if (!a->quiet)
            fprintf(stderr,
                    "layergeom pack: note: the inputs came in string order (%s before %s); "
                    "they are taken in natural order (%s, %s, ...)\n",
                    a->inputs[1], s[1], s[0], s[1]);
        memcpy(a->inputs, s, (size_t)n * sizeof *s);
    }
    free(s);
}

/* Splits "a,b,c" in place. */
static size_t split_names(char *s, const char **out, size_t cap)
{
    size_t n = 0;
    for (char *tok = strtok(s, ","); tok && n < cap; tok = strtok(NULL, ","))
        out[n++] = tok;
    return n;
}

static int open_inputs(pack_args *a, lg_source **src, lg_error *err)
{
    for (int i = 0; i < a->n_inputs; i++) {
        int rc;
        if (a->dim) {
            rc = lg_source_open_raw(a->inputs[i], a->raw_dtype, (uint32_t)a->dim, &src[i], err);
        } else if (a->tokens) {
            rc = lg_source_open_tokens(a->inputs[i], a->tokens, a->mask, &src[i], err);
        } else if (a->tensors) {
            char *copy = strdup(a->tensors);
            const char *names[4096];
            size_t n = copy ? split_names(copy, names, 4096) : 0;
            rc = copy ? lg_source_open_safetensors(a->inputs[i], names, n, &src[i], err)
                      : LG_ENOMEM;
            free(copy);
        } else {
            rc = lg_source_open(a->inputs[i], &src[i], err);
        }
        if (rc)
            return rc;
    }
    return LG_OK;
}

/* All layers of all inputs, the labels and an existing store agree on N. */
static int check_rows(pack_args *a, lg_source **src, uint64_t nlab, lg_error *err)
{
    uint64_t n = 0;
    const char *from = NULL;
    if (a->batches) {
        int rc = lg_batches_check(src, (size_t)a->n_inputs, err);
        if (rc)
            return rc;
    }
    if (a->append && a->batches) {
        /* batches appended: more rows of every layer (names are matched by
         * the writer); the labels, if any, are the new rows' */
        uint64_t total = 0;
        for (int i = 0; i < a->n_inputs; i++) {
            uint64_t rows = 0;
            lg_source_layer(src[i], 0, NULL, &rows, NULL, NULL);
            total += rows;
        }
        if (a->labels && nlab != total) {
            err->code = LG_EINPUT;
            snprintf(err->msg, sizeof err->msg,
                     "%s: %llu labels, but the batches add %llu rows", a->labels,
                     (unsigned long long)nlab, (unsigned long long)total);
            return LG_EINPUT;
        }
        return LG_OK;
    }
    if (a->append) {
        lg_store *s;
        int rc = lg_store_open(a->out, 0, &s, err);
        if (rc)
            return rc;
        if (lg_store_layer_count(s) || lg_store_label_set_count(s)) {
            n = lg_store_rows(s);
            from = a->out;
        }
        for (int i = 0; !rc && i < a->n_inputs; i++)
            for (size_t l = 0; !rc && l < lg_source_layer_count(src[i]); l++) {
                const char *name;
                lg_source_layer(src[i], l, &name, NULL, NULL, NULL);
                long li = lg_store_find_layer(s, name);
                lg_layer_info L;
                if (li >= 0 && lg_store_layer(s, (size_t)li, &L) == LG_OK &&
                    strcmp(L.name, name) == 0) {
                    err->code = rc = LG_EUSAGE;
                    snprintf(err->msg, sizeof err->msg,
                             "%s: the store already has a layer named '%s' (from %s)", a->out,
                             name, a->inputs[i]);
                }
            }
        lg_store_close(s);
        if (rc)
            return rc;
    }
    if (a->labels && !from) {
        n = nlab;
        from = a->labels;
    }
    if (a->batches) { /* the rows of a layer are those of every batch */
        uint64_t total = 0;
        for (int i = 0; i < a->n_inputs; i++) {
            uint64_t rows = 0;
            lg_source_layer(src[i], 0, NULL, &rows, NULL, NULL);
            total += rows;
        }
        if (from && total != n) {
            err->code = LG_EINPUT;
            snprintf(err->msg, sizeof err->msg,
                     "the %d batches hold %llu rows, but %s has %llu: every layer must hold "
                     "the same inputs",
                     a->n_inputs, (unsigned long long)total, from, (unsigned long long)n);
            return LG_EINPUT;
        }
        n = total;
        from = "the batches";
    }
    for (int i = 0; i < a->n_inputs && !a->batches; i++)
        for (size_t l = 0; l < lg_source_layer_count(src[i]); l++) {
            const char *name;
            uint64_t rows;
            lg_source_layer(src[i], l, &name, &rows, NULL, NULL);
            if (from && rows != n) {
                err->code = LG_EINPUT;
                snprintf(err->msg, sizeof err->msg,
                         "%s: layer '%s' has %llu rows, but %s has %llu: every layer must hold "
                         "the same inputs",
                         a->inputs[i], name, (unsigned long long)rows, from,
                         (unsigned long long)n);
                return LG_EINPUT;
            }
            n = rows;
            from = a->inputs[i];
        }
    if (a->labels && nlab != n) {
        err->code = LG_EINPUT;
        snprintf(err->msg, sizeof err->msg, "%s: %llu labels, but %s has %llu rows", a->labels,
                 (unsigned long long)nlab, from, (unsigned long long)n);
        return LG_EINPUT;
    }
    return LG_OK;
}

/* With --tokens all: the label set "input", the input (0-based, counted
 * across batches) each token row came from.  Appended batches continue the
 * store's own "input" set; a store without one gets none. */
static int token_inputs(pack_args *a, lg_source **src, lg_writer *w, lg_error *err)
{
    int64_t offset = 0;
    if (a->append) {
        if (!a->batches)
            return LG_OK; /* new layers of the same rows: the set is there or not */
        lg_store *s;
        int rc = lg_store_open(a->out, 0, &s, err);
        const int64_t *have = NULL;
        uint64_t n = 0;
        if (!rc && lg_store_labels(s, "input", &have, &n, err) != LG_OK)
            have = NULL;
        for (uint64_t i = 0; have && i < n; i++)
            offset = have[i] + 1 > offset ? have[i] + 1 : offset;
        lg_store_close(s);
        if (rc || !have)
            return rc;
    }
    int inputs = a->batches ? a->n_inputs : 1; /* one source per batch, or the first */
    for (int i = 0; i < inputs; i++) {
        uint64_t rows = 0;
        lg_source_layer(src[i], 0, NULL, &rows, NULL, NULL);
        int64_t *v = malloc((rows ? rows : 1) * sizeof *v);
        if (!v) {
            err->code = LG_ENOMEM;
            snprintf(err->msg, sizeof err->msg, "out of memory for the inputs of %llu tokens",
                     (unsigned long long)rows);
            return LG_ENOMEM;
        }
        for (uint64_t r = 0; r < rows; r++)
            v[r] = offset + (int64_t)lg_source_token_input(src[i], r);
        int rc = a->batches || a->append ? lg_writer_add_labels(w, "input", v, rows, err)
                                         : lg_writer_labels(w, "input", v, rows, err);
        free(v);
        if (rc)
            return rc;
        offset += (int64_t)lg_source_token_inputs(src[i]);
    }
    return LG_OK;
}

static int write_all(pack_args *a, lg_source **src, const int64_t *lab, uint64_t nlab,
                     const char *names, lg_error *err)
{
    lg_writer *w;
    int rc = a->append ? lg_writer_append(a->out, &a->opts, &w, err)
                       : lg_writer_create(a->out, &a->opts, &w, err);
    if (rc)
        return rc;
    if (!a->append)
        rc = lg_writer_meta(w, "layergeom.version", LG_VERSION_STRING,
                            strlen(LG_VERSION_STRING), err);
    if (!rc && a->model)
        rc = lg_writer_meta(w, "model", a->model, strlen(a->model), err);
    for (int i = 0; !rc && i < a->n_meta; i++) {
        char key[256];
        const char *eq = strchr(a->meta[i], '=');
        snprintf(key, sizeof key, "%.*s", (int)(eq - a->meta[i]), a->meta[i]);
        rc = lg_writer_meta(w, key, eq + 1, strlen(eq + 1), err);
    }
    if (!rc && a->labels) {
        rc = a->append && a->batches ? lg_writer_add_labels(w, a->label_set, lab, nlab, err)
                                     : lg_writer_labels(w, a->label_set, lab, nlab, err);
        if (!rc && names) {
            char key[300];
            snprintf(key, sizeof key, "label_names.%s", a->label_set);
            rc = lg_writer_meta(w, key, names, strlen(names), err);
        }
    }
    if (!rc && a->tokens == LG_TOKENS_ALL)
        rc = token_inputs(a, src, w, err);
    if (!rc && a->batches) {
        /* layer names: the tensors' (safetensors), else layer00, layer01, ... */
        size_t L = lg_source_layer_count(src[0]);
        char **names_l = calloc(L ? L : 1, sizeof *names_l);
        int tensor_names = 1;
        for (size_t l = 0; names_l && l < L; l++) {
            const char *nm;
            lg_source_layer(src[0], l, &nm, NULL, NULL, NULL);
            tensor_names &= !strchr(nm, '[');
        }
        for (size_t l = 0; names_l && l < L; l++) {
            const char *nm;
            lg_source_layer(src[0], l, &nm, NULL, NULL, NULL);
            char buf[32];
            snprintf(buf, sizeof buf, L > 100 ? "layer%03zu" : "layer%02zu", l);
            names_l[l] = strdup(L == 1 || !tensor_names ? buf : nm);
        }
        rc = names_l ? lg_import_batches(w, src, (size_t)a->n_inputs,
                                         (const char *const *)names_l, err)
                     : LG_ENOMEM;
        for (size_t l = 0; names_l && l < L; l++)
            free(names_l[l]);
        free(names_l);
    }
    for (int i = 0; !rc && !a->batches && i < a->n_inputs; i++)
        rc = lg_import_source(w, src[i], err);
    if (rc) {
        /* keep what was committed: complete layers stay readable */
        lg_error e2;
        lg_writer_close(w, &e2);
        return rc;
    }
    return lg_writer_close(w, err);
}

/* A text file of names, one per line, joined by '\n' (blank lines and '\r' dropped). */
static int read_names(const char *path, char **out, lg_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        err->code = LG_ENOTFOUND;
        snprintf(err->msg, sizeof err->msg, "%s: cannot open", path);
        return err->code;
    }
    size_t cap = 4096, len = 0;
    char *s = malloc(cap), line[4096];
    while (s && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0])
            continue;
        size_t l = strlen(line);
        if (len + l + 2 > cap) {
            char *t = realloc(s, cap = 2 * (len + l + 2));
            if (!t) {
                free(s);
                s = NULL;
                break;
            }
            s = t;
        }
        if (len)
            s[len++] = '\n';
        memcpy(s + len, line, l);
        len += l;
    }
    fclose(f);
    if (!s) {
        err->code = LG_ENOMEM;
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return err->code;
    }
    s[len] = 0;
    *out = s;
    return LG_OK;
}

int cmd_pack(int argc, char **argv)
{
    pack_args a = {0};
    int rc = parse(argc, argv, &a);
    if (rc) {
        free(a.inputs);
        return rc < 0 ? EXIT_OK : rc;
    }
    lg_error err = {0};
    if (!a.batches)
        natural_order(&a);
    lg_source **src = calloc((size_t)a.n_inputs + 1, sizeof *src);
    int64_t *lab = NULL;
    uint64_t nlab = 0;
    char *names = NULL;
    rc = src ? open_inputs(&a, src, &err) : LG_ENOMEM;
    if (!rc && a.labels)
        rc = lg_labels_load(a.labels, &lab, &nlab, &names, &err);
    if (!rc && a.label_names) {
        free(names);
        names = NULL;
        rc = read_names(a.label_names, &names, &err);
    }
    if (!rc)
        rc = check_rows(&a, src, nlab, &err);
    if (!rc && !a.batches && !a.quiet) {
        /* stacks in several files are usually batches of every layer */
        size_t stacked = 0, layers = 0;
        uint64_t rows = 0;
        for (int i = 0; i < a.n_inputs; i++) {
            size_t n_l = lg_source_layer_count(src[i]);
            stacked += n_l > 1;
            layers += n_l;
            lg_source_layer(src[i], 0, NULL, &rows, NULL, NULL);
        }
        if (stacked >= 2 || (layers > 64 && rows < layers * 16))
            fprintf(stderr,
                    "layergeom pack: warning: this makes %zu layers of %llu rows%s; if each "
                    "file is one batch of every layer, use --batches; if an array is (N, T, D) "
                    "per token, use --tokens\n",
                    layers, (unsigned long long)rows,
                    stacked >= 2 ? " from several stacked files" : "");
    }
    if (!rc)
        rc = write_all(&a, src, lab, nlab, names, &err);
    int code = rc ? cli_report(&err) : EXIT_OK;
    if (!rc && !a.quiet) {
        lg_store *s;
        if (lg_store_open(a.out, LG_OPEN_NO_VERIFY, &s, &err) == LG_OK) {
            char h[32];
            printf("%s: %zu layers, %llu rows, %s\n", a.out, lg_store_layer_count(s),
                   (unsigned long long)lg_store_rows(s),
                   cli_human((double)lg_store_file_size(s), h, sizeof h));
            lg_store_close(s);
        }
    }
    for (int i = 0; src && i < a.n_inputs; i++)
        lg_source_close(src[i]);
    free(src);
    free(lab);
    free(names);
    free(a.inputs);
    return code;
}

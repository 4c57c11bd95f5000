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
    "\n"
    "  -o, --output STORE   the store to create (refuses to overwrite one)\n"
    "  --append             add the layers to an existing STORE instead\n"
    "  --labels FILE        labels: an integer .npy, or a text file, one per line\n"
    "  --label-set NAME     name of that label set (default: labels)\n"
    "  --label-names FILE   names of label ids 0, 1, ...: a text file, one per line\n"
    "  --codec C            none | lz4 | zstd (default none)\n"
    "  --level N            codec level (zstd 1..22, lz4 0..12; default fast)\n"
    "  --shuffle            byte-shuffle elements before compressing\n"
    "  --dtype T            keep | f32 | f16 | bf16 | f64: stored type (default keep)\n"
    "  --chunk-rows N       rows per chunk (default: about 4 MiB per chunk)\n"
    "  --tensors A,B,...    safetensors: these tensors, in this order\n"
    "  --dim D              inputs are raw little-endian buffers of D columns\n"
    "  --raw-dtype T        element type of raw inputs (default f32)\n"
    "  --model NAME         record the model name in the metadata\n"
    "  --meta KEY=VALUE     record a metadata pair (repeatable)\n"
    "  --no-sync            do not fdatasync at commits (faster, less safe)\n"
    "  -q, --quiet          print nothing on success\n";

#define MAX_META 64

typedef struct pack_args {
    const char *out, *labels, *label_set, *label_names, *tensors, *model;
    const char *meta[MAX_META];
    int n_meta, append, quiet;
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
    for (int i = 1; i < argc; i++) {
        const char *v;
        int r;
        if (cli_is_help(argv[i])) {
            fputs(help, stdout);
            return -1;
        }
#define OPT(name) ((r = cli_opt(argc, argv, &i, name, &v)) != 0)
        if (OPT("-o") || OPT("--output")) {
            if (r < 0)
                return EXIT_USAGE;
            a->out = v;
        } else if (OPT("--labels")) {
            if (r < 0)
                return EXIT_USAGE;
            a->labels = v;
        } else if (OPT("--label-names")) {
            if (r < 0)
                return EXIT_USAGE;
            a->label_names = v;
        } else if (OPT("--label-set")) {
            if (r < 0)
                return EXIT_USAGE;
            a->label_set = v;
        } else if ((r = cli_writer_opt(argc, argv, &i, &a->opts, "pack")) != 0) {
            if (r < 0)
                return EXIT_USAGE;
        } else if (OPT("--raw-dtype")) {
            if (r < 0 || lg_dtype_parse(v, &a->raw_dtype) || a->raw_dtype == LG_DTYPE_KEEP)
                return cli_usage("pack", "--raw-dtype takes f32, f16, bf16 or f64");
        } else if (OPT("--dim")) {
            if (r < 0 || cli_parse_uint(v, 1u << 24, &a->dim) || a->dim == 0)
                return cli_usage("pack", "--dim takes a positive integer");
        } else if (OPT("--tensors")) {
            if (r < 0)
                return EXIT_USAGE;
            a->tensors = v;
        } else if (OPT("--model")) {
            if (r < 0)
                return EXIT_USAGE;
            a->model = v;
        } else if (OPT("--meta")) {
            if (r < 0 || !strchr(v, '=') || v[0] == '=' || a->n_meta == MAX_META)
                return cli_usage("pack", "--meta takes KEY=VALUE");
            a->meta[a->n_meta++] = v;
        } else if (cli_flag(argv, i, "--append")) {
            a->append = 1;
        } else if (cli_flag(argv, i, "-q") || cli_flag(argv, i, "--quiet")) {
            a->quiet = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage("pack", "unknown option '%s'", argv[i]);
        } else {
            a->inputs[a->n_inputs++] = argv[i];
        }
#undef OPT
    }
    if (!a->out)
        return cli_usage("pack", "missing -o STORE");
    if (!a->n_inputs && !a->labels)
        return cli_usage("pack", "no inputs");
    return 0;
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
    for (int i = 0; i < a->n_inputs; i++)
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
        rc = lg_writer_labels(w, a->label_set, lab, nlab, err);
        if (!rc && names) {
            char key[300];
            snprintf(key, sizeof key, "label_names.%s", a->label_set);
            rc = lg_writer_meta(w, key, names, strlen(names), err);
        }
    }
    for (int i = 0; !rc && i < a->n_inputs; i++)
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

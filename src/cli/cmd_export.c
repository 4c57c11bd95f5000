/* layergeom export: a layer (or a label set) back to .npy.  Written to a
 * temporary file and renamed, so an existing output is never half-replaced. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const char help[] =
    "usage: layergeom export STORE (--layer I|NAME | --labels [SET]) -o OUT.npy [--dtype T]\n"
    "       layergeom export STORE --stream -o OUT|-\n"
    "\n"
    "Writes one layer as an N x D .npy in its stored type (bf16 is widened to\n"
    "f32, since .npy has no bf16), or a label set as an int64 .npy.\n";

enum { OPT_LAYER, OPT_LABELS, OPT_DTYPE, OPT_STREAM, OPT_OUT };
static const cli_spec opts[] = {
    {OPT_LAYER, "--layer", NULL, "I|NAME", "layer index (as listed by info), id or name"},
    {OPT_LABELS, "--labels", NULL, NULL, "a label set instead (--labels SET: that one; default: the "
                                      "first)"},
    {OPT_DTYPE, "--dtype", NULL, "T", "f32 | f16 | f64: convert on the way out"},
    {OPT_STREAM, "--stream", NULL, NULL,
     "the whole store (layers, labels, metadata) in the stream\nform, for 'layergeom ingest' at "
     "the other end of a pipe"},
    {OPT_OUT, "--output", "-o", "FILE", "output file ('-' for stdout)"},
};

/* Every layer, label set and metadata pair of s, in the stream form. */
static int export_stream(lg_store *s, int fd, lg_error *err)
{
    lg_writer_opts o;
    lg_writer_opts_default(&o);
    lg_writer *w;
    int rc = lg_writer_stream(fd, &o, &w, err);
    if (rc)
        return rc;
    for (size_t i = 0; !rc && i < lg_store_meta_count(s); i++) {
        const char *k;
        const void *v;
        size_t len;
        lg_store_meta_at(s, i, &k, &v, &len);
        rc = lg_writer_meta(w, k, v, len, err);
    }
    for (size_t i = 0; !rc && i < lg_store_layer_count(s); i++) {
        lg_layer_info L;
        lg_store_layer(s, i, &L);
        lg_cursor *c;
        size_t es = lg_dtype_size(L.dtype), block = (4u << 20) / ((size_t)L.d * es) + 1;
        void *buf = malloc(block * L.d * es);
        rc = buf ? lg_cursor_open(s, i, block, &c, err) : LG_ENOMEM;
        if (!rc) {
            rc = lg_writer_begin_layer(w, L.name, L.d, L.dtype, err);
            for (uint64_t r = 0; !rc && r < L.n; r += block) {
                size_t m = L.n - r < block ? (size_t)(L.n - r) : block;
                rc = lg_cursor_read_raw(c, r, m, buf, err);
                if (!rc)
                    rc = lg_writer_rows(w, buf, m, err);
            }
            if (!rc)
                rc = lg_writer_end_layer(w, err);
            lg_cursor_close(c);
        }
        free(buf);
    }
    for (size_t i = 0; !rc && i < lg_store_label_set_count(s); i++) {
        const int64_t *lab;
        uint64_t n;
        const char *name = lg_store_label_set_name(s, i);
        rc = lg_store_labels(s, name, &lab, &n, err);
        if (!rc)
            rc = lg_writer_labels(w, name, lab, n, err);
    }
    if (rc) {
        lg_writer_abort(w);
        return rc;
    }
    return lg_writer_close(w, err);
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static const char *descr_of(lg_dtype t)
{
    return t == LG_F16 ? "<f2" : t == LG_F64 ? "<f8" : "<f4";
}

static int export_layer(lg_store *s, size_t li, lg_dtype out_t, int fd, lg_error *err)
{
    lg_layer_info L;
    lg_store_layer(s, li, &L);
    if (out_t == LG_DTYPE_KEEP)
        out_t = L.dtype == LG_BF16 ? LG_F32 : L.dtype;
    if (lg_dtype_size(out_t) < lg_dtype_size(L.dtype) ||
        (out_t == LG_F16 && L.dtype != LG_F16)) {
        err->code = LG_EUSAGE;
        snprintf(err->msg, sizeof err->msg,
                 "--dtype %s would round layer '%s' (stored as %s): export only widens",
                 lg_dtype_name(out_t), L.name, lg_dtype_name(L.dtype));
        return LG_EUSAGE;
    }
    int rc = lg_npy_write_header(fd, descr_of(out_t), L.n, L.d, 0, err);
    if (rc)
        return rc;
    lg_cursor *c;
    size_t block = (4u << 20) / ((size_t)L.d * 8) + 1;
    rc = lg_cursor_open(s, li, block, &c, err);
    if (rc)
        return rc;
    size_t es_in = lg_dtype_size(L.dtype), es_out = lg_dtype_size(out_t);
    void *raw = malloc(block * L.d * (es_in > es_out ? es_in : es_out));
    void *conv = malloc(block * L.d * (es_out > 4 ? es_out : 4));
    if (!raw || !conv)
        rc = LG_ENOMEM;
    for (uint64_t r = 0; !rc && r < L.n; r += block) {
        size_t m = L.n - r < block ? (size_t)(L.n - r) : block;
        const void *out = raw;
        if (out_t == L.dtype) {
            rc = lg_cursor_read_raw(c, r, m, raw, err);
        } else {
            /* every other export widens, so going through float32 is exact */
            rc = lg_cursor_read(c, r, m, conv, err);
            out = conv;
            if (!rc && out_t == LG_F64) {
                const float *f = conv;
                for (size_t k = 0; k < m * L.d; k++)
                    ((double *)raw)[k] = f[k];
                out = raw;
            }
        }
        if (!rc && write_all(fd, out, m * L.d * es_out)) {
            err->code = LG_EIO;
            snprintf(err->msg, sizeof err->msg, "write failed: %s", strerror(errno));
            rc = LG_EIO;
        }
    }
    if (rc == LG_ENOMEM && !err->msg[0])
        snprintf(err->msg, sizeof err->msg, "out of memory");
    free(raw);
    free(conv);
    lg_cursor_close(c);
    return rc;
}

static int export_labels(lg_store *s, const char *set, int fd, lg_error *err)
{
    const int64_t *lab;
    uint64_t n;
    int rc = lg_store_labels(s, set, &lab, &n, err);
    if (!rc)
        rc = lg_npy_write_header(fd, "<i8", n, 1, 1, err);
    if (!rc && write_all(fd, lab, n * 8)) {
        err->code = LG_EIO;
        snprintf(err->msg, sizeof err->msg, "write failed: %s", strerror(errno));
        rc = LG_EIO;
    }
    return rc;
}

int cmd_export(int argc, char **argv)
{
    const char *path = NULL, *layer = NULL, *out = NULL, *set = NULL;
    int labels = 0, stream = 0;
    lg_dtype t = LG_DTYPE_KEEP;
    cli_parser p;
    cli_parser_init(&p, argc, argv, "export", opts, sizeof opts / sizeof *opts);
    const char *v;
    int labels_at = -1;
    for (int id; (id = cli_next(&p, &v)) != CLI_END;) {
        switch (id) {
        case CLI_HELP:
            cli_print_help(help, opts, sizeof opts / sizeof *opts, NULL, 0);
            return EXIT_OK;
        case CLI_BAD: return EXIT_USAGE;
        case OPT_LAYER: layer = v; break;
        case OPT_OUT: out = v; break;
        case OPT_DTYPE:
            if (lg_dtype_parse(v, &t) || t == LG_BF16)
                return cli_usage("export", "--dtype takes f32, f16 or f64");
            break;
        case OPT_STREAM: stream = 1; break;
        case OPT_LABELS:
            labels = 1;
            labels_at = p.i;
            break;
        default: /* positional */
            if (!path)
                path = v;
            else if (labels_at == p.i - 1) /* --labels SET */
                set = v;
            else
                return cli_usage("export", "unexpected argument '%s'", v);
        }
    }
    if (!path || !out || (!layer + !labels + !stream) != 2)
        return cli_usage("export", "needs STORE, -o OUT and one of --layer, --labels, --stream");
    lg_store *s;
    lg_error err = {0};
    if (lg_store_open(path, 0, &s, &err))
        return cli_report(&err);
    long li = -1;
    if (layer) {
        char *end;
        unsigned long idx = strtoul(layer, &end, 10);
        li = (*layer && !*end && idx < lg_store_layer_count(s)) ? (long)idx
                                                                : lg_store_find_layer(s, layer);
        if (li < 0) {
            fprintf(stderr, "layergeom: %s: no layer '%s' (see 'layergeom info %s')\n", path,
                    layer, path);
            lg_store_close(s);
            return EXIT_INPUT;
        }
    }
    int to_stdout = strcmp(out, "-") == 0;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", out, (long)getpid());
    int fd = to_stdout ? STDOUT_FILENO : open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    int rc;
    if (fd < 0) {
        err.code = LG_EIO;
        snprintf(err.msg, sizeof err.msg, "%s: cannot create: %s", tmp, strerror(errno));
        rc = LG_EIO;
    } else {
        rc = stream   ? export_stream(s, fd, &err)
             : labels ? export_labels(s, set, fd, &err)
                      : export_layer(s, (size_t)li, t, fd, &err);
        if (!to_stdout) {
            if (!rc && (fsync(fd) != 0 || close(fd) != 0)) {
                err.code = LG_EIO;
                snprintf(err.msg, sizeof err.msg, "%s: %s", tmp, strerror(errno));
                rc = LG_EIO;
            } else if (rc) {
                close(fd);
            }
            if (!rc && rename(tmp, out) != 0) {
                err.code = LG_EIO;
                snprintf(err.msg, sizeof err.msg, "%s: cannot rename to %s: %s", tmp, out,
                         strerror(errno));
                rc = LG_EIO;
            }
            if (rc)
                unlink(tmp);
        }
    }
    lg_store_close(s);
    return rc ? cli_report(&err) : EXIT_OK;
}

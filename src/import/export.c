/* A store's contents back out: a layer or a label set as .npy, the whole
 * store in the stream form. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layergeom/import.h"
#include "util/error.h"

/* Every layer, label set and metadata pair of s, in the stream form. */
int lg_export_stream(lg_store *s, int fd, lg_error *err)
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

int lg_export_layer(lg_store *s, size_t li, lg_dtype out_t, int fd, lg_error *err)
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

int lg_export_labels(lg_store *s, const char *set, int fd, lg_error *err)
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


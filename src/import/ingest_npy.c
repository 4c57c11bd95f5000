/* Ingest of .npy frames (formats/npy-framing.md): each array announced by
 * a one-line header; a layer named again continues (batch by batch). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/convert.h"
#include "import/source_int.h"
#include "util/le.h"
#include "import/ingest_int.h"
#include "util/error.h"

#define U64(x) ((unsigned long long)(x))
#define BLOCK_BYTES (4u << 20)

/* ---- .npy framing ---- */

/* Reads one line (without '\n'); *eof when the input ended before any byte. */
static int read_line(peek *p, char *line, size_t cap, int *eof, lg_error *err)
{
    size_t n = 0;
    *eof = 0;
    for (;;) {
        char c;
        size_t got;
        int rc = lgi_read_full(p, &c, 1, &got, err);
        if (rc)
            return rc;
        if (!got) {
            if (n == 0) {
                *eof = 1;
                return LG_OK;
            }
            return lgu_fail(err, LG_EINPUT, "input: ended at offset %llu inside a frame line",
                           U64(p->offset));
        }
        if (c == '\n')
            break;
        if (n + 1 >= cap)
            return lgu_fail(err, LG_EINPUT,
                           "input: frame line at offset %llu is longer than %zu bytes",
                           U64(p->offset - n), cap);
        line[n++] = c;
    }
    line[n] = 0;
    return LG_OK;
}

/* Reads a .npy header from the input. */
static int read_npy_header(peek *p, npy_info *in, lg_error *err)
{
    unsigned char buf[12 + 65536];
    size_t got;
    uint64_t at = p->offset;
    int rc = lgi_read_full(p, buf, 10, &got, err);
    if (!rc && got < 10)
        rc = lgu_fail(err, LG_EINPUT, "input: ended at offset %llu inside a .npy header",
                     U64(p->offset));
    if (rc)
        return rc;
    if (memcmp(buf, "\x93NUMPY", 6) != 0)
        return lgu_fail(err, LG_EINPUT,
                       "input: offset %llu: expected a .npy array after the frame line (magic "
                       "\\x93NUMPY)",
                       U64(at));
    size_t pre = buf[6] == 1 ? 10 : 12;
    if (pre == 12 && (rc = lgi_read_full(p, buf + 10, 2, &got, err)))
        return rc;
    uint64_t hlen = pre == 10 ? lgu_get16(buf + 8) : lgu_get32(buf + 8);
    if (hlen > 65536)
        return lgu_fail(err, LG_EINPUT, "input: offset %llu: .npy header of %llu bytes is too long",
                       U64(at), U64(hlen));
    rc = lgi_read_full(p, buf + pre, (size_t)hlen, &got, err);
    if (!rc && got < hlen)
        rc = lgu_fail(err, LG_EINPUT, "input: ended at offset %llu inside a .npy header",
                     U64(p->offset));
    if (!rc)
        rc = npy_parse_header("input", buf, pre + (size_t)hlen, in, err);
    if (!rc && in->fortran)
        rc = lgu_fail(err, LG_EINPUT,
                     "input: .npy at offset %llu is in Fortran order; send C-order arrays "
                     "(numpy.ascontiguousarray)",
                     U64(at));
    return rc;
}

static int frame_rows(peek *p, lg_writer *w, open_layer *L, const char *name,
                      lg_ingest_stats *st, lg_error *err)
{
    npy_info in;
    uint64_t at = p->offset;
    int rc = read_npy_header(p, &in, err);
    if (rc)
        return rc;
    lg_dtype t = npy_float_dtype(&in);
    if (t == LG_DTYPE_KEEP || in.ndim < 1 || in.ndim > 2)
        return lgu_fail(err, LG_EINPUT,
                       "input: .npy at offset %llu for layer '%s': expected a float16/32/64 "
                       "array of shape (rows, D)",
                       U64(at), name);
    uint64_t n = in.shape[0], d = in.ndim == 2 ? in.shape[1] : 1;
    if (d == 0 || d > LG_MAX_COLUMNS)
        return lgu_fail(err, LG_EINPUT, "input: .npy at offset %llu: %llu columns", U64(at), U64(d));
    if (L->open && (d != L->d || t != L->dtype))
        return lgu_fail(err, LG_EINPUT,
                       "input: .npy at offset %llu adds %llu columns of %s to layer '%s', which "
                       "has %u of %s",
                       U64(at), U64(d), lg_dtype_name(t), name, L->d, lg_dtype_name(L->dtype));
    if (!L->open) {
        /* a name that came before continues its layer (batch by batch) */
        rc = lg_writer_resume_layer(w, name, (uint32_t)d, t, err);
        if (rc)
            return rc;
        *L = (open_layer){1, 0, 0, (uint32_t)d, t, 0, ""};
        snprintf(L->name, sizeof L->name, "%s", name);
    }
    size_t row = (size_t)d * (size_t)in.size, block = BLOCK_BYTES / row ? BLOCK_BYTES / row : 1;
    if (block > n)
        block = n ? (size_t)n : 1; /* small arrays, small buffers */
    unsigned char *buf = malloc(block * row);
    if (!buf)
        return lgu_fail(err, LG_ENOMEM, "out of memory for %zu rows of %zu bytes", block, row);
    for (uint64_t r = 0; !rc && r < n; r += block) {
        size_t m = n - r < block ? (size_t)(n - r) : block, got;
        rc = lgi_read_full(p, buf, m * row, &got, err);
        if (!rc && got < m * row)
            rc = lgu_fail(err, LG_EINPUT,
                         "input: ended at offset %llu inside the .npy data of layer '%s' (%llu "
                         "of %llu rows of this array came)",
                         U64(p->offset), name, U64(r + got / row), U64(n));
        if (rc)
            break;
        if (in.big)
            lgc_byteswap(buf, (size_t)in.size, m * d);
        rc = lg_writer_rows(w, buf, m, err);
        if (rc)
            break;
        L->rows += m;
        st->rows += m;
    }
    free(buf);
    return rc ? rc : lg_writer_flush(w, err); /* visible to a follower at once */
}

static int frame_labels(peek *p, lg_writer *w, const char *name, lg_error *err)
{
    npy_info in;
    uint64_t at = p->offset;
    int rc = read_npy_header(p, &in, err);
    if (rc)
        return rc;
    if ((in.kind != 'i' && in.kind != 'u') || in.size > 8 || in.ndim != 1)
        return lgu_fail(err, LG_EINPUT,
                       "input: labels at offset %llu: expected a 1-D integer array", U64(at));
    if (in.shape[0] > (1ull << 32))
        return lgu_fail(err, LG_EINPUT, "input: labels at offset %llu: too many", U64(at));
    /* read in blocks, growing the array as the labels arrive: the header's
     * count alone cannot make us allocate what it claims */
    size_t n = (size_t)in.shape[0], es = (size_t)in.size, have = 0, cap = 0;
    enum { B = 8192 };
    unsigned char raw[B * 8];
    int64_t *v = NULL;
    while (!rc && have < n) {
        size_t m = n - have < B ? n - have : B, got;
        rc = lgi_read_full(p, raw, m * es, &got, err);
        if (!rc && got < m * es)
            rc = lgu_fail(err, LG_EINPUT,
                         "input: ended at offset %llu inside labels (%zu of %zu came)",
                         U64(p->offset), have + got / es, n);
        if (!rc && have + m > cap) {
            size_t nc = cap ? 2 * cap : B;
            while (nc < have + m)
                nc *= 2;
            int64_t *nv = realloc(v, (nc < n ? nc : n) * sizeof *nv);
            if (!nv)
                rc = lgu_fail(err, LG_ENOMEM, "out of memory for labels");
            else {
                v = nv;
                cap = nc < n ? nc : n;
            }
        }
        for (size_t i = 0; !rc && i < m; i++) {
            unsigned char b8[8] = {0};
            memcpy(b8, raw + i * es, es);
            if (in.big)
                lgc_byteswap(b8, es, 1);
            int64_t x = 0;
            memcpy(&x, b8, 8);
            if (in.kind == 'i' && es < 8 && (b8[es - 1] & 0x80))
                x |= (int64_t)(~0ull << (8 * es)); /* sign-extend */
            v[have + i] = x;
        }
        have += m;
    }
    if (!rc)
        rc = lg_writer_labels(w, name, v ? v : (int64_t[1]){0}, n, err);
    free(v);
    return rc;
}

static int seal(lg_writer *w, open_layer *L, lg_ingest_stats *st, lg_error *err)
{
    if (!L->open)
        return LG_OK;
    L->open = 0;
    int rc = lg_writer_end_layer(w, err);
    if (!rc && L->is_new)
        st->layers++;
    return rc;
}

/* Names of the layers the frames have named so far. */
typedef struct names {
    char **v;
    size_t n;
} names;

static int seen_name(names *N, const char *name, int *seen)
{
    for (size_t i = 0; i < N->n; i++)
        if (strcmp(N->v[i], name) == 0) {
            *seen = 1;
            return LG_OK;
        }
    *seen = 0;
    char **p = realloc(N->v, (N->n + 1) * sizeof *p);
    if (!p)
        return LG_ENOMEM;
    N->v = p;
    return (p[N->n] = strdup(name)) ? (N->n++, LG_OK) : LG_ENOMEM;
}

int lgi_npy_framing(peek *p, lg_writer *w, lg_ingest_stats *st, lg_error *err)
{
    open_layer L = {0};
    names N = {0};
    char line[4200];
    int rc = LG_OK, eof;
    while (!(rc = read_line(p, line, sizeof line, &eof, err))) {
        if (eof) {
            rc = lgu_fail(err, LG_EINPUT,
                         "input: ended at offset %llu without 'LGNPY close' (the producer "
                         "stopped early?)",
                         U64(p->offset));
            break;
        }
        uint64_t at = p->offset - strlen(line) - 1;
        st->records++;
        if (strncmp(line, "LGNPY ", 6) != 0) {
            rc = lgu_fail(err, LG_EINPUT,
                         "input: offset %llu: expected a frame line 'LGNPY ...', got '%.40s'",
                         U64(at), line);
            break;
        }
        const char *cmd = line + 6;
        if (strncmp(cmd, "layer=", 6) == 0) {
            if (L.open && strcmp(L.name, cmd + 6) != 0)
                rc = seal(w, &L, st, err); /* a new layer completes the previous one */
            int seen = 0, was_open = L.open;
            if (!rc && !was_open && seen_name(&N, cmd + 6, &seen))
                rc = lgu_fail(err, LG_ENOMEM, "out of memory");
            if (!rc)
                rc = frame_rows(p, w, &L, cmd + 6, st, err);
            if (!rc && !was_open)
                L.is_new = !seen;
        } else if (strncmp(cmd, "end=", 4) == 0) {
            if (!L.open || strcmp(L.name, cmd + 4) != 0)
                rc = lgu_fail(err, LG_EINPUT, "input: offset %llu: 'end=%s' but %s%s%s is open",
                             U64(at), cmd + 4, L.open ? "layer '" : "no layer",
                             L.open ? L.name : "", L.open ? "'" : "");
            else
                rc = seal(w, &L, st, err);
        } else if (strncmp(cmd, "labels=", 7) == 0) {
            rc = frame_labels(p, w, cmd + 7, err);
        } else if (strncmp(cmd, "meta ", 5) == 0 && strchr(cmd + 5, '=')) {
            char *eq = strchr(cmd + 5, '=');
            *eq = 0;
            rc = lg_writer_meta(w, cmd + 5, eq + 1, strlen(eq + 1), err);
        } else if (strcmp(cmd, "close") == 0) {
            rc = seal(w, &L, st, err);
            if (!rc)
                st->clean_end = 1;
            if (!rc)
                rc = lgi_trailing(p, "'LGNPY close'", err);
            break;
        } else {
            rc = lgu_fail(err, LG_EINPUT,
                         "input: offset %llu: unknown frame '%.60s' (expected layer=, end=, "
                         "labels=, meta KEY=VALUE or close)",
                         U64(at), cmd);
        }
        if (rc)
            break;
    }
    if (rc) {
        if (L.open)
            snprintf(st->lost, sizeof st->lost,
                     "rows of layer '%s' since the last commit (row %llu) were not kept", L.name,
                     U64(lg_writer_rows_committed(w)));
        if (L.open)
            lg_writer_abort_layer(w);
    }
    for (size_t i = 0; i < N.n; i++)
        free(N.v[i]);
    free(N.v);
    return rc;
}

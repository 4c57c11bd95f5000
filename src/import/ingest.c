/*
 * Ingest: activations arriving on a pipe, written to a store as they come.
 *
 * Two input forms, told apart by their first bytes:
 *   "\x89LGS"  the store's stream form (formats/store-format.md);
 *   "LGNPY"    .npy arrays, each announced by a one-line frame header
 *              (formats/npy-framing.md).
 * Memory is bounded by one record (or one block of rows) whatever the input
 * length.  A layer is committed as soon as it is complete, so an input that
 * stops early loses only the layer it stopped in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/convert.h"
#include "import/source_int.h"
#include "util/le.h"
#include "util/error.h"

#define U64(x) ((unsigned long long)(x))
#define BLOCK_BYTES (4u << 20)

/* A reader that can give back the bytes it peeked at. */
typedef struct peek {
    lg_read_fn read;
    void *ctx;
    unsigned char head[8];
    size_t head_len, head_pos;
    uint64_t offset; /* bytes handed out so far */
} peek;

static long peek_read(void *arg, void *buf, size_t len)
{
    peek *p = arg;
    if (p->head_pos < p->head_len) {
        size_t n = p->head_len - p->head_pos < len ? p->head_len - p->head_pos : len;
        memcpy(buf, p->head + p->head_pos, n);
        p->head_pos += n;
        p->offset += n;
        return (long)n;
    }
    long n = p->read(p->ctx, buf, len);
    if (n > 0)
        p->offset += (uint64_t)n;
    return n;
}

/* Reads exactly len bytes; *got < len only at the end of the input. */
static int read_full(peek *p, void *buf, size_t len, size_t *got, lg_error *err)
{
    size_t done = 0;
    while (done < len) {
        long n = peek_read(p, (char *)buf + done, len - done);
        if (n < 0)
            return lgu_fail(err, LG_EIO, "input: read failed at offset %llu",
                           U64(p->offset));
        if (n == 0)
            break;
        done += (size_t)n;
    }
    *got = done;
    return LG_OK;
}

/* ---- the stream form ---- */

static int put_meta(lg_writer *w, const unsigned char *p, size_t len, uint64_t pairs,
                    uint64_t at, lg_error *err)
{
    size_t pos = 0;
    for (uint64_t i = 0; i < pairs; i++) {
        const char *key;
        const void *val;
        uint32_t kl, vl;
        if (lg_meta_next(p, len, &pos, &key, &kl, &val, &vl) != 1)
            goto bad;
        char name[LG_MAX_NAME + 1];
        memcpy(name, key, kl);
        name[kl] = 0;
        int rc = lg_writer_meta(w, name, val, vl, err);
        if (rc)
            return rc;
    }
    if (pos == len)
        return LG_OK;
bad:
    return lgu_fail(err, LG_EINPUT, "input: meta record at offset %llu: bad key/value layout",
                    U64(at));
}

typedef struct open_layer {
    int open;
    int is_new; /* .npy frames: not named by an earlier frame (a batch-by-batch
                   input comes back to its layers) */
    uint32_t id, d;
    lg_dtype dtype;
    uint64_t rows;
    char name[LG_MAX_NAME + 1];
} open_layer;

/* A layer a batch-major stream declared (LAYER record). */
typedef struct decl {
    uint32_t id, d;
    lg_dtype dtype;
    size_t handle;   /* the writer's */
    uint64_t rows;   /* rows this stream gave it */
    char *name;
} decl;

/* A label set a batch-major stream extends (LABELS_EXTEND records). */
typedef struct ext_set {
    char *name;
    uint64_t count; /* labels this stream gave it */
} ext_set;

typedef struct stream_state {
    open_layer L;     /* a layer-by-layer (1.0) layer */
    decl *decls;
    size_t n_decls;
    ext_set *sets;
    size_t n_sets;
} stream_state;

static void free_state(stream_state *S)
{
    for (size_t i = 0; i < S->n_decls; i++)
        free(S->decls[i].name);
    free(S->decls);
    for (size_t i = 0; i < S->n_sets; i++)
        free(S->sets[i].name);
    free(S->sets);
}

static decl *find_decl(stream_state *S, uint32_t id)
{
    for (size_t i = 0; i < S->n_decls; i++)
        if (S->decls[i].id == id)
            return &S->decls[i];
    return NULL;
}

static ext_set *find_set(stream_state *S, const char *name, int create)
{
    for (size_t i = 0; i < S->n_sets; i++)
        if (strcmp(S->sets[i].name, name) == 0)
            return &S->sets[i];
    if (!create)
        return NULL;
    ext_set *p = realloc(S->sets, (S->n_sets + 1) * sizeof *p);
    if (!p)
        return NULL;
    S->sets = p;
    p[S->n_sets] = (ext_set){strdup(name), 0};
    return p[S->n_sets].name ? &p[S->n_sets++] : NULL;
}

static void lost_rows(const lg_writer *w, const stream_state *S, lg_ingest_stats *st)
{
    if (S->L.open)
        snprintf(st->lost, sizeof st->lost,
                 "the incomplete layer '%s' (%llu rows so far) was not kept", S->L.name,
                 U64(S->L.rows));
    else if (S->n_decls)
        snprintf(st->lost, sizeof st->lost,
                 "rows after row %llu (the last commit) of every layer were not kept",
                 U64(lg_writer_rows_committed(w)));
}

static int declare(stream_state *S, lg_writer *w, const lg_stream_record *r, lg_error *err)
{
    if (find_decl(S, r->layer_id))
        return lgu_fail(err, LG_EINPUT, "input: layer record at offset %llu declares layer id %u "
                       "again", U64(r->offset), r->layer_id);
    for (size_t i = 0; i < S->n_decls; i++)
        if (strcmp(S->decls[i].name, r->name) == 0)
            return lgu_fail(err, LG_EINPUT,
                           "input: layer record at offset %llu declares the name '%s' again",
                           U64(r->offset), r->name);
    decl *p = realloc(S->decls, (S->n_decls + 1) * sizeof *p);
    if (!p)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    S->decls = p;
    decl *D = &p[S->n_decls];
    *D = (decl){r->layer_id, r->d, r->dtype, 0, 0, strdup(r->name)};
    if (!D->name)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    int rc = lg_writer_layer(w, r->name, r->d, r->dtype, &D->handle, err);
    if (rc) {
        free(D->name);
        return lgu_fail_prefix(err, "input: layer record at offset %llu", U64(r->offset));
    }
    S->n_decls++;
    return LG_OK;
}

static int declared_chunk(decl *D, lg_writer *w, const lg_stream_record *r, lg_ingest_stats *st,
                          lg_error *err)
{
    if (r->d != D->d || r->dtype != D->dtype || r->first_row != D->rows)
        return lgu_fail(err, LG_EINPUT,
                       "input: chunk at offset %llu (layer '%s', rows from %llu, %u columns of "
                       "%s) does not continue its layer (%llu rows so far in this stream, %u "
                       "columns of %s)",
                       U64(r->offset), D->name, U64(r->first_row), r->d,
                       lg_dtype_name(r->dtype), U64(D->rows), D->d, lg_dtype_name(D->dtype));
    int rc = r->data_crc_known
                 ? lg_writer_add_rows_crc(w, D->handle, r->data, r->rows, r->data_crc, err)
                 : lg_writer_add_rows(w, D->handle, r->data, r->rows, err);
    if (rc)
        return rc;
    D->rows += r->rows;
    st->rows += r->rows;
    return LG_OK;
}

/* A layer-by-layer (format 1.0) chunk: one layer at a time, named by its
 * seal at the end. */
static int plain_chunk(open_layer *L, lg_writer *w, const lg_stream_record *r,
                       lg_ingest_stats *st, lg_error *err)
{
    int rc;
    if (!L->open) {
        snprintf(L->name, sizeof L->name, "~incoming-%u", r->layer_id);
        rc = lg_writer_begin_layer(w, L->name, r->d, r->dtype, err);
        if (rc)
            return rc;
        *L = (open_layer){1, 0, r->layer_id, r->d, r->dtype, 0, ""};
        snprintf(L->name, sizeof L->name, "~incoming-%u", r->layer_id);
    }
    if (r->layer_id != L->id || r->d != L->d || r->dtype != L->dtype || r->first_row != L->rows)
        return lgu_fail(err, LG_EINPUT,
                       "input: chunk at offset %llu (layer %u, rows from %llu, %u columns) "
                       "does not continue layer %u (%llu rows so far, %u columns): a stream "
                       "without LAYER records sends one layer at a time, rows in order",
                       U64(r->offset), r->layer_id, U64(r->first_row), r->d, L->id,
                       U64(L->rows), L->d);
    rc = r->data_crc_known ? lg_writer_rows_crc(w, r->data, r->rows, r->data_crc, err)
                           : lg_writer_rows(w, r->data, r->rows, err);
    if (!rc) /* rows in the store as they arrive: a follower sees them */
        rc = lg_writer_flush(w, err);
    if (rc)
        return rc;
    L->rows += r->rows;
    st->rows += r->rows;
    return LG_OK;
}

static int seal_record(stream_state *S, lg_writer *w, const lg_stream_record *r,
                       lg_ingest_stats *st, lg_error *err)
{
    decl *D = find_decl(S, r->layer_id);
    if (D) { /* optional in a batch-major stream: it must agree */
        if (r->rows != D->rows || strcmp(r->name, D->name) != 0)
            return lgu_fail(err, LG_EINPUT,
                           "input: seal at offset %llu (layer '%s', %llu rows) does not match "
                           "layer '%s' (%llu rows came)",
                           U64(r->offset), r->name, U64(r->rows), D->name, U64(D->rows));
        return LG_OK;
    }
    open_layer *L = &S->L;
    if (!L->open || r->layer_id != L->id || r->rows != L->rows)
        return lgu_fail(err, LG_EINPUT,
                       "input: seal at offset %llu (layer %u, %llu rows) does not match the "
                       "rows that came (%s%llu rows)",
                       U64(r->offset), r->layer_id, U64(r->rows),
                       L->open ? "" : "no layer open, ", U64(L->rows));
    int rc = lg_writer_name_layer(w, r->name, err);
    if (!rc)
        rc = lg_writer_end_layer(w, err);
    L->open = 0;
    if (!rc)
        st->layers++;
    return rc;
}

static int labels_record(stream_state *S, lg_writer *w, const lg_stream_record *r, int extend,
                         lg_error *err)
{
    ext_set *E = find_set(S, r->name, extend);
    if (extend && !E)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    if (extend && r->first_row != E->count)
        return lgu_fail(err, LG_EINPUT,
                       "input: labels-extend at offset %llu (set '%s'): first label %llu, but "
                       "%llu came before in this stream",
                       U64(r->offset), r->name, U64(r->first_row), U64(E->count));
    if (!extend && E) {
        /* the whole set again, at the end of a batch-major stream: it must
         * be what the extensions gave */
        if (r->rows != E->count)
            return lgu_fail(err, LG_EINPUT,
                           "input: labels at offset %llu (set '%s'): %llu labels, but the "
                           "stream extended the set to %llu",
                           U64(r->offset), r->name, U64(r->rows), U64(E->count));
        return LG_OK;
    }
    int64_t *v = malloc(r->rows ? r->rows * 8 : 8);
    if (!v)
        return lgu_fail(err, LG_ENOMEM, "out of memory for %llu labels", U64(r->rows));
    for (uint64_t i = 0; i < r->rows; i++)
        v[i] = (int64_t)lgu_get64((const unsigned char *)r->data + 8 * i);
    int rc = extend ? lg_writer_add_labels(w, r->name, v, r->rows, err)
                    : lg_writer_labels(w, r->name, v, r->rows, err);
    free(v);
    if (!rc && extend)
        E->count += r->rows;
    return rc;
}

static int stream_form(peek *p, lg_writer *w, lg_ingest_stats *st, lg_error *err)
{
    lg_stream *s;
    int rc = lg_stream_open(peek_read, p, &s, err);
    if (rc)
        return rc;
    stream_state S = {0};
    lg_stream_record r;
    while (!(rc = lg_stream_next(s, &r, err))) {
        st->records++;
        if (r.type == LG_REC_END) {
            st->clean_end = 1;
            break;
        }
        decl *D;
        switch (r.type) {
        case LG_REC_LAYER: rc = declare(&S, w, &r, err); break;
        case LG_REC_CHUNK:
            D = find_decl(&S, r.layer_id);
            rc = D ? declared_chunk(D, w, &r, st, err) : plain_chunk(&S.L, w, &r, st, err);
            break;
        case LG_REC_SEAL: rc = seal_record(&S, w, &r, st, err); break;
        case LG_REC_LABELS: rc = labels_record(&S, w, &r, 0, err); break;
        case LG_REC_LABELS_EXTEND: rc = labels_record(&S, w, &r, 1, err); break;
        case LG_REC_META: rc = put_meta(w, r.meta, r.data_len, r.rows, r.offset, err); break;
        default: break;
        }
        if (rc)
            break;
    }
    if (!rc)
        st->layers += S.n_decls;
    if (rc) {
        lost_rows(w, &S, st);
        if (S.L.open)
            lg_writer_abort_layer(w);
    }
    free_state(&S);
    lg_stream_close(s);
    return rc;
}

/* ---- .npy framing ---- */

/* Reads one line (without '\n'); *eof when the input ended before any byte. */
static int read_line(peek *p, char *line, size_t cap, int *eof, lg_error *err)
{
    size_t n = 0;
    *eof = 0;
    for (;;) {
        char c;
        size_t got;
        int rc = read_full(p, &c, 1, &got, err);
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
    int rc = read_full(p, buf, 10, &got, err);
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
    if (pre == 12 && (rc = read_full(p, buf + 10, 2, &got, err)))
        return rc;
    uint64_t hlen = pre == 10 ? lgu_get16(buf + 8) : lgu_get32(buf + 8);
    if (hlen > 65536)
        return lgu_fail(err, LG_EINPUT, "input: offset %llu: .npy header of %llu bytes is too long",
                       U64(at), U64(hlen));
    rc = read_full(p, buf + pre, (size_t)hlen, &got, err);
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
        rc = read_full(p, buf, m * row, &got, err);
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
        rc = read_full(p, raw, m * es, &got, err);
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

static int npy_framing(peek *p, lg_writer *w, lg_ingest_stats *st, lg_error *err)
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

int lg_ingest(lg_read_fn read, void *ctx, lg_writer *w, lg_ingest_stats *st, lg_error *err)
{
    memset(st, 0, sizeof *st);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    peek p = {read, ctx, {0}, 0, 0, 0};
    size_t got = 0;
    while (got < 5) {
        long n = read(ctx, p.head + got, 5 - got);
        if (n < 0)
            return lgu_fail(err, LG_EIO, "input: read failed at offset %zu", got);
        if (n == 0)
            break;
        got += (size_t)n;
    }
    p.head_len = got;
    int rc;
    if (got >= 4 && memcmp(p.head, "\x89LGS", 4) == 0) {
        st->form = 1;
        rc = stream_form(&p, w, st, err);
    } else if (got == 5 && memcmp(p.head, "LGNPY", 5) == 0) {
        st->form = 2;
        rc = npy_framing(&p, w, st, err);
    } else {
        rc = lgu_fail(err, LG_EINPUT,
                     got ? "input: offset 0: neither the stream form (\\x89LGS) nor .npy frames "
                           "(LGNPY)"
                         : "input: empty");
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    st->bytes = p.offset;
    st->seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    return rc;
}

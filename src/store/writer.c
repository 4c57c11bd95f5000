/*
 * Writing a store.  Records are appended at the end; a commit syncs them,
 * then writes a new index and trailer, then syncs again, so the trailer is
 * never on disk before the records it names.  Old indexes stay in the file
 * (a few bytes each): nothing committed is ever overwritten.
 *
 * Any number of layers may be open at once and take rows in any order (a
 * model emits every layer of one batch at once); a commit happens when
 * every layer holds the same rows ("level"), at least every
 * o.commit_seconds and o.commit_bytes while rows arrive, when a new layer
 * first becomes level, and on close.  The layer-at-a-time calls
 * (begin_layer, rows, end_layer) are a convenience over the same state: a
 * layer between begin and end is "held" and blocks commits, so a crash
 * loses it whole, as in format 1.0.
 *
 * The same code writes the stream form to a pipe: no index, an END record.
 *
 * This file: the writer's state, writing records, label sets and metadata as
 * they are given, the layer calls.  Opening (a new store, the stream form, an
 * existing store to add to) is writer_open.c; commits and closing are
 * writer_commit.c; the layers' chunk buffers and their records writer_rows.c.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "codec/codec.h"
#include "codec/convert.h"
#include "codec/crc32c.h"
#include "store/writer_int.h"
#include "util/error.h"
#include "util/io.h"

#define U64(x) ((unsigned long long)(x))

void lg_writer_opts_default(lg_writer_opts *o)
{
    memset(o, 0, sizeof *o);
    o->codec = LG_CODEC_NONE;
    o->filter = LG_FILTER_NONE;
    o->dtype = LG_DTYPE_KEEP;
    o->durable = 1;
    o->commit_seconds = 5.0;
    o->commit_bytes = 256ull << 20;
}

double lgw_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int lgw_io_fail(lg_writer *w, int e, const char *what, lg_error *err)
{
    w->failed = 1;
    lgu_fail(err, LG_EIO, "%s: cannot %s at offset %llu: %s", w->path, what, U64(w->off),
             strerror(e));
    if (w->stream)
        return LG_EIO;
    /* Cut the file back to the end of the last commit: what follows was not
     * committed (its rows are lost either way), and the store is then clean
     * -- it opens without a warning and verifies without a repair.  Cutting
     * needs no space, so it works on a full disk.  With no commit to go back
     * to (a store opened without a valid index), only the partial record is
     * dropped, so that the file ends on a record boundary. */
    uint64_t to = w->commit_end ? w->commit_end : w->off;
    assert(to <= w->off);
    if (lgu_io_truncate(w->fd, (off_t)to) == 0 && to < w->off) {
        size_t used = strlen(err->msg);
        snprintf(err->msg + used, sizeof err->msg - used,
                 "; the store was cut back to its last commit (offset %llu)", U64(to));
    }
    return LG_EIO;
}

/* Writes a record whose payload CRC is already in h (known_crc) or is
 * computed here. */
int lgw_put_record(lg_writer *w, lgs_header *h, const void *payload, int known_crc,
                   lg_error *err)
{
    static const unsigned char zeros[LGS_ALIGN];
    unsigned char head[LGS_RECORD_HEADER_SIZE];
    if (w->failed)
        return lgu_fail(err, LG_EIO, "%s: an earlier write failed; nothing more is written",
                       w->path);
    if (!known_crc)
        h->payload_crc = h->stored_size ? lgc_crc32c(0, payload, h->stored_size) : 0;
    lgs_encode_header(h, head);
    uint64_t at = w->off;
    int e = lgu_io_write(w->fd, head, sizeof head, w->stream ? -1 : (off_t)at);
    if (!e && h->stored_size)
        e = lgu_io_write(w->fd, payload, h->stored_size,
                        w->stream ? -1 : (off_t)(at + LGS_RECORD_HEADER_SIZE));
    uint64_t pad = lgs_pad(h->stored_size) - h->stored_size;
    if (!e && pad)
        e = lgu_io_write(w->fd, zeros, pad,
                        w->stream ? -1 : (off_t)(at + LGS_RECORD_HEADER_SIZE + h->stored_size));
    if (e)
        return lgw_io_fail(w, e, "write a record", err);
    w->off += lgs_record_span(h->stored_size);
    w->n_records++;
    w->dirty = 1;
    return LG_OK;
}

static void free_labels(wlabels *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].v);
    }
    free(v);
}

void lgw_free_writer(lg_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0 && !w->stream)
        close(w->fd); /* also drops the lock */
    for (size_t i = 0; i < w->n_layers; i++)
        lgw_free_layer(w->layers[i]);
    free(w->layers);
    free_labels(w->labels, w->n_labels);
    for (size_t i = 0; i < w->n_meta; i++) {
        free(w->meta[i].key);
        free(w->meta[i].val);
    }
    free(w->meta);
    free(w->shuf);
    free(w->comp);
    free(w->path);
    free(w);
}

lg_writer *lgw_new_writer(const char *path, const lg_writer_opts *o)
{
    lg_writer *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->fd = -1;
    w->cur = -1;
    w->path = strdup(path);
    if (!w->path) {
        free(w);
        return NULL;
    }
    if (o)
        w->o = *o;
    else
        lg_writer_opts_default(&w->o);
    w->last_commit = lgw_now();
    return w;
}

int lgw_push_layer(lg_writer *w, wlayer *L)
{
    wlayer **p = realloc(w->layers, (w->n_layers + 1) * sizeof *p);
    if (!p)
        return LG_ENOMEM;
    w->layers = p;
    p[w->n_layers++] = L;
    return LG_OK;
}

static wlabels *find_labels(lg_writer *w, const char *name)
{
    for (size_t i = 0; i < w->n_labels; i++)
        if (strcmp(w->labels[i].name, name) == 0)
            return &w->labels[i];
    return NULL;
}

wlabels *lgw_new_labels(lg_writer *w, const char *name)
{
    wlabels *p = realloc(w->labels, (w->n_labels + 1) * sizeof *p);
    if (!p)
        return NULL;
    w->labels = p;
    wlabels *S = &p[w->n_labels];
    memset(S, 0, sizeof *S);
    S->name = strdup(name);
    if (!S->name)
        return NULL;
    w->n_labels++;
    return S;
}

int lgw_grow_labels(wlabels *S, uint64_t need)
{
    if (need <= S->cap)
        return LG_OK;
    uint64_t cap = S->cap ? 2 * S->cap : 1024;
    while (cap < need)
        cap *= 2;
    int64_t *v = realloc(S->v, cap * sizeof *v);
    if (!v)
        return LG_ENOMEM;
    S->v = v;
    S->cap = cap;
    return LG_OK;
}

size_t lg_writer_layer_count(const lg_writer *w)
{
    size_t n = 0;
    for (size_t i = 0; i < w->n_layers; i++)
        n += w->layers[i] && w->layers[i]->committed;
    return n;
}

uint64_t lg_writer_rows_committed(const lg_writer *w)
{
    return w->committed_rows;
}

int lg_writer_meta(lg_writer *w, const char *key, const void *val, size_t len, lg_error *err)
{
    size_t kl = strlen(key);
    if (!kl || kl > LGS_MAX_NAME || len > LGS_MAX_META_BYTES / 2)
        return lgu_fail(err, LG_EUSAGE, "metadata key '%s': empty or too long, or value too long",
                       key);
    unsigned char *v = malloc(len + 1);
    if (!v)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    memcpy(v, val, len);
    v[len] = 0;
    for (size_t i = 0; i < w->n_meta; i++)
        if (strcmp(w->meta[i].key, key) == 0) {
            free(w->meta[i].val);
            w->meta[i].val = v;
            w->meta[i].len = len;
            w->meta_dirty = 1;
            return LG_OK;
        }
    lgs_kv *p = realloc(w->meta, (w->n_meta + 1) * sizeof *p);
    char *k = strdup(key);
    if (!p || !k) {
        if (p)
            w->meta = p;
        free(v);
        free(k);
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    }
    w->meta = p;
    p[w->n_meta].key = k;
    p[w->n_meta].val = v;
    p[w->n_meta].len = len;
    w->n_meta++;
    w->meta_dirty = 1;
    return LG_OK;
}

/* ---- labels ---- */

/* The rows the store is at for a check made when labels are given: those
 * of a layer that is not being written, else of a label set, else none. */
static int reference_rows(const lg_writer *w, uint64_t *n)
{
    for (size_t i = 0; i < w->n_layers; i++) {
        const wlayer *L = w->layers[i];
        if (L && !L->held && L->rows) {
            *n = L->rows;
            return 1;
        }
    }
    if (w->committed_rows) {
        *n = w->committed_rows;
        return 1;
    }
    return 0;
}

int lg_writer_labels(lg_writer *w, const char *name, const int64_t *labels, uint64_t n,
                     lg_error *err)
{
    size_t nl = strlen(name);
    if (!nl || nl > LGS_MAX_NAME)
        return lgu_fail(err, LG_EUSAGE, "label set name empty or too long");
    uint64_t rows;
    if (reference_rows(w, &rows) && n != rows)
        return lgu_fail(err, LG_EINPUT, "%s: %llu labels for a store of %llu rows", w->path,
                       U64(n), U64(rows));
    wlabels *S = find_labels(w, name);
    if (!S && !(S = lgw_new_labels(w, name)))
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    if (lgw_grow_labels(S, n ? n : 1))
        return lgu_fail(err, LG_ENOMEM, "out of memory for %llu labels", U64(n));
    memcpy(S->v, labels, n * sizeof *labels);
    S->n = n;
    S->replaced = 1;
    if (w->stream) /* the stream form writes a label set as it is given */
        return LG_OK;
    return lgw_maybe_commit(w, 1, err);
}

int lg_writer_add_labels(lg_writer *w, const char *name, const int64_t *labels, uint64_t n,
                         lg_error *err)
{
    size_t nl = strlen(name);
    if (!nl || nl > LGS_MAX_NAME)
        return lgu_fail(err, LG_EUSAGE, "label set name empty or too long");
    wlabels *S = find_labels(w, name);
    if (!S && !(S = lgw_new_labels(w, name)))
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    if (n > (1ull << 40) || lgw_grow_labels(S, S->n + n))
        return lgu_fail(err, LG_ENOMEM, "out of memory for %llu labels", U64(S->n + n));
    memcpy(S->v + S->n, labels, n * sizeof *labels);
    S->n += n;
    return w->stream ? LG_OK : lgw_maybe_commit(w, 0, err);
}

/* ---- layers ---- */

static int name_taken(const lg_writer *w, const char *name, const wlayer *except)
{
    for (size_t i = 0; i < w->n_layers; i++)
        if (w->layers[i] && w->layers[i] != except && strcmp(w->layers[i]->name, name) == 0)
            return 1;
    return 0;
}

static int check_name(const char *name, lg_error *err)
{
    size_t nl = strlen(name);
    if (!nl || nl > LGS_MAX_NAME)
        return lgu_fail(err, LG_EUSAGE, "layer name empty or longer than %u bytes", LGS_MAX_NAME);
    return LG_OK;
}

/* A new layer in the writer's table; *handle its index. */
static int open_new(lg_writer *w, const char *name, uint32_t d, lg_dtype src, int declare,
                    size_t *handle, lg_error *err)
{
    int rc = check_name(name, err);
    if (rc)
        return rc;
    if (d == 0 || d > LGS_MAX_D)
        return lgu_fail(err, LG_EINPUT, "layer '%s': %u columns (expected 1..%u)", name, d,
                       LGS_MAX_D);
    if (!lg_dtype_size(src))
        return lgu_fail(err, LG_EUSAGE, "layer '%s': unknown source dtype", name);
    lg_dtype dst = w->o.dtype == LG_DTYPE_KEEP ? src : w->o.dtype;
    wlayer *L = lgw_new_layer(w, name, d, src, dst, err);
    if (!L)
        return LG_ENOMEM;
    L->id = w->next_id++;
    if (lgw_push_layer(w, L)) {
        lgw_free_layer(L);
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    }
    *handle = w->n_layers - 1;
    if (w->stream && declare && (rc = lgw_stream_declare(w, L, err)))
        return rc;
    return LG_OK;
}

static long find_layer(const lg_writer *w, const char *name)
{
    for (size_t i = 0; i < w->n_layers; i++)
        if (w->layers[i] && strcmp(w->layers[i]->name, name) == 0)
            return (long)i;
    return -1;
}

int lg_writer_layer(lg_writer *w, const char *name, uint32_t d, lg_dtype src, size_t *handle,
                    lg_error *err)
{
    long i = find_layer(w, name);
    if (i < 0)
        return open_new(w, name, d, src, 1, handle, err);
    wlayer *L = w->layers[i];
    if (L->d != d)
        return lgu_fail(err, LG_EINPUT, "%s: layer '%s' has %u columns; rows of %u were given",
                       w->path, name, L->d, d);
    if (!lg_dtype_size(src))
        return lgu_fail(err, LG_EUSAGE, "layer '%s': unknown source dtype", name);
    if (L->held && (long)w->cur != i)
        return lgu_fail(err, LG_EUSAGE, "%s: layer '%s' is being written layer by layer",
                       w->path, name);
    /* rows may come in another type from now on: the buffer holds the
     * stored type, so only the conversion changes */
    L->src = src;
    *handle = (size_t)i;
    return LG_OK;
}

static wlayer *handle_layer(lg_writer *w, size_t handle, lg_error *err)
{
    if (handle >= w->n_layers || !w->layers[handle]) {
        lgu_fail(err, LG_EUSAGE, "%s: no open layer with handle %zu", w->path, handle);
        return NULL;
    }
    return w->layers[handle];
}

int lg_writer_add_rows(lg_writer *w, size_t handle, const void *rows, uint64_t n, lg_error *err)
{
    wlayer *L = handle_layer(w, handle, err);
    if (!L)
        return LG_EUSAGE;
    int rc = lgw_add_rows(w, L, rows, n, NULL, err);
    return rc ? rc : lgw_maybe_commit(w, 0, err);
}

int lg_writer_add_rows_crc(lg_writer *w, size_t handle, const void *rows, uint64_t n,
                           uint32_t crc, lg_error *err)
{
    wlayer *L = handle_layer(w, handle, err);
    if (!L)
        return LG_EUSAGE;
    int rc = lgw_add_rows(w, L, rows, n, &crc, err);
    return rc ? rc : lgw_maybe_commit(w, 0, err);
}

uint64_t lg_writer_rows_of(const lg_writer *w, size_t handle)
{
    return handle < w->n_layers && w->layers[handle] ? w->layers[handle]->rows : 0;
}

/* ---- the layer-at-a-time calls ---- */

wlayer *lgw_current(lg_writer *w)
{
    return w->cur >= 0 ? w->layers[w->cur] : NULL;
}

int lg_writer_begin_layer(lg_writer *w, const char *name, uint32_t d, lg_dtype src,
                          lg_error *err)
{
    if (lgw_current(w))
        return lgu_fail(err, LG_EUSAGE, "%s: layer '%s' is still open", w->path,
                       lgw_current(w)->name);
    int rc = check_name(name, err);
    if (rc)
        return rc;
    if (name_taken(w, name, NULL))
        return lgu_fail(err, LG_EUSAGE, "%s: the store already has a layer named '%s'", w->path,
                       name);
    size_t h;
    rc = open_new(w, name, d, src, 0, &h, err);
    if (rc)
        return rc;
    w->layers[h]->held = 1;
    w->cur = (long)h;
    return LG_OK;
}

int lg_writer_resume_layer(lg_writer *w, const char *name, uint32_t d, lg_dtype src,
                           lg_error *err)
{
    if (lgw_current(w))
        return lgu_fail(err, LG_EUSAGE, "%s: layer '%s' is still open", w->path,
                       lgw_current(w)->name);
    if (find_layer(w, name) < 0)
        return lg_writer_begin_layer(w, name, d, src, err);
    size_t h;
    int rc = lg_writer_layer(w, name, d, src, &h, err);
    if (rc)
        return rc;
    w->layers[h]->held = 1;
    w->cur = (long)h;
    return LG_OK;
}

int lg_writer_rows(lg_writer *w, const void *rows, uint64_t n, lg_error *err)
{
    wlayer *L = lgw_current(w);
    if (!L)
        return lgu_fail(err, LG_EUSAGE, "%s: rows given outside a layer", w->path);
    return lgw_add_rows(w, L, rows, n, NULL, err);
}

int lg_writer_rows_crc(lg_writer *w, const void *rows, uint64_t n, uint32_t crc, lg_error *err)
{
    wlayer *L = lgw_current(w);
    if (!L)
        return lgu_fail(err, LG_EUSAGE, "%s: rows given outside a layer", w->path);
    return lgw_add_rows(w, L, rows, n, &crc, err);
}

int lg_writer_flush(lg_writer *w, lg_error *err)
{
    wlayer *L = lgw_current(w);
    return L ? lgw_flush_layer(w, L, err) : LG_OK;
}

/* A new name for L (not another layer's); the next commit writes its SEAL
 * anew: the same chunks under the new name. */
static int set_name(lg_writer *w, wlayer *L, const char *name, lg_error *err)
{
    if (name_taken(w, name, L))
        return lgu_fail(err, LG_EUSAGE, "%s: the store already has a layer named '%s'", w->path,
                        name);
    char *copy = strdup(name);
    if (!copy)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    free(L->name);
    L->name = copy;
    L->renamed = 1;
    return LG_OK;
}

int lg_writer_name_layer(lg_writer *w, const char *name, lg_error *err)
{
    wlayer *L = lgw_current(w);
    if (!L)
        return lgu_fail(err, LG_EUSAGE, "%s: no layer is open", w->path);
    int rc = check_name(name, err);
    if (rc)
        return rc;
    return set_name(w, L, name, err);
}

int lg_writer_rename_layer(lg_writer *w, const char *name, const char *new_name, lg_error *err)
{
    if (w->stream)
        return lgu_fail(err, LG_EUSAGE, "the stream form names a layer once: no renaming");
    long i = name ? find_layer(w, name) : -1;
    if (i < 0)
        return lgu_fail(err, LG_ENOTFOUND, "%s: no layer '%s'", w->path, name ? name : "");
    wlayer *L = w->layers[i];
    int rc = check_name(new_name, err);
    return rc ? rc : set_name(w, L, new_name, err);
}

uint64_t lg_writer_layer_rows(const lg_writer *w)
{
    return w->cur >= 0 ? w->layers[w->cur]->rows : 0;
}

/* Drops a layer that no commit holds: its records stay in the file,
 * unreferenced, and are never read. */
void lgw_drop_layer(lg_writer *w, size_t i)
{
    lgw_free_layer(w->layers[i]);
    w->layers[i] = NULL;
    if (w->cur == (long)i)
        w->cur = -1;
}

void lg_writer_abort_layer(lg_writer *w)
{
    wlayer *L = lgw_current(w);
    if (!L)
        return;
    if (!L->committed) {
        lgw_drop_layer(w, (size_t)w->cur);
        return;
    }
    /* a committed layer that took rows since: they cannot be taken back one
     * layer at a time, so the writer stops (the last commit stands) */
    w->failed = 1;
    w->cur = -1;
}

int lg_writer_end_layer(lg_writer *w, lg_error *err)
{
    wlayer *L = lgw_current(w);
    if (!L)
        return lgu_fail(err, LG_EUSAGE, "%s: no layer is open", w->path);
    int rc = LG_OK;
    if (!L->committed) {
        /* a new layer must describe the inputs the others do */
        uint64_t rows;
        L->held = 0;
        int have = reference_rows(w, &rows);
        L->held = 1;
        if (L->rows == 0)
            rc = lgu_fail(err, LG_EINPUT, "%s: layer '%s' has no rows", w->path, L->name);
        else if (have && L->rows != rows)
            rc = lgu_fail(err, LG_EINPUT,
                         "%s: layer '%s' has %llu rows but the store's layers have %llu: every "
                         "layer must describe the same inputs",
                         w->path, L->name, U64(L->rows), U64(rows));
        if (rc) {
            lgw_drop_layer(w, (size_t)w->cur);
            return rc;
        }
    }
    L->held = 0;
    w->cur = -1;
    if (w->stream) {
        rc = lgw_flush_layer(w, L, err);
        if (!rc && !L->declared)
            rc = lgw_seal_record(w, L, 1, err);
        if (!rc)
            L->stream_sealed = !L->declared;
        return rc;
    }
    return lgw_maybe_commit(w, 1, err);
}

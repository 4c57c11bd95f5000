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
    /* drop a partial record so the file ends on a record boundary */
    if (!w->stream)
        (void)lg_io_truncate(w->fd, (off_t)w->off);
    return lg_fail(err, LG_EIO, "%s: cannot %s at offset %llu: %s", w->path, what, U64(w->off),
                   strerror(e));
}

/* Writes a record whose payload CRC is already in h (known_crc) or is
 * computed here. */
int lgw_put_record(lg_writer *w, lgs_header *h, const void *payload, int known_crc,
                   lg_error *err)
{
    static const unsigned char zeros[LGS_ALIGN];
    unsigned char head[LGS_RECORD_HEADER_SIZE];
    if (w->failed)
        return lg_fail(err, LG_EIO, "%s: an earlier write failed; nothing more is written",
                       w->path);
    if (!known_crc)
        h->payload_crc = h->stored_size ? lg_crc32c(0, payload, h->stored_size) : 0;
    lgs_encode_header(h, head);
    uint64_t at = w->off;
    int e = lg_io_write(w->fd, head, sizeof head, w->stream ? -1 : (off_t)at);
    if (!e && h->stored_size)
        e = lg_io_write(w->fd, payload, h->stored_size,
                        w->stream ? -1 : (off_t)(at + LGS_RECORD_HEADER_SIZE));
    uint64_t pad = lgs_pad(h->stored_size) - h->stored_size;
    if (!e && pad)
        e = lg_io_write(w->fd, zeros, pad,
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

static void free_writer(lg_writer *w)
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

static lg_writer *new_writer(const char *path, const lg_writer_opts *o)
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

static int check_opts(const lg_writer_opts *o, const char *path, lg_error *err)
{
    if (!o)
        return LG_OK;
    if (o->codec > LG_CODEC_ZSTD || o->filter > LG_FILTER_SHUFFLE || o->dtype > LG_F64)
        return lg_fail(err, LG_EUSAGE, "%s: invalid writer options (codec, filter or dtype)",
                       path);
    if (o->codec == LG_CODEC_ZSTD && (o->level < -7 || o->level > 22))
        return lg_fail(err, LG_EUSAGE, "zstd level %d outside -7..22", o->level);
    if (o->codec == LG_CODEC_LZ4 && (o->level < 0 || o->level > 12))
        return lg_fail(err, LG_EUSAGE, "lz4 level %d outside 0..12", o->level);
    if (!(o->commit_seconds >= 0) || o->commit_seconds > 1e9)
        return lg_fail(err, LG_EUSAGE, "commit interval %g s: expected 0 (off) .. 1e9",
                       o->commit_seconds);
    return LG_OK;
}

static int write_file_header(lg_writer *w, uint32_t flags, lg_error *err)
{
    unsigned char h[LGS_FILE_HEADER_SIZE];
    lgs_encode_file_header(h, flags);
    int e = lg_io_write(w->fd, h, sizeof h, w->stream ? -1 : 0);
    if (e)
        return lgw_io_fail(w, e, "write the file header", err);
    w->off = LGS_FILE_HEADER_SIZE;
    return LG_OK;
}

static int lock_or_busy(lg_writer *w, lg_error *err)
{
    if (flock(w->fd, LOCK_EX | LOCK_NB) == 0)
        return LG_OK;
    if (errno == EWOULDBLOCK)
        return lg_fail(err, LG_EBUSY,
                       "%s: another process is writing this store (it holds the writer lock); "
                       "readers may go on, a second writer may not",
                       w->path);
    return lg_fail(err, LG_EIO, "%s: cannot lock: %s", w->path, strerror(errno));
}

int lg_writer_create(const char *path, const lg_writer_opts *o, lg_writer **out, lg_error *err)
{
    *out = NULL;
    int rc = check_opts(o, path, err);
    if (rc)
        return rc;
    lg_writer *w = new_writer(path, o);
    if (!w)
        return lg_fail(err, LG_ENOMEM, "out of memory");
    w->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        rc = lg_fail(err, errno == EEXIST ? LG_EUSAGE : LG_EIO, "%s: cannot create: %s%s", path,
                     strerror(errno),
                     errno == EEXIST ? " (use --append to add layers, or remove it first)" : "");
        free_writer(w);
        return rc;
    }
    rc = lock_or_busy(w, err);
    if (!rc)
        rc = write_file_header(w, 0, err);
    w->dirty = 1; /* an empty store is a valid store: give it an index */
    if (!rc)
        rc = lg_writer_commit(w, err);
    if (rc) {
        /* we created it and it never became a store: leave nothing behind */
        if (rc != LG_EBUSY)
            unlink(path);
        free_writer(w);
        return rc;
    }
    *out = w;
    return LG_OK;
}

int lg_writer_stream(int fd, const lg_writer_opts *o, lg_writer **out, lg_error *err)
{
    *out = NULL;
    int rc = check_opts(o, "stream", err);
    if (rc)
        return rc;
    lg_writer *w = new_writer("stream", o);
    if (!w)
        return lg_fail(err, LG_ENOMEM, "out of memory");
    w->fd = fd;
    w->stream = 1;
    rc = write_file_header(w, LGS_FLAG_STREAM, err);
    if (rc) {
        free_writer(w);
        return rc;
    }
    *out = w;
    return LG_OK;
}

static int push_layer(lg_writer *w, wlayer *L)
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

static wlabels *new_labels(lg_writer *w, const char *name)
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

static int grow_labels(wlabels *S, uint64_t need)
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

/* Takes over the live state of an opened store: every layer may grow. */
static int adopt(lg_writer *w, lg_store *s, lg_error *err)
{
    for (size_t i = 0; i < s->n_layers; i++) {
        const lgs_layer *SL = &s->layers[i];
        wlayer *L = lgw_new_layer(w, SL->name, SL->d, (lg_dtype)SL->dtype, (lg_dtype)SL->dtype,
                                  err);
        if (!L)
            return LG_ENOMEM;
        L->id = SL->id;
        L->rows = L->flushed = L->committed = SL->n;
        L->crc = SL->content_crc;
        L->head = SL->seal_off;
        L->depth = SL->depth;
        L->chunks = malloc((SL->n_chunks ? SL->n_chunks : 1) * sizeof *L->chunks);
        if (!L->chunks || push_layer(w, L)) {
            lgw_free_layer(L);
            return lg_fail(err, LG_ENOMEM, "out of memory");
        }
        L->cap_chunks = SL->n_chunks ? SL->n_chunks : 1;
        for (size_t k = 0; k < SL->n_chunks; k++)
            L->chunks[k] = s->chunks[SL->first_chunk + k].off;
        L->n_chunks = L->n_chunks_committed = SL->n_chunks;
        if (SL->id >= w->next_id)
            w->next_id = SL->id + 1;
    }
    /* ids that chunks of a dropped layer (a crash mid-layer) carry are not
     * reused either, so the file stays a valid stream */
    if (s->max_chunk_id >= w->next_id && s->max_chunk_id != UINT32_MAX)
        w->next_id = s->max_chunk_id + 1;
    for (size_t i = 0; i < s->n_labels; i++) {
        wlabels *S = new_labels(w, s->labels[i].name);
        if (!S || grow_labels(S, s->labels[i].n ? s->labels[i].n : 1))
            return lg_fail(err, LG_ENOMEM, "out of memory");
        memcpy(S->v, s->labels[i].values, s->labels[i].n * sizeof *S->v);
        S->n = S->committed = s->labels[i].n;
        S->head = s->labels[i].off;
        S->depth = s->labels[i].depth;
    }
    for (size_t i = 0; i < s->n_meta; i++) {
        int rc = lg_writer_meta(w, s->meta[i].key, s->meta[i].val, s->meta[i].len, err);
        if (rc)
            return rc;
    }
    w->meta_off = s->meta_off;
    w->meta_dirty = 0;
    w->committed_rows = lg_store_rows(s);
    w->generation = s->generation;
    return LG_OK;
}

/* Is there a valid data record anywhere at or after off?  Cutting the file
 * there would lose it. */
static int data_after(const lg_store *s, uint64_t off)
{
    for (off = (off + LGS_ALIGN) & ~(uint64_t)(LGS_ALIGN - 1); off + 64 <= s->size;
         off += LGS_ALIGN) {
        lgs_header h;
        if (!lgs_decode_header(s->map + off, &h) && h.type >= LGS_CHUNK && h.type <= LGS_META)
            return 1;
    }
    return 0;
}

/* Copies the bytes from off to the end of the file into PATH.tail-OFF. */
static int save_tail(const lg_store *s, uint64_t off, char *name, size_t cap, lg_error *err)
{
    snprintf(name, cap, "%s.tail-%llu", s->path, U64(off));
    int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return lg_fail(err, LG_EIO, "%s: cannot create: %s", name, strerror(errno));
    int e = lg_io_write(fd, s->map + off, s->size - off, 0);
    if (!e)
        e = lg_io_sync(fd);
    close(fd);
    if (e)
        return lg_fail(err, LG_EIO, "%s: cannot write: %s", name, strerror(e));
    return LG_OK;
}

/* Opens path for writing, repairing a torn end.  *note (may be NULL) says
 * what was repaired. */
static int open_existing(const char *path, const lg_writer_opts *o, lg_writer **out, char *note,
                         size_t note_cap, lg_error *err)
{
    *out = NULL;
    if (note && note_cap)
        note[0] = 0;
    int rc = check_opts(o, path, err);
    if (rc)
        return rc;
    lg_writer *w = new_writer(path, o);
    if (!w)
        return lg_fail(err, LG_ENOMEM, "out of memory");
    w->fd = open(path, O_RDWR | O_CLOEXEC);
    if (w->fd < 0) {
        rc = lg_fail(err, errno == ENOENT ? LG_ENOTFOUND : LG_EIO, "%s: cannot open: %s", path,
                     strerror(errno));
        free_writer(w);
        return rc;
    }
    rc = lock_or_busy(w, err);
    int dup_fd = rc ? -1 : dup(w->fd);
    lg_store *s = NULL;
    if (!rc && dup_fd < 0)
        rc = lg_fail(err, LG_EIO, "%s: dup: %s", path, strerror(errno));
    if (!rc) {
        rc = lgs_open_fd(path, dup_fd, 0, &s, err);
        if (rc)
            close(dup_fd);
    }
    if (!rc && (s->file_flags & LGS_FLAG_STREAM))
        rc = lg_fail(err, LG_EUSAGE,
                     "%s: is in stream form; ingest it into a store instead of appending", path);
    if (!rc && s->recovered && s->end < s->size) {
        if (s->damage_kind == 2 && data_after(s, s->end)) {
            rc = lg_fail(err, LG_ECORRUPT,
                         "%s: damaged record at offset %llu is followed by valid records; "
                         "refusing to cut the file there (export the good layers instead)",
                         path, U64(s->end));
        } else {
            char tail[4200];
            rc = save_tail(s, s->end, tail, sizeof tail, err);
            if (!rc && lg_io_truncate(w->fd, (off_t)s->end))
                rc = lg_fail(err, LG_EIO, "%s: cannot truncate to %llu: %s", path, U64(s->end),
                             strerror(errno));
            if (!rc && note)
                snprintf(note, note_cap,
                         "cut the file at offset %llu (an incomplete record); the %llu bytes cut "
                         "were saved in %s",
                         U64(s->end), U64(s->size - s->end), tail);
        }
    }
    if (!rc)
        rc = adopt(w, s, err);
    if (!rc) {
        w->off = s->end;
        w->dirty = s->recovered; /* a recovered store gets a fresh index on commit */
    }
    lg_store_close(s);
    if (rc) {
        free_writer(w);
        return rc;
    }
    *out = w;
    return LG_OK;
}

int lg_writer_append(const char *path, const lg_writer_opts *o, lg_writer **out, lg_error *err)
{
    return open_existing(path, o, out, NULL, 0, err);
}

int lg_store_repair(const char *path, char *note, size_t note_cap, lg_error *err)
{
    lg_writer *w;
    char cut[LG_ERROR_MSG_MAX];
    int rc = open_existing(path, NULL, &w, cut, sizeof cut, err);
    if (rc)
        return rc;
    int was_dirty = w->dirty;
    rc = was_dirty ? lg_writer_commit(w, err) : LG_OK;
    free_writer(w);
    if (rc)
        return rc;
    if (note && note_cap)
        snprintf(note, note_cap, "%s%s%s", cut, cut[0] ? "; " : "",
                 was_dirty ? "wrote a new index" : "the store was already clean");
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
        return lg_fail(err, LG_EUSAGE, "metadata key '%s': empty or too long, or value too long",
                       key);
    unsigned char *v = malloc(len + 1);
    if (!v)
        return lg_fail(err, LG_ENOMEM, "out of memory");
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
        return lg_fail(err, LG_ENOMEM, "out of memory");
    }
    w->meta = p;
    p[w->n_meta].key = k;
    p[w->n_meta].val = v;
    p[w->n_meta].len = len;
    w->n_meta++;
    w->meta_dirty = 1;
    return LG_OK;
}

static int write_meta(lg_writer *w, lg_error *err)
{
    if (!w->meta_dirty)
        return LG_OK;
    size_t len = 0;
    for (size_t i = 0; i < w->n_meta; i++)
        len += 8 + strlen(w->meta[i].key) + w->meta[i].len;
    if (len > LGS_MAX_META_BYTES)
        return lg_fail(err, LG_EUSAGE, "%s: metadata too large (%zu bytes)", w->path, len);
    unsigned char *p = malloc(len ? len : 1), *q = p;
    if (!p)
        return lg_fail(err, LG_ENOMEM, "out of memory");
    for (size_t i = 0; i < w->n_meta; i++) {
        uint32_t kl = (uint32_t)strlen(w->meta[i].key);
        lgs_put32(q, kl);
        lgs_put32(q + 4, (uint32_t)w->meta[i].len);
        memcpy(q + 8, w->meta[i].key, kl);
        memcpy(q + 8 + kl, w->meta[i].val, w->meta[i].len);
        q += 8 + kl + w->meta[i].len;
    }
    lgs_header h = {.type = LGS_META, .stored_size = len, .raw_size = len, .a = w->n_meta};
    uint64_t at = w->off;
    int rc = lgw_put_record(w, &h, p, 0, err);
    free(p);
    if (!rc) {
        w->meta_off = at;
        w->meta_dirty = 0;
    }
    return rc;
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
        return lg_fail(err, LG_EUSAGE, "label set name empty or too long");
    uint64_t rows;
    if (reference_rows(w, &rows) && n != rows)
        return lg_fail(err, LG_EINPUT, "%s: %llu labels for a store of %llu rows", w->path,
                       U64(n), U64(rows));
    wlabels *S = find_labels(w, name);
    if (!S && !(S = new_labels(w, name)))
        return lg_fail(err, LG_ENOMEM, "out of memory");
    if (grow_labels(S, n ? n : 1))
        return lg_fail(err, LG_ENOMEM, "out of memory for %llu labels", U64(n));
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
        return lg_fail(err, LG_EUSAGE, "label set name empty or too long");
    wlabels *S = find_labels(w, name);
    if (!S && !(S = new_labels(w, name)))
        return lg_fail(err, LG_ENOMEM, "out of memory");
    if (n > (1ull << 40) || grow_labels(S, S->n + n))
        return lg_fail(err, LG_ENOMEM, "out of memory for %llu labels", U64(S->n + n));
    memcpy(S->v + S->n, labels, n * sizeof *labels);
    S->n += n;
    return w->stream ? LG_OK : lgw_maybe_commit(w, 0, err);
}

/* LABELS (full) or LABELS_EXTEND (the labels since the last commit). */
static int write_labels(lg_writer *w, wlabels *S, int full, lg_error *err)
{
    size_t nl = strlen(S->name), pre = lgs_name_prefix_len(nl);
    uint64_t first = full ? 0 : S->committed, count = S->n - first;
    uint64_t at8 = full ? pre : pre + 16, len = at8 + 8 * count;
    unsigned char *p = calloc(1, len);
    if (!p)
        return lg_fail(err, LG_ENOMEM, "out of memory for %llu labels", U64(count));
    lgs_put_name(p, S->name, nl);
    if (!full) {
        lgs_put64(p + pre, S->head);
        lgs_put64(p + pre + 8, first);
    }
    for (uint64_t i = 0; i < count; i++)
        lgs_put64(p + at8 + 8 * i, (uint64_t)S->v[first + i]);
    lgs_header h = {.type = full ? LGS_LABELS : LGS_LABELS_EXTEND, .stored_size = len,
                    .raw_size = len, .a = S->n};
    uint64_t at = w->off;
    int rc = lgw_put_record(w, &h, p, 0, err);
    free(p);
    if (rc)
        return rc;
    S->head = at;
    S->depth = full ? 0 : S->depth + 1;
    S->committed = S->n;
    S->replaced = 0;
    return LG_OK;
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
        return lg_fail(err, LG_EUSAGE, "layer name empty or longer than %u bytes", LGS_MAX_NAME);
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
        return lg_fail(err, LG_EINPUT, "layer '%s': %u columns (expected 1..%u)", name, d,
                       LGS_MAX_D);
    if (!lg_dtype_size(src))
        return lg_fail(err, LG_EUSAGE, "layer '%s': unknown source dtype", name);
    lg_dtype dst = w->o.dtype == LG_DTYPE_KEEP ? src : w->o.dtype;
    wlayer *L = lgw_new_layer(w, name, d, src, dst, err);
    if (!L)
        return LG_ENOMEM;
    L->id = w->next_id++;
    if (push_layer(w, L)) {
        lgw_free_layer(L);
        return lg_fail(err, LG_ENOMEM, "out of memory");
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
        return lg_fail(err, LG_EINPUT, "%s: layer '%s' has %u columns; rows of %u were given",
                       w->path, name, L->d, d);
    if (!lg_dtype_size(src))
        return lg_fail(err, LG_EUSAGE, "layer '%s': unknown source dtype", name);
    if (L->held && (long)w->cur != i)
        return lg_fail(err, LG_EUSAGE, "%s: layer '%s' is being written layer by layer",
                       w->path, name);
    if (L->src != src) {
        /* rows of another type from now on: the buffer already holds the
         * stored type, so only the conversion changes */
        L->src = src;
    }
    *handle = (size_t)i;
    return LG_OK;
}

static wlayer *handle_layer(lg_writer *w, size_t handle, lg_error *err)
{
    if (handle >= w->n_layers || !w->layers[handle]) {
        lg_fail(err, LG_EUSAGE, "%s: no open layer with handle %zu", w->path, handle);
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

static wlayer *current(lg_writer *w)
{
    return w->cur >= 0 ? w->layers[w->cur] : NULL;
}

int lg_writer_begin_layer(lg_writer *w, const char *name, uint32_t d, lg_dtype src,
                          lg_error *err)
{
    if (current(w))
        return lg_fail(err, LG_EUSAGE, "%s: layer '%s' is still open", w->path,
                       current(w)->name);
    int rc = check_name(name, err);
    if (rc)
        return rc;
    if (name_taken(w, name, NULL))
        return lg_fail(err, LG_EUSAGE, "%s: the store already has a layer named '%s'", w->path,
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
    if (current(w))
        return lg_fail(err, LG_EUSAGE, "%s: layer '%s' is still open", w->path,
                       current(w)->name);
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
    wlayer *L = current(w);
    if (!L)
        return lg_fail(err, LG_EUSAGE, "%s: rows given outside a layer", w->path);
    return lgw_add_rows(w, L, rows, n, NULL, err);
}

int lg_writer_rows_crc(lg_writer *w, const void *rows, uint64_t n, uint32_t crc, lg_error *err)
{
    wlayer *L = current(w);
    if (!L)
        return lg_fail(err, LG_EUSAGE, "%s: rows given outside a layer", w->path);
    return lgw_add_rows(w, L, rows, n, &crc, err);
}

int lg_writer_flush(lg_writer *w, lg_error *err)
{
    wlayer *L = current(w);
    return L ? lgw_flush_layer(w, L, err) : LG_OK;
}

int lg_writer_name_layer(lg_writer *w, const char *name, lg_error *err)
{
    wlayer *L = current(w);
    if (!L)
        return lg_fail(err, LG_EUSAGE, "%s: no layer is open", w->path);
    int rc = check_name(name, err);
    if (rc)
        return rc;
    if (name_taken(w, name, L))
        return lg_fail(err, LG_EUSAGE, "%s: the store already has a layer named '%s'", w->path,
                       name);
    char *copy = strdup(name);
    if (!copy)
        return lg_fail(err, LG_ENOMEM, "out of memory");
    free(L->name);
    L->name = copy;
    L->renamed = 1;
    return LG_OK;
}

uint64_t lg_writer_layer_rows(const lg_writer *w)
{
    return w->cur >= 0 ? w->layers[w->cur]->rows : 0;
}

/* Drops a layer that no commit holds: its records stay in the file,
 * unreferenced, and are never read. */
static void drop_layer(lg_writer *w, size_t i)
{
    lgw_free_layer(w->layers[i]);
    w->layers[i] = NULL;
    if (w->cur == (long)i)
        w->cur = -1;
}

void lg_writer_abort_layer(lg_writer *w)
{
    wlayer *L = current(w);
    if (!L)
        return;
    if (!L->committed) {
        drop_layer(w, (size_t)w->cur);
        return;
    }
    /* a committed layer that took rows since: they cannot be taken back one
     * layer at a time, so the writer stops (the last commit stands) */
    w->failed = 1;
    w->cur = -1;
}

int lg_writer_end_layer(lg_writer *w, lg_error *err)
{
    wlayer *L = current(w);
    if (!L)
        return lg_fail(err, LG_EUSAGE, "%s: no layer is open", w->path);
    int rc = LG_OK;
    if (!L->committed) {
        /* a new layer must describe the inputs the others do */
        uint64_t rows;
        L->held = 0;
        int have = reference_rows(w, &rows);
        L->held = 1;
        if (L->rows == 0)
            rc = lg_fail(err, LG_EINPUT, "%s: layer '%s' has no rows", w->path, L->name);
        else if (have && L->rows != rows)
            rc = lg_fail(err, LG_EINPUT,
                         "%s: layer '%s' has %llu rows but the store's layers have %llu: every "
                         "layer must describe the same inputs",
                         w->path, L->name, U64(L->rows), U64(rows));
        if (rc) {
            drop_layer(w, (size_t)w->cur);
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

/* ---- commits ---- */

/* Are all layers and label sets at the same rows, and none held?  *n gets
 * those rows; why (may be NULL) says what is not level. */
static int level(const lg_writer *w, uint64_t *n, char *why, size_t cap)
{
    const wlayer *first = NULL;
    for (size_t i = 0; i < w->n_layers; i++) {
        const wlayer *L = w->layers[i];
        if (!L)
            continue;
        if (L->held) {
            if (why)
                snprintf(why, cap, "layer '%s' is still being written (%llu rows so far)",
                         L->name, U64(L->rows));
            return 0;
        }
        if (!first)
            first = L;
        else if (L->rows != first->rows) {
            if (why)
                snprintf(why, cap, "layer '%s' has %llu rows but layer '%s' has %llu",
                         L->name, U64(L->rows), first->name, U64(first->rows));
            return 0;
        }
    }
    uint64_t rows = first ? first->rows : (w->n_labels ? w->labels[0].n : 0);
    for (size_t i = 0; i < w->n_labels; i++)
        if (w->labels[i].n != rows) {
            if (why)
                snprintf(why, cap, "label set '%s' has %llu labels for %llu rows",
                         w->labels[i].name, U64(w->labels[i].n), U64(rows));
            return 0;
        }
    if (first && rows == 0 && w->n_labels) /* labels with empty layers */
        return 0;
    *n = rows;
    return 1;
}

static int changed(const lg_writer *w, int closing)
{
    if (w->dirty || w->meta_dirty)
        return 1;
    for (size_t i = 0; i < w->n_layers; i++) {
        const wlayer *L = w->layers[i];
        if (L && (L->rows != L->committed || L->renamed || (closing && L->depth)))
            return 1;
    }
    for (size_t i = 0; i < w->n_labels; i++) {
        const wlabels *S = &w->labels[i];
        if (S->n != S->committed || S->replaced || (closing && S->depth))
            return 1;
    }
    return 0;
}

/* Writes the commit records: every layer's and label set's new state, META,
 * INDEX, TRAILER.  closing: chains are folded into full records. */
static int write_commit(lg_writer *w, uint64_t rows, int closing, lg_error *err)
{
    int rc = LG_OK;
    for (size_t i = 0; !rc && i < w->n_layers; i++)
        if (w->layers[i])
            rc = lgw_flush_layer(w, w->layers[i], err);
    if (!rc && w->o.durable) {
        int e = lg_io_sync(w->fd);
        if (e)
            rc = lgw_io_fail(w, e, "sync the records", err);
    }
    size_t n_index = 0;
    for (size_t i = 0; !rc && i < w->n_layers; i++) {
        wlayer *L = w->layers[i];
        if (!L || !L->rows)
            continue;
        n_index++;
        int full = !L->committed || L->renamed || L->depth + 1 >= LGW_MAX_CHAIN ||
                   (closing && L->depth);
        if (full || L->rows != L->committed)
            rc = lgw_seal_record(w, L, full, err);
    }
    for (size_t i = 0; !rc && i < w->n_labels; i++) {
        wlabels *S = &w->labels[i];
        n_index++;
        int full = !S->head || S->replaced || S->depth + 1 >= LGW_MAX_CHAIN ||
                   (closing && S->depth);
        if (full || S->n != S->committed)
            rc = write_labels(w, S, full, err);
    }
    if (!rc)
        rc = write_meta(w, err);
    if (rc)
        return rc;
    n_index += w->meta_off ? 1 : 0;
    unsigned char *p = malloc(n_index ? 8 * n_index : 1);
    if (!p)
        return lg_fail(err, LG_ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < w->n_layers; i++)
        if (w->layers[i] && w->layers[i]->rows)
            lgs_put64(p + 8 * k++, w->layers[i]->head);
    for (size_t i = 0; i < w->n_labels; i++)
        lgs_put64(p + 8 * k++, w->labels[i].head);
    if (w->meta_off)
        lgs_put64(p + 8 * k++, w->meta_off);
    assert(k == n_index);
    lgs_header h = {.type = LGS_INDEX, .stored_size = 8 * n_index, .raw_size = 8 * n_index,
                    .a = n_index};
    uint64_t index_at = w->off;
    rc = lgw_put_record(w, &h, p, 0, err);
    free(p);
    if (rc)
        return rc;
    lgs_header t = {.type = LGS_TRAILER, .a = index_at, .b = (uint32_t)(w->generation + 1)};
    lgs_put64(t.e + 4, w->off);
    rc = lgw_put_record(w, &t, NULL, 0, err);
    if (rc)
        return rc;
    if (w->o.durable) {
        int e = lg_io_sync(w->fd);
        if (e)
            return lgw_io_fail(w, e, "sync the index", err);
    }
    w->generation++;
    w->dirty = 0;
    w->committed_rows = rows;
    w->last_commit = lgw_now();
    w->bytes_since = 0;
    return LG_OK;
}

static int commit(lg_writer *w, int closing, lg_error *err)
{
    if (w->failed)
        return lg_fail(err, LG_EIO, "%s: an earlier write failed; nothing more is written",
                       w->path);
    if (w->stream) {
        /* the stream form has no commits: what was given is sent, the
         * batch's labels after its rows */
        int rc = LG_OK;
        for (size_t i = 0; !rc && i < w->n_layers; i++)
            if (w->layers[i] && !w->layers[i]->held)
                rc = lgw_flush_layer(w, w->layers[i], err);
        for (size_t i = 0; !rc && i < w->n_labels; i++)
            if (w->labels[i].n > w->labels[i].committed && !w->labels[i].replaced)
                rc = write_labels(w, &w->labels[i], 0, err);
        return rc ? rc : write_meta(w, err);
    }
    char why[LG_ERROR_MSG_MAX];
    uint64_t rows = 0;
    if (!level(w, &rows, why, sizeof why))
        return lg_fail(err, LG_EUSAGE,
                       "%s: cannot commit: %s (a commit needs every layer and label set at "
                       "the same rows)",
                       w->path, why);
    if (!changed(w, closing))
        return LG_OK;
    return write_commit(w, rows, closing, err);
}

int lg_writer_commit(lg_writer *w, lg_error *err)
{
    return commit(w, 0, err);
}

int lgw_maybe_commit(lg_writer *w, int force_new_layers, lg_error *err)
{
    if (w->stream || w->failed)
        return LG_OK;
    uint64_t rows;
    if (!level(w, &rows, NULL, 0) || !changed(w, 0))
        return LG_OK;
    int due = force_new_layers;
    for (size_t i = 0; !due && i < w->n_layers; i++)
        due = w->layers[i] && !w->layers[i]->committed && w->layers[i]->rows;
    if (!due && w->o.commit_bytes && w->bytes_since >= w->o.commit_bytes)
        due = 1;
    if (!due && w->o.commit_seconds > 0 && lgw_now() - w->last_commit >= w->o.commit_seconds)
        due = 1;
    return due ? write_commit(w, rows, 0, err) : LG_OK;
}

/* Stream form, at its end: flush every declared layer and seal it (so that
 * the stream saved to a file reads as a store), the label sets, META, END. */
static int end_stream(lg_writer *w, lg_error *err)
{
    int rc = LG_OK;
    for (size_t i = 0; !rc && i < w->n_layers; i++) {
        wlayer *L = w->layers[i];
        if (!L || L->stream_sealed || !L->rows)
            continue;
        rc = lgw_flush_layer(w, L, err);
        if (!rc)
            rc = lgw_seal_record(w, L, 1, err);
    }
    for (size_t i = 0; !rc && i < w->n_labels; i++)
        rc = write_labels(w, &w->labels[i], 1, err);
    if (!rc)
        rc = write_meta(w, err);
    if (!rc) {
        lgs_header h = {.type = LGS_END, .a = w->n_records};
        rc = lgw_put_record(w, &h, NULL, 0, err);
    }
    return rc;
}

int lg_writer_close(lg_writer *w, lg_error *err)
{
    if (!w)
        return LG_OK;
    int rc = LG_OK;
    if (current(w) && !current(w)->committed) {
        rc = lg_fail(err, LG_EUSAGE, "%s: layer '%s' was not ended; it is not kept", w->path,
                     current(w)->name);
        drop_layer(w, (size_t)w->cur);
    }
    if (!w->failed) {
        lg_error e2;
        int rc2 = w->stream ? end_stream(w, rc ? &e2 : err) : commit(w, 1, rc ? &e2 : err);
        if (rc2 && !w->stream && !rc)
            lg_fail_prefix(err, "the rows given after row %llu (the last commit) were not kept",
                           U64(w->committed_rows));
        if (!rc)
            rc = rc2;
    }
    free_writer(w);
    return rc;
}

void lg_writer_abort(lg_writer *w)
{
    free_writer(w);
}

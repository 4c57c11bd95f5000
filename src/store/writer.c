/*
 * Writing a store.  Records are appended at the end; after each layer the
 * writer commits: sync, then a new index and trailer, then sync again, so the
 * trailer is never on disk before the records it names.  Old indexes stay in
 * the file (a few bytes each): nothing committed is ever overwritten.
 *
 * The same code writes the stream form to a pipe: no index, an END record.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "codec/codec.h"
#include "codec/convert.h"
#include "codec/crc32c.h"
#include "store/store_int.h"
#include "util/error.h"
#include "util/io.h"

#define U64(x) ((unsigned long long)(x))

typedef struct named_off {
    char *name;
    uint32_t id;
    uint64_t off;
} named_off;

struct lg_writer {
    char *path;
    int fd;
    int stream;
    int failed; /* a write failed: nothing more is written */
    lg_writer_opts o;
    uint64_t off; /* where the next record goes */
    uint64_t generation;
    uint64_t n_records;
    int dirty; /* records written since the last commit */

    named_off *seals; /* committed-or-written layers: name, id, seal offset */
    size_t n_seals;
    named_off *labels;
    size_t n_labels;
    lgs_kv *meta;
    size_t n_meta;
    uint64_t meta_off;
    int meta_dirty;
    uint64_t rows; /* N shared by all layers (valid when have_rows) */
    int have_rows;
    uint32_t next_id;

    /* the layer being written */
    int in_layer;
    char *lname;
    uint32_t lid, d;
    lg_dtype src, dst;
    uint64_t lrows;
    uint32_t lcrc;
    uint64_t *chunk_offs;
    size_t n_chunk_offs, cap_chunk_offs;
    unsigned char *chunk_buf;
    size_t chunk_rows, fill;
    unsigned char *shuf, *comp;
    size_t comp_cap;
};

void lg_writer_opts_default(lg_writer_opts *o)
{
    memset(o, 0, sizeof *o);
    o->codec = LG_CODEC_NONE;
    o->filter = LG_FILTER_NONE;
    o->dtype = LG_DTYPE_KEEP;
    o->durable = 1;
}

static int io_fail(lg_writer *w, int e, const char *what, lg_error *err)
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
static int put_record_crc(lg_writer *w, lgs_header *h, const void *payload, int known_crc,
                          lg_error *err)
{
    static const unsigned char zeros[LGS_ALIGN];
    unsigned char head[LGS_RECORD_HEADER_SIZE];
    if (w->failed)
        return lg_fail(err, LG_EIO, "%s: an earlier write failed; nothing more is written",
                       w->path);
    if (!known_crc)
        h->payload_crc = lg_crc32c(0, payload, h->stored_size);
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
        return io_fail(w, e, "write a record", err);
    w->off += lgs_record_span(h->stored_size);
    w->n_records++;
    w->dirty = 1;
    return LG_OK;
}

static int put_record(lg_writer *w, lgs_header *h, const void *payload, lg_error *err)
{
    return put_record_crc(w, h, payload, 0, err);
}

static void free_named(named_off *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
}

static void free_writer(lg_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0 && !w->stream)
        close(w->fd); /* also drops the lock */
    free_named(w->seals, w->n_seals);
    free_named(w->labels, w->n_labels);
    for (size_t i = 0; i < w->n_meta; i++) {
        free(w->meta[i].key);
        free(w->meta[i].val);
    }
    free(w->meta);
    free(w->lname);
    free(w->chunk_offs);
    free(w->chunk_buf);
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
    w->path = strdup(path);
    if (!w->path) {
        free(w);
        return NULL;
    }
    if (o)
        w->o = *o;
    else
        lg_writer_opts_default(&w->o);
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
    return LG_OK;
}

static int write_file_header(lg_writer *w, uint32_t flags, lg_error *err)
{
    unsigned char h[LGS_FILE_HEADER_SIZE];
    lgs_encode_file_header(h, flags);
    int e = lg_io_write(w->fd, h, sizeof h, w->stream ? -1 : 0);
    if (e)
        return io_fail(w, e, "write the file header", err);
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

static int push_named(named_off **v, size_t *n, const char *name, uint32_t id, uint64_t off)
{
    named_off *p = realloc(*v, (*n + 1) * sizeof **v);
    if (!p)
        return LG_ENOMEM;
    *v = p;
    p[*n].name = strdup(name);
    if (!p[*n].name)
        return LG_ENOMEM;
    p[*n].id = id;
    p[*n].off = off;
    (*n)++;
    return LG_OK;
}

/* Takes over the live state of an opened store. */
static int adopt(lg_writer *w, const lg_store *s, lg_error *err)
{
    for (size_t i = 0; i < s->n_layers; i++) {
        const lgs_layer *L = &s->layers[i];
        if (push_named(&w->seals, &w->n_seals, L->name, L->id, L->seal_off))
            return lg_fail(err, LG_ENOMEM, "out of memory");
        if (L->id >= w->next_id)
            w->next_id = L->id + 1;
    }
    for (size_t i = 0; i < s->n_labels; i++)
        if (push_named(&w->labels, &w->n_labels, s->labels[i].name, 0, s->labels[i].off))
            return lg_fail(err, LG_ENOMEM, "out of memory");
    for (size_t i = 0; i < s->n_meta; i++) {
        int rc = lg_writer_meta(w, s->meta[i].key, s->meta[i].val, s->meta[i].len, err);
        if (rc)
            return rc;
    }
    w->meta_off = s->meta_off;
    w->meta_dirty = 0;
    w->rows = lg_store_rows(s);
    w->have_rows = s->n_layers || s->n_labels;
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
    return w->n_seals;
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

static int flush_meta(lg_writer *w, lg_error *err)
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
    int rc = put_record(w, &h, p, err);
    free(p);
    if (!rc) {
        w->meta_off = at;
        w->meta_dirty = 0;
    }
    return rc;
}

int lg_writer_labels(lg_writer *w, const char *name, const int64_t *labels, uint64_t n,
                     lg_error *err)
{
    size_t nl = strlen(name);
    if (!nl || nl > LGS_MAX_NAME)
        return lg_fail(err, LG_EUSAGE, "label set name empty or too long");
    if (w->have_rows && n != w->rows)
        return lg_fail(err, LG_EINPUT, "%s: %llu labels for a store of %llu rows", w->path,
                       U64(n), U64(w->rows));
    uint64_t at8 = (4 + nl + 7) & ~7ull, len = at8 + 8 * n;
    unsigned char *p = calloc(1, len);
    if (!p)
        return lg_fail(err, LG_ENOMEM, "out of memory for %llu labels", U64(n));
    lgs_put32(p, (uint32_t)nl);
    memcpy(p + 4, name, nl);
    for (uint64_t i = 0; i < n; i++)
        lgs_put64(p + at8 + 8 * i, (uint64_t)labels[i]);
    lgs_header h = {.type = LGS_LABELS, .stored_size = len, .raw_size = len, .a = n};
    uint64_t at = w->off;
    int rc = put_record(w, &h, p, err);
    free(p);
    if (rc)
        return rc;
    for (size_t i = 0; i < w->n_labels; i++)
        if (strcmp(w->labels[i].name, name) == 0) {
            w->labels[i].off = at;
            goto done;
        }
    if (push_named(&w->labels, &w->n_labels, name, 0, at))
        return lg_fail(err, LG_ENOMEM, "out of memory");
done:
    w->rows = n;
    w->have_rows = 1;
    return LG_OK;
}

static int name_taken(const lg_writer *w, const char *name)
{
    for (size_t i = 0; i < w->n_seals; i++)
        if (strcmp(w->seals[i].name, name) == 0)
            return 1;
    return 0;
}

int lg_writer_begin_layer(lg_writer *w, const char *name, uint32_t d, lg_dtype src,
                          lg_error *err)
{
    if (w->in_layer)
        return lg_fail(err, LG_EUSAGE, "%s: layer '%s' is still open", w->path, w->lname);
    size_t nl = strlen(name);
    if (!nl || nl > LGS_MAX_NAME)
        return lg_fail(err, LG_EUSAGE, "layer name empty or longer than %u bytes", LGS_MAX_NAME);
    if (d == 0 || d > LGS_MAX_D)
        return lg_fail(err, LG_EINPUT, "layer '%s': %u columns (expected 1..%u)", name, d,
                       LGS_MAX_D);
    if (!lg_dtype_size(src))
        return lg_fail(err, LG_EUSAGE, "layer '%s': unknown source dtype", name);
    if (name_taken(w, name))
        return lg_fail(err, LG_EUSAGE, "%s: the store already has a layer named '%s'", w->path,
                       name);
    w->dst = w->o.dtype == LG_DTYPE_KEEP ? src : w->o.dtype;
    size_t es = lg_dtype_size(w->dst);
    size_t rows = w->o.chunk_rows ? w->o.chunk_rows : (size_t)((4u << 20) / ((size_t)d * es));
    size_t max_rows = (size_t)(LGS_MAX_CHUNK_BYTES / ((uint64_t)d * es));
    if (rows > max_rows)
        rows = max_rows;
    if (rows == 0)
        rows = 1;
    size_t raw = rows * d * es;
    size_t bound = lg_compress_bound(w->o.codec, raw);
    free(w->chunk_buf);
    free(w->shuf);
    free(w->comp);
    w->chunk_buf = malloc(raw);
    w->shuf = w->o.filter == LG_FILTER_SHUFFLE ? malloc(raw) : NULL;
    w->comp = w->o.codec != LG_CODEC_NONE && bound ? malloc(bound) : NULL;
    w->comp_cap = bound;
    w->lname = strdup(name);
    if (!w->chunk_buf || !w->lname || (w->o.filter == LG_FILTER_SHUFFLE && !w->shuf) ||
        (w->o.codec != LG_CODEC_NONE && !w->comp)) {
        free(w->lname);
        w->lname = NULL;
        return lg_fail(err, LG_ENOMEM, "out of memory for a chunk of %zu bytes", raw);
    }
    w->in_layer = 1;
    w->lid = w->next_id;
    w->d = d;
    w->src = src;
    w->lrows = 0;
    w->lcrc = 0;
    w->n_chunk_offs = 0;
    w->chunk_rows = rows;
    w->fill = 0;
    return LG_OK;
}

/* Writes rows (already in the stored type) as one chunk record; known_crc,
 * when non-NULL, is their CRC32C. */
static int write_chunk_crc(lg_writer *w, const unsigned char *rows, size_t nrows,
                           const uint32_t *known_crc, lg_error *err)
{
    size_t es = lg_dtype_size(w->dst), raw = nrows * w->d * es;
    uint32_t crc = known_crc ? *known_crc : lg_crc32c(0, rows, raw);
    w->lcrc = lg_crc32c_combine(w->lcrc, crc, raw);
    const unsigned char *data = rows;
    int plain = 1; /* payload == the rows: their CRC is the payload's */
    if (w->o.filter == LG_FILTER_SHUFFLE) {
        lg_shuffle(data, w->shuf, es, nrows * w->d);
        data = w->shuf;
        plain = 0;
    }
    size_t stored = raw;
    if (w->o.codec != LG_CODEC_NONE) {
        int rc = lg_compress(w->o.codec, w->o.level, data, raw, w->comp, w->comp_cap, &stored);
        if (rc)
            return lg_fail(err, rc, "%s: layer '%s': %s compression failed", w->path, w->lname,
                           lg_codec_name(w->o.codec));
        data = w->comp;
        plain = 0;
    }
    if (w->n_chunk_offs == w->cap_chunk_offs) {
        size_t cap = w->cap_chunk_offs ? 2 * w->cap_chunk_offs : 64;
        uint64_t *p = realloc(w->chunk_offs, cap * sizeof *p);
        if (!p)
            return lg_fail(err, LG_ENOMEM, "out of memory");
        w->chunk_offs = p;
        w->cap_chunk_offs = cap;
    }
    lgs_header h = {.type = LGS_CHUNK, .stored_size = stored, .raw_size = raw, .a = w->lrows,
                    .b = w->lid, .c = (uint32_t)nrows, .d = w->d, .payload_crc = crc};
    h.e[0] = (uint8_t)w->dst;
    h.e[1] = (uint8_t)w->o.codec;
    h.e[2] = (uint8_t)w->o.filter;
    uint64_t at = w->off;
    int rc = put_record_crc(w, &h, data, plain, err);
    if (rc)
        return rc;
    w->chunk_offs[w->n_chunk_offs++] = at;
    w->lrows += nrows;
    return LG_OK;
}

static int write_chunk(lg_writer *w, const unsigned char *rows, size_t nrows, lg_error *err)
{
    return write_chunk_crc(w, rows, nrows, NULL, err);
}

static int flush_chunk(lg_writer *w, lg_error *err)
{
    if (!w->fill)
        return LG_OK;
    int rc = write_chunk(w, w->chunk_buf, w->fill, err);
    if (!rc)
        w->fill = 0;
    return rc;
}

int lg_writer_rows(lg_writer *w, const void *rows, uint64_t n, lg_error *err)
{
    if (!w->in_layer)
        return lg_fail(err, LG_EUSAGE, "%s: rows given outside a layer", w->path);
    const unsigned char *p = rows;
    size_t ses = lg_dtype_size(w->src), des = lg_dtype_size(w->dst);
    while (n) {
        if (w->fill == 0 && n >= w->chunk_rows && w->src == w->dst) {
            /* whole chunks in the stored type: write them from the caller's
             * memory, without copying them first */
            int rc = write_chunk(w, p, w->chunk_rows, err);
            if (rc)
                return rc;
            p += w->chunk_rows * w->d * ses;
            n -= w->chunk_rows;
            continue;
        }
        size_t m = w->chunk_rows - w->fill;
        if (m > n)
            m = (size_t)n;
        lg_convert(w->src, p, w->dst, w->chunk_buf + w->fill * w->d * des, m * w->d);
        w->fill += m;
        p += m * w->d * ses;
        n -= m;
        if (w->fill == w->chunk_rows) {
            int rc = flush_chunk(w, err);
            if (rc)
                return rc;
        }
    }
    return LG_OK;
}

int lg_writer_name_layer(lg_writer *w, const char *name, lg_error *err)
{
    size_t nl = strlen(name);
    if (!w->in_layer)
        return lg_fail(err, LG_EUSAGE, "%s: no layer is open", w->path);
    if (!nl || nl > LGS_MAX_NAME)
        return lg_fail(err, LG_EUSAGE, "layer name empty or longer than %u bytes", LGS_MAX_NAME);
    if (name_taken(w, name))
        return lg_fail(err, LG_EUSAGE, "%s: the store already has a layer named '%s'", w->path,
                       name);
    char *copy = strdup(name);
    if (!copy)
        return lg_fail(err, LG_ENOMEM, "out of memory");
    free(w->lname);
    w->lname = copy;
    return LG_OK;
}

uint64_t lg_writer_layer_rows(const lg_writer *w)
{
    return w->in_layer ? w->lrows + w->fill : 0;
}

int lg_writer_rows_crc(lg_writer *w, const void *rows, uint64_t n, uint32_t crc, lg_error *err)
{
    if (w->in_layer && w->fill == 0 && n == w->chunk_rows && w->src == w->dst)
        return write_chunk_crc(w, rows, (size_t)n, &crc, err);
    return lg_writer_rows(w, rows, n, err);
}

static void end_layer_state(lg_writer *w)
{
    w->in_layer = 0;
    free(w->lname);
    w->lname = NULL;
}

int lg_writer_flush(lg_writer *w, lg_error *err)
{
    return w->in_layer ? flush_chunk(w, err) : LG_OK;
}

void lg_writer_abort_layer(lg_writer *w)
{
    if (w->in_layer)
        end_layer_state(w);
}

int lg_writer_end_layer(lg_writer *w, lg_error *err)
{
    if (!w->in_layer)
        return lg_fail(err, LG_EUSAGE, "%s: no layer is open", w->path);
    int rc = flush_chunk(w, err);
    if (rc)
        goto out;
    if (w->lrows == 0) {
        rc = lg_fail(err, LG_EINPUT, "%s: layer '%s' has no rows", w->path, w->lname);
        goto out;
    }
    if (w->have_rows && w->lrows != w->rows) {
        rc = lg_fail(err, LG_EINPUT,
                     "%s: layer '%s' has %llu rows but the store's layers have %llu: every "
                     "layer must describe the same inputs",
                     w->path, w->lname, U64(w->lrows), U64(w->rows));
        goto out;
    }
    size_t nl = strlen(w->lname);
    uint64_t list_at = (4 + nl + 7) & ~7ull, len = list_at + 8 * w->n_chunk_offs;
    unsigned char *p = calloc(1, len);
    if (!p) {
        rc = lg_fail(err, LG_ENOMEM, "out of memory");
        goto out;
    }
    lgs_put32(p, (uint32_t)nl);
    memcpy(p + 4, w->lname, nl);
    for (size_t i = 0; i < w->n_chunk_offs; i++)
        lgs_put64(p + list_at + 8 * i, w->chunk_offs[i]);
    lgs_header h = {.type = LGS_SEAL, .stored_size = len, .raw_size = len, .a = w->lrows,
                    .b = w->lid, .c = (uint32_t)w->n_chunk_offs, .d = w->d};
    h.e[0] = (uint8_t)w->dst;
    lgs_put32(h.e + 4, w->lcrc);
    uint64_t at = w->off;
    rc = put_record(w, &h, p, err);
    free(p);
    if (rc)
        goto out;
    if (push_named(&w->seals, &w->n_seals, w->lname, w->lid, at)) {
        rc = lg_fail(err, LG_ENOMEM, "out of memory");
        goto out;
    }
    w->next_id = w->lid + 1;
    w->rows = w->lrows;
    w->have_rows = 1;
    end_layer_state(w);
    return lg_writer_commit(w, err);
out:
    end_layer_state(w);
    return rc;
}

int lg_writer_commit(lg_writer *w, lg_error *err)
{
    int rc = flush_meta(w, err);
    if (rc || w->stream)
        return rc;
    if (!w->dirty)
        return LG_OK;
    if (w->o.durable) {
        int e = lg_io_sync(w->fd);
        if (e)
            return io_fail(w, e, "sync the records", err);
    }
    size_t n = w->n_seals + w->n_labels + (w->meta_off ? 1 : 0);
    unsigned char *p = malloc(n ? 8 * n : 1);
    if (!p)
        return lg_fail(err, LG_ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < w->n_seals; i++)
        lgs_put64(p + 8 * k++, w->seals[i].off);
    for (size_t i = 0; i < w->n_labels; i++)
        lgs_put64(p + 8 * k++, w->labels[i].off);
    if (w->meta_off)
        lgs_put64(p + 8 * k++, w->meta_off);
    lgs_header h = {.type = LGS_INDEX, .stored_size = 8 * n, .raw_size = 8 * n, .a = n};
    uint64_t index_at = w->off;
    rc = put_record(w, &h, p, err);
    free(p);
    if (rc)
        return rc;
    lgs_header t = {.type = LGS_TRAILER, .a = index_at, .b = (uint32_t)(w->generation + 1)};
    lgs_put64(t.e + 4, w->off);
    rc = put_record(w, &t, NULL, err);
    if (rc)
        return rc;
    if (w->o.durable) {
        int e = lg_io_sync(w->fd);
        if (e)
            return io_fail(w, e, "sync the index", err);
    }
    w->generation++;
    w->dirty = 0;
    return LG_OK;
}

int lg_writer_close(lg_writer *w, lg_error *err)
{
    if (!w)
        return LG_OK;
    int rc = LG_OK;
    if (w->in_layer)
        rc = lg_fail(err, LG_EUSAGE, "%s: layer '%s' was not ended; it is not kept", w->path,
                     w->lname);
    if (!w->failed) {
        lg_error e2;
        int rc2 = lg_writer_commit(w, rc ? &e2 : err);
        if (!rc2 && w->stream) {
            lgs_header h = {.type = LGS_END, .a = w->n_records};
            rc2 = put_record(w, &h, NULL, rc ? &e2 : err);
        }
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

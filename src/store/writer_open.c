/*
 * Opening a writer: a new store, the stream form, or an existing store to add
 * to (taking over its layers, label sets and metadata, repairing a torn end
 * first); and lg_store_repair, which is opening and committing.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "store/writer_int.h"
#include "util/error.h"
#include "util/io.h"

#define U64(x) ((unsigned long long)(x))

static int check_opts(const lg_writer_opts *o, const char *path, lg_error *err)
{
    if (!o)
        return LG_OK;
    if (o->codec > LG_CODEC_ZSTD || o->filter > LG_FILTER_SHUFFLE || o->dtype > LG_F64)
        return lgu_fail(err, LG_EUSAGE, "%s: invalid writer options (codec, filter or dtype)",
                       path);
    if (o->codec == LG_CODEC_ZSTD && (o->level < -7 || o->level > 22))
        return lgu_fail(err, LG_EUSAGE, "zstd level %d outside -7..22", o->level);
    if (o->codec == LG_CODEC_LZ4 && (o->level < 0 || o->level > 12))
        return lgu_fail(err, LG_EUSAGE, "lz4 level %d outside 0..12", o->level);
    if (!(o->commit_seconds >= 0) || o->commit_seconds > 1e9)
        return lgu_fail(err, LG_EUSAGE, "commit interval %g s: expected 0 (off) .. 1e9",
                       o->commit_seconds);
    return LG_OK;
}

static int write_file_header(lg_writer *w, uint32_t flags, lg_error *err)
{
    unsigned char h[LGS_FILE_HEADER_SIZE];
    lgs_encode_file_header(h, flags);
    int e = lgu_io_write(w->fd, h, sizeof h, w->stream ? -1 : 0);
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
        return lgu_fail(err, LG_EBUSY,
                       "%s: another process is writing this store (it holds the writer lock); "
                       "readers may go on, a second writer may not",
                       w->path);
    return lgu_fail(err, LG_EIO, "%s: cannot lock: %s", w->path, strerror(errno));
}

/* An empty file, or the start of a store's header and nothing more, that no
 * writer holds: a writer was killed before its header was complete. */
static int killed_before_header(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size >= LGS_FILE_HEADER_SIZE ||
        lg_store_writer_active(path) != 0)
        return 0;
    unsigned char head[LGS_FILE_HEADER_SIZE], want[LGS_FILE_HEADER_SIZE];
    lgs_encode_file_header(want, 0);
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(head, 1, sizeof head, f) : 0;
    if (f)
        fclose(f);
    size_t magic = got < 8 ? got : 8; /* the magic: the flags after it may differ */
    return f && got == (size_t)st.st_size && !memcmp(head, want, magic);
}

int lg_writer_create(const char *path, const lg_writer_opts *o, lg_writer **out, lg_error *err)
{
    *out = NULL;
    int rc = check_opts(o, path, err);
    if (rc)
        return rc;
    lg_writer *w = lgw_new_writer(path, o);
    if (!w)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    w->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (w->fd < 0 && errno == EEXIST && killed_before_header(path)) {
        /* what a writer killed before its header leaves holds nothing: it is
         * taken over, not refused (anything else stays untouched) */
        if (unlink(path) == 0)
            w->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    }
    if (w->fd < 0) {
        int e = errno;
        struct stat st;
        if (e == EEXIST && lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            rc = lgu_fail(err, LG_EUSAGE, "%s: is a directory; a store is a file", path);
        else if (e == EEXIST && lstat(path, &st) == 0 && S_ISLNK(st.st_mode) &&
                 stat(path, &st) != 0)
            rc = lgu_fail(err, LG_EUSAGE,
                          "%s: is a symbolic link to a file that does not exist; a store is not "
                          "created through it (remove the link, or give its target)",
                          path);
        else
            rc = lgu_fail(err, e == EEXIST ? LG_EUSAGE : LG_EIO, "%s: cannot create: %s%s", path,
                          strerror(e),
                          e == EEXIST ? " (use --append to add layers, or remove it first)" : "");
        lgw_free_writer(w);
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
        lgw_free_writer(w);
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
    lg_writer *w = lgw_new_writer("stream", o);
    if (!w)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    w->fd = fd;
    w->stream = 1;
    rc = write_file_header(w, LGS_FLAG_STREAM, err);
    if (rc) {
        lgw_free_writer(w);
        return rc;
    }
    *out = w;
    return LG_OK;
}

/* The largest layer id any CHUNK record of the file carries (UINT32_MAX:
 * none), from the record headers alone. */
static uint32_t max_chunk_id(const lg_store *s)
{
    uint32_t top = UINT32_MAX;
    lgs_header h;
    for (uint64_t off = LGS_FILE_HEADER_SIZE; off + LGS_RECORD_HEADER_SIZE <= s->end;
         off += lgs_record_span(h.stored_size)) {
        if (lgs_decode_header(s->map + off, &h) || lgs_record_span(h.stored_size) > s->end - off)
            break;
        if (h.type == LGS_CHUNK && (top == UINT32_MAX || h.b > top))
            top = h.b;
    }
    return top;
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
        if (!L->chunks || lgw_push_layer(w, L)) {
            lgw_free_layer(L);
            return lgu_fail(err, LG_ENOMEM, "out of memory");
        }
        L->cap_chunks = SL->n_chunks ? SL->n_chunks : 1;
        for (size_t k = 0; k < SL->n_chunks; k++)
            L->chunks[k] = s->chunks[SL->first_chunk + k].off;
        L->n_chunks = L->n_chunks_committed = SL->n_chunks;
        if (SL->id >= w->next_id)
            w->next_id = SL->id + 1;
    }
    /* ids that chunks of a dropped layer (a crash mid-layer, even one a
     * repair has given a fresh index since) carry are not reused either, so
     * the file stays a valid stream: every record header is walked (64
     * bytes a record; a scan already did) */
    uint32_t top = s->max_chunk_id != UINT32_MAX ? s->max_chunk_id : max_chunk_id(s);
    if (top != UINT32_MAX && top >= w->next_id)
        w->next_id = top + 1;
    for (size_t i = 0; i < s->n_labels; i++) {
        wlabels *S = lgw_new_labels(w, s->labels[i].name);
        if (!S || lgw_grow_labels(S, s->labels[i].n ? s->labels[i].n : 1))
            return lgu_fail(err, LG_ENOMEM, "out of memory");
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
        return lgu_fail(err, LG_EIO, "%s: cannot create: %s", name, strerror(errno));
    int e = lgu_io_write(fd, s->map + off, s->size - off, 0);
    if (!e)
        e = lgu_io_sync(fd);
    close(fd);
    if (e)
        return lgu_fail(err, LG_EIO, "%s: cannot write: %s", name, strerror(e));
    return LG_OK;
}

/* Opens path for writing, repairing a torn end.  *note (may be NULL) says
 * what was repaired. */
static int open_existing(const char *path, const lg_writer_opts *o, lg_writer **out, char *note,
                         size_t note_cap, unsigned open_flags, lg_error *err)
{
    *out = NULL;
    if (note && note_cap)
        note[0] = 0;
    int rc = check_opts(o, path, err);
    if (rc)
        return rc;
    lg_writer *w = lgw_new_writer(path, o);
    if (!w)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    w->fd = open(path, O_RDWR | O_CLOEXEC);
    if (w->fd < 0) {
        rc = lgu_fail(err, errno == ENOENT ? LG_ENOTFOUND : LG_EIO, "%s: cannot open: %s", path,
                     strerror(errno));
        lgw_free_writer(w);
        return rc;
    }
    rc = lock_or_busy(w, err);
    int dup_fd = rc ? -1 : dup(w->fd);
    lg_store *s = NULL;
    if (!rc && dup_fd < 0)
        rc = lgu_fail(err, LG_EIO, "%s: dup: %s", path, strerror(errno));
    if (!rc) {
        rc = lgs_open_fd(path, dup_fd, open_flags, &s, err);
        if (rc)
            close(dup_fd);
    }
    if (!rc && (s->file_flags & LGS_FLAG_STREAM))
        rc = lgu_fail(err, LG_EUSAGE,
                     "%s: is in stream form; ingest it into a store instead of appending", path);
    if (!rc && s->recovered && s->end < s->size) {
        /* A torn end is the last thing a crashed writer wrote: nothing valid
         * comes after it.  A record that only looks torn (a valid header
         * claiming more bytes than the file has) with valid records after it
         * is damage in the middle: cutting there would lose what follows, so
         * neither a repair nor an append cuts (#18 item 9). */
        if (s->stop != LGS_STOP_NONE && data_after(s, s->end)) {
            rc = lgu_fail(err, LG_ECORRUPT,
                         "%s: %s record at offset %llu is followed by valid records; "
                         "refusing to cut the file there ('layergeom verify --salvage' writes an "
                         "index of every sound record instead)",
                         path, lgs_stop_torn(s->stop) ? "an apparently incomplete" : "a damaged",
                         U64(s->end));
        } else {
            char tail[4200];
            rc = save_tail(s, s->end, tail, sizeof tail, err);
            if (!rc && lgu_io_truncate(w->fd, (off_t)s->end))
                rc = lgu_fail(err, LG_EIO, "%s: cannot truncate to %llu: %s", path, U64(s->end),
                             strerror(errno));
            if (!rc && note)
                snprintf(note, note_cap,
                         "cut the file at offset %llu (an incomplete or damaged record); the %llu bytes cut "
                         "were saved in %s",
                         U64(s->end), U64(s->size - s->end), tail);
        }
    }
    if (!rc)
        rc = adopt(w, s, err);
    if (!rc) {
        w->off = s->end;
        w->dirty = s->recovered; /* a recovered store gets a fresh index on commit */
        w->commit_end = s->recovered ? 0 : s->end;
        if (s->skipped[0] && note) { /* what the fresh index will not list */
            size_t used = strlen(note);
            snprintf(note + used, note_cap - used, "%sleft out of the new index: %s",
                     used ? "; " : "", s->skipped);
        }
    }
    lg_store_close(s);
    if (rc) {
        lgw_free_writer(w);
        return rc;
    }
    *out = w;
    return LG_OK;
}

int lg_writer_append(const char *path, const lg_writer_opts *o, lg_writer **out, lg_error *err)
{
    return open_existing(path, o, out, NULL, 0, 0, err);
}

/* Repair and salvage: opening for writing (which cuts a torn end, and in a
 * salvage reads past damage) and a commit of a fresh index when what was
 * read differs from the last index. */
static int rewrite_index(const char *path, unsigned flags, char *note, size_t note_cap,
                         lg_error *err)
{
    lg_writer *w;
    char cut[LG_ERROR_MSG_MAX];
    int rc = open_existing(path, NULL, &w, cut, sizeof cut, flags, err);
    if (rc)
        return rc;
    int was_dirty = w->dirty;
    rc = was_dirty ? lg_writer_commit(w, err) : LG_OK;
    lgw_free_writer(w);
    if (rc)
        return rc;
    if (note && note_cap)
        snprintf(note, note_cap, "%s%s%s", cut, cut[0] ? "; " : "",
                 was_dirty ? "wrote a new index" : "the store was already clean");
    return LG_OK;
}

int lg_store_repair(const char *path, char *note, size_t note_cap, lg_error *err)
{
    return rewrite_index(path, 0, note, note_cap, err);
}

int lg_store_salvage(const char *path, char *note, size_t note_cap, lg_error *err)
{
    return rewrite_index(path, LGS_OPEN_SALVAGE, note, note_cap, err);
}

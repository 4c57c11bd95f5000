/*
 * layergeom/store.h -- the activation store: reading, writing, verifying.
 *
 * A store holds the activations of every layer of a model on the same N
 * inputs: layer l is an N x D_l matrix, kept in chunks of rows that may be
 * converted (f32 / f16 / bf16 / f64), byte-shuffled and compressed (LZ4,
 * zstd), each with a CRC32C.  formats/store-format.md specifies the bytes.
 *
 * Readers map the file and decode chunks on demand; a cursor delivers a layer
 * as float32 row blocks of the caller's size, in place when the chunk is
 * uncompressed float32.  A writer appends records and commits an index; a
 * crash loses at most the rows given since the last commit.  Rows may be
 * given to any number of layers at once, in any order (a model emits every
 * layer of a batch at once), and added to every layer of an existing store
 * later (more inputs); at every commit all layers hold the same N.
 *
 * Concurrency: any number of readers, one writer (enforced with a file lock).
 * A reader sees the layers that were complete when it opened the store.
 */
#ifndef LAYERGEOM_STORE_H
#define LAYERGEOM_STORE_H

#include "layergeom/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lg_store lg_store;

typedef struct lg_layer_info {
    uint32_t id;           /* layer id as written; layers are listed by id */
    const char *name;      /* owned by the store */
    uint64_t n;            /* rows */
    uint32_t d;            /* columns */
    lg_dtype dtype;        /* stored element type */
    lg_codec codec;        /* codec of the first chunk (chunks may differ) */
    lg_filter filter;      /* filter of the first chunk */
    uint32_t n_chunks;
    uint64_t bytes_stored; /* payload bytes on disk, headers and padding excluded */
    uint64_t bytes_raw;    /* bytes of the stored elements, decoded */
    uint32_t content_crc;  /* CRC32C of the decoded stored elements, in row order */
    uint64_t record_offset; /* file offset of the record that commits it (its live SEAL
                               or EXTEND): with lg_store_file_id, where it lives */
} lg_layer_info;

/* Open flags. */
#define LG_OPEN_NO_VERIFY 1u /* skip payload checksums on read (headers are still checked) */

/* Opens a store for reading.  A store whose end is missing or torn (a crash
 * during a write) opens with every complete record; lg_store_recovery() then
 * says what was dropped. */
LG_API int lg_store_open(const char *path, unsigned flags, lg_store **out, lg_error *err);
LG_API void lg_store_close(lg_store *s);

LG_API const char *lg_store_path(const lg_store *s);
/* The store file's device and inode (fstat of the open file): with a layer's
 * record_offset it names where the layer lives, for caches of per-layer work
 * (a store is only ever appended to, so a committed layer never changes
 * there).  LG_EIO if fstat fails. */
LG_API int lg_store_file_id(const lg_store *s, uint64_t *dev, uint64_t *ino);
LG_API size_t lg_store_layer_count(const lg_store *s);
/* Fills info for the i-th layer (0-based, in id order). */
LG_API int lg_store_layer(const lg_store *s, size_t i, lg_layer_info *info);
/* The content CRC (as lg_layer_info.content_crc) of the layer's first `rows`
 * rows, from the chunks' own checksums, without reading them: LG_OK, or
 * LG_ENOTFOUND when rows is not at a chunk boundary or a chunk before it is
 * compressed or filtered (the caller then reads the rows). */
LG_API int lg_store_prefix_crc(const lg_store *s, size_t layer, uint64_t rows, uint32_t *crc);
/* Index of the layer with this name or id (decimal); -1 if none. */
LG_API long lg_store_find_layer(const lg_store *s, const char *name_or_id);
/* Rows shared by all layers and labels (0 for an empty store). */
LG_API uint64_t lg_store_rows(const lg_store *s);
/* File bytes the store occupies, and how many commits it has seen. */
LG_API uint64_t lg_store_file_size(const lg_store *s);

/* NULL when the store was opened from its index; otherwise a sentence saying
 * that it was recovered by scanning and what was dropped (file offsets). */
LG_API const char *lg_store_recovery(const lg_store *s);

/* A layer still being written (rows 0..n-1 complete so far, not sealed):
 * returns 1 and fills info (its name is not known yet), or 0.  Only a store
 * opened while a writer is at work has one; lg_cursor_open_pending reads it. */
LG_API int lg_store_pending(const lg_store *s, lg_layer_info *info);
/* 1 while some process holds the writer lock of the store at path, 0 when
 * none does, -1 when it cannot be told (no /proc/locks). */
LG_API int lg_store_writer_active(const char *path);

/* Label sets: names, and the values of one (NULL name: the first set). */
LG_API size_t lg_store_label_set_count(const lg_store *s);
LG_API const char *lg_store_label_set_name(const lg_store *s, size_t i);
LG_API int lg_store_labels(const lg_store *s, const char *name, const int64_t **labels, uint64_t *n,
                           lg_error *err);

/* Metadata: the value of key (not NUL-terminated; *len its length), or NULL. */
LG_API const void *lg_store_meta(const lg_store *s, const char *key, size_t *len);
LG_API size_t lg_store_meta_count(const lg_store *s);
LG_API int lg_store_meta_at(const lg_store *s, size_t i, const char **key, const void **val,
                            size_t *len);

/* ---- reading rows ---- */

typedef struct lg_cursor lg_cursor;

/* A cursor over one layer delivering blocks of up to block_rows rows.  Memory:
 * one block and at most one chunk.  Cursors are independent: use one per thread. */
LG_API int lg_cursor_open(lg_store *s, size_t layer, size_t block_rows, lg_cursor **out,
                          lg_error *err);
/* A cursor over the rows of the pending layer (see lg_store_pending). */
LG_API int lg_cursor_open_pending(lg_store *s, size_t block_rows, lg_cursor **out, lg_error *err);
LG_API void lg_cursor_close(lg_cursor *c);
/* Reading will not come back to what it has passed soon (a layer bigger than
 * the memory budget): each chunk's pages are let go (MADV_DONTNEED) once the
 * cursor has moved past it.  On by default for layers stored in more than a
 * quarter of physical memory; rows already returned stay readable (the pages
 * come back from the page cache if touched).  In a store bigger than that,
 * closing a cursor lets go of its whole layer. */
LG_API void lg_cursor_let_go(lg_cursor *c, int on);
/* Next block as float32, row-major: *rows points into the mapping (uncompressed
 * f32 chunk) or into the cursor's buffer, valid until the next call.  *n = 0 at
 * the end of the layer.  A block read in place stops at the end of its chunk,
 * so it may hold fewer than block_rows rows; callers use *n. */
LG_API int lg_cursor_next(lg_cursor *c, const float **rows, uint64_t *row0, size_t *n,
                          lg_error *err);
/* 1 when the last block lg_cursor_next gave points into the store's
 * mapping (valid until the store is closed, not only until the next call). */
LG_API int lg_cursor_in_place(const lg_cursor *c);
/* Moves the cursor to row r (random access through the index). */
LG_API int lg_cursor_seek(lg_cursor *c, uint64_t r, lg_error *err);
/* Copies rows [row0, row0 + n) as float32 into out (n * d floats). */
LG_API int lg_cursor_read(lg_cursor *c, uint64_t row0, size_t n, float *out, lg_error *err);
/* Copies rows [row0, row0 + n) in the stored element type into out. */
LG_API int lg_cursor_read_raw(lg_cursor *c, uint64_t row0, size_t n, void *out, lg_error *err);

/* Checks every record of the file: structure, all checksums, padding, and that
 * it ends in a valid index.  Returns LG_OK for a clean store; otherwise the
 * first problem, naming the record, the layer and the file offset.  report
 * (may be NULL) receives one line per record checked.  A damaged record that
 * nothing in use refers to fails lg_store_verify too (every flipped bit is
 * found); lg_store_verify_note tells that case apart. */
typedef void (*lg_verify_line)(void *ctx, const char *line);
LG_API int lg_store_verify(const char *path, lg_verify_line report, void *ctx, lg_error *err);
/* The same; damaged records that nothing in use refers to (left out by a
 * salvage) do not fail it: *note names them (empty when there are none). */
LG_API int lg_store_verify_note(const char *path, lg_verify_line report, void *ctx, char *note,
                                size_t note_cap, lg_error *err);

/* Makes a store that was cut short openable by a plain reader again: keeps
 * every complete record, moves the torn tail (if any) to PATH.tail-OFFSET, and
 * writes a fresh index.  Refuses (LG_ECORRUPT) when damage is followed by
 * valid records, since cutting there would lose data.  *note says what it did. */
LG_API int lg_store_repair(const char *path, char *note, size_t note_cap, lg_error *err);
/* For damage in the middle of a store (a flipped bit in a record that valid
 * records follow), where a repair would refuse: reads every sound record,
 * stepping over damaged bytes to the next sound record header, takes the
 * newest index that loads, leaves out every layer one of whose records is
 * damaged (a layer has all its rows or none) and every damaged label set or
 * metadata, and commits a fresh index of what is left (a torn end is cut as
 * by a repair).  Nothing is overwritten: the damaged records stay in the
 * file, unused.  *note names exactly what was left out. */
LG_API int lg_store_salvage(const char *path, char *note, size_t note_cap, lg_error *err);

/* ---- writing ---- */

typedef struct lg_writer lg_writer;

typedef struct lg_writer_opts {
    lg_codec codec;      /* default none */
    int level;           /* codec level; 0 = the codec's fast default */
    lg_filter filter;    /* default none */
    lg_dtype dtype;      /* stored type; LG_DTYPE_KEEP (default) = as given */
    uint32_t chunk_rows; /* 0 = about 4 MiB of raw data per chunk */
    int durable;         /* fdatasync before and after each commit (default 1) */
    /* Commits while rows arrive, whenever every layer is level: at least
     * this often (default 5 s; 0 = only when a layer is new, when asked, and
     * on close) and after this many bytes of rows (default 256 MiB; 0 = no
     * limit). */
    double commit_seconds;
    uint64_t commit_bytes;
} lg_writer_opts;

/* Always start from the defaults: fields are added at the end. */
LG_API void lg_writer_opts_default(lg_writer_opts *o);

/* Bytes a writer holds for `layers` open layers of d columns stored as
 * `stored` (LG_DTYPE_KEEP: float32): one chunk buffer per layer, plus one
 * shared shuffle and compression buffer.  o may be NULL (the defaults). */
LG_API size_t lg_writer_estimate_memory(size_t layers, uint32_t d, lg_dtype stored,
                                        const lg_writer_opts *o);

/* Creates a new store; fails if path exists. */
LG_API int lg_writer_create(const char *path, const lg_writer_opts *o, lg_writer **out,
                            lg_error *err);
/* Opens an existing store to add layers (takes the writer lock; a store cut
 * short is repaired first, as lg_store_repair). */
LG_API int lg_writer_append(const char *path, const lg_writer_opts *o, lg_writer **out,
                            lg_error *err);
/* Writes the stream form (records without an index) to fd, which may be a pipe. */
LG_API int lg_writer_stream(int fd, const lg_writer_opts *o, lg_writer **out, lg_error *err);

/* ---- any number of layers at once (format 1.1) ---- */

/* The handle of layer `name` for lg_writer_add_rows: a new layer of d
 * columns, or one the store already has (rows are then added after its N;
 * d must match).  Rows will be given as elements of src (converted to the
 * stored type). */
LG_API int lg_writer_layer(lg_writer *w, const char *name, uint32_t d, lg_dtype src, size_t *layer,
                           lg_error *err);
/* Adds n rows to a layer.  The writer commits whenever every layer and label
 * set is level and a commit is due (see lg_writer_opts). */
LG_API int lg_writer_add_rows(lg_writer *w, size_t layer, const void *rows, uint64_t n,
                              lg_error *err);
/* lg_writer_add_rows with the CRC32C of the rows' bytes already known. */
LG_API int lg_writer_add_rows_crc(lg_writer *w, size_t layer, const void *rows, uint64_t n,
                                  uint32_t crc, lg_error *err);
/* Appends n labels to a label set (created when new), alongside the rows. */
LG_API int lg_writer_add_labels(lg_writer *w, const char *set, const int64_t *labels, uint64_t n,
                                lg_error *err);
/* Rows given to a layer so far; the rows of the last commit. */
LG_API uint64_t lg_writer_rows_of(const lg_writer *w, size_t layer);
LG_API uint64_t lg_writer_rows_committed(const lg_writer *w);

/* ---- one layer at a time (a convenience over the calls above) ---- */

/* Starts a new layer of d columns whose rows will be given as elements of
 * src.  Until lg_writer_end_layer it blocks commits: a crash loses it whole. */
LG_API int lg_writer_begin_layer(lg_writer *w, const char *name, uint32_t d, lg_dtype src,
                                 lg_error *err);
/* Like lg_writer_begin_layer, for a layer the store may already have: its
 * rows continue after its N (a new name begins a new layer). */
LG_API int lg_writer_resume_layer(lg_writer *w, const char *name, uint32_t d, lg_dtype src,
                                  lg_error *err);
/* Adds n rows (n * d elements of the source type, native byte order). */
LG_API int lg_writer_rows(lg_writer *w, const void *rows, uint64_t n, lg_error *err);
/* lg_writer_rows for n rows whose bytes (in the stored type, as given) have
 * CRC32C crc, already known (a verified stream record): when they make one
 * whole uncompressed chunk it is written without computing it again. */
LG_API int lg_writer_rows_crc(lg_writer *w, const void *rows, uint64_t n, uint32_t crc,
                              lg_error *err);
/* Writes the rows given so far to the open layer as a chunk now, instead of
 * waiting for a full chunk: a reader following the store sees them. */
LG_API int lg_writer_flush(lg_writer *w, lg_error *err);
/* Renames the open layer (a stream names a layer only when it ends). */
LG_API int lg_writer_name_layer(lg_writer *w, const char *name, lg_error *err);
/* Renames a layer of the store (in a writer from lg_writer_append): the
 * next commit writes a new SEAL for it naming the same chunks; no row is
 * rewritten.  LG_ENOTFOUND when there is no such layer, LG_EUSAGE when the
 * new name is taken or invalid. */
LG_API int lg_writer_rename_layer(lg_writer *w, const char *name, const char *new_name,
                                  lg_error *err);
/* Rows given to the open layer so far (0 when none is open). */
LG_API uint64_t lg_writer_layer_rows(const lg_writer *w);
/* Drops the open layer: what was written of it stays in the file,
 * unreferenced, and is never read. */
LG_API void lg_writer_abort_layer(lg_writer *w);
/* Completes the layer: a new layer must have the rows of the others.  The
 * store is committed when every layer is level. */
LG_API int lg_writer_end_layer(lg_writer *w, lg_error *err);
/* Stores a whole label set (replacing one of the same name). */
LG_API int lg_writer_labels(lg_writer *w, const char *name, const int64_t *labels, uint64_t n,
                            lg_error *err);
/* Sets a metadata key (replacing its old value). */
LG_API int lg_writer_meta(lg_writer *w, const char *key, const void *val, size_t len,
                          lg_error *err);
/* Commits now: every layer and label set must be level (else LG_EUSAGE,
 * saying which is not). */
LG_API int lg_writer_commit(lg_writer *w, lg_error *err);
/* Commits (or ends the stream) and closes; chains of EXTEND records are
 * folded into full SEALs, so a finished store has none.  When the layers are
 * not level, nothing since the last commit is kept (the error says so).
 * Frees w even on failure. */
LG_API int lg_writer_close(lg_writer *w, lg_error *err);
/* Closes without committing what is pending (a layer in progress is dropped). */
LG_API void lg_writer_abort(lg_writer *w);
/* Layers in the last commit (including those there before an append). */
LG_API size_t lg_writer_layer_count(const lg_writer *w);

/* ---- the stream form ---- */

typedef struct lg_stream lg_stream;
/* Reads up to len bytes; returns the count (0 at end of input) or -1. */
typedef long (*lg_read_fn)(void *ctx, void *buf, size_t len);

/* Decodes the stream form from a read function.  Memory is bounded by the
 * largest record (at most LGS_MAX_CHUNK_BYTES). */
LG_API int lg_stream_open(lg_read_fn read, void *ctx, lg_stream **out, lg_error *err);
LG_API void lg_stream_close(lg_stream *st);

/* The record types a stream delivers (formats/store-format.md). */
enum lg_record_type {
    LG_REC_CHUNK = 1,
    LG_REC_SEAL = 2,
    LG_REC_LABELS = 3,
    LG_REC_META = 4,
    LG_REC_END = 7,
    LG_REC_LABELS_EXTEND = 9,
    LG_REC_LAYER = 10
};

typedef struct lg_stream_record {
    int type;            /* lg_record_type */
    uint64_t offset;     /* stream offset of the record */
    uint32_t layer_id;   /* chunk, seal */
    uint64_t first_row;  /* chunk; labels-extend: the first new label */
    uint64_t rows;       /* chunk: rows; seal: rows of the layer; labels: count;
                            labels-extend: new labels */
    uint32_t d;          /* chunk, seal */
    lg_dtype dtype;      /* chunk, seal */
    const char *name;    /* seal, layer: layer name; labels: set name (NUL-terminated) */
    const void *data;    /* chunk: decoded elements (stored type); labels: int64 */
    size_t data_len;     /* bytes at data */
    const void *meta;    /* meta: the raw pair list (see the format spec) */
    int data_crc_known;  /* chunk: data is the verified payload itself, CRC32C data_crc */
    uint32_t data_crc;
} lg_stream_record;

/* Walks the key/value pairs of a META record's payload (rec->meta,
 * rec->data_len bytes): from *pos (start at 0), the next key (kl bytes, no
 * NUL inside) and value (vl bytes).  Returns 1 for a pair, 0 at the end of
 * the payload, -1 when the layout is broken. */
LG_API int lg_meta_next(const void *payload, size_t len, size_t *pos, const char **key,
                               uint32_t *kl, const void **val, uint32_t *vl);

/* Next record; LG_OK with rec->type == LG_REC_END (7) at a clean end.  A stream
 * that stops mid-record gives LG_EINPUT naming the offset of the lost record. */
LG_API int lg_stream_next(lg_stream *st, lg_stream_record *rec, lg_error *err);
/* Bytes consumed so far. */
LG_API uint64_t lg_stream_offset(const lg_stream *st);

#ifdef __cplusplus
}
#endif
#endif

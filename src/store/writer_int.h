/*
 * The writer's state, shared by writer.c (opening, commits, labels, meta)
 * and writer_rows.c (layers, chunks, rows).  Not part of the public API.
 *
 * Invariants, checked by assertions where they are used:
 *  - records are only ever appended at w->off; nothing before it changes;
 *  - for every layer, flushed <= rows, rows - flushed == fill, and
 *    chunks[0..n_chunks) cover rows 0..flushed-1 in order;
 *  - committed <= flushed, and chunks[0..n_chunks_committed) cover rows
 *    0..committed-1: exactly what the last commit's SEAL/EXTEND chain lists;
 *  - at every commit, every layer and every label set holds the same N
 *    (w->committed_rows), so a reader never sees layers of different lengths;
 *  - commit_end <= off, and the file up to commit_end is a store whose last
 *    record is the last commit's trailer: when a write fails, the file is
 *    cut back there (what follows was not committed), so it needs no repair.
 */
#ifndef LG_STORE_WRITER_INT_H
#define LG_STORE_WRITER_INT_H

#include "store/payload.h"
#include "store/store_int.h"

/* A chain of EXTEND (or LABELS_EXTEND) records longer than this is replaced
 * by a full SEAL (LABELS) at the next commit, so that opening a store reads
 * a bounded number of records per layer. */
#define LGW_MAX_CHAIN 64u

typedef struct wlayer {
    char *name;
    uint32_t id, d;
    lg_dtype src, dst;      /* type rows are given in; type stored */
    int held;               /* begun by lg_writer_begin_layer, not yet ended */
    int renamed;            /* name changed since the last commit */
    int declared;           /* stream form: its LAYER record was written */
    int stream_sealed;      /* stream form: its SEAL was written */
    uint64_t rows;          /* rows given */
    uint64_t flushed;       /* rows in chunk records */
    uint64_t committed;     /* rows in the last commit (0: not in any yet) */
    uint32_t crc;           /* CRC32C of the flushed rows, stored type, row order */
    uint64_t head;          /* offset of its SEAL or EXTEND in the last commit */
    uint32_t depth;         /* EXTEND records since its last SEAL */
    uint64_t *chunks;       /* offsets of every chunk, in row order */
    size_t n_chunks, cap_chunks, n_chunks_committed;
    unsigned char *buf;     /* rows not yet in a chunk (stored type) */
    size_t chunk_rows, fill;
} wlayer;

typedef struct wlabels {
    char *name;
    int64_t *v;
    uint64_t n, cap;
    uint64_t committed;     /* labels in the last commit */
    uint64_t head;          /* offset of its LABELS or LABELS_EXTEND record */
    uint32_t depth;
    int replaced;           /* the whole set was given again since the last commit */
} wlabels;

struct lg_writer {
    char *path;
    int fd;
    int stream;
    int failed;             /* a write failed: nothing more is written */
    lg_writer_opts o;
    uint64_t off;           /* where the next record goes */
    uint64_t commit_end;    /* just past the last commit's trailer (0: none yet, or
                               the store had no valid index when it was opened) */
    uint64_t generation;
    uint64_t n_records;
    int dirty;              /* records written since the last commit */
    wlayer **layers;        /* by handle; a dropped layer leaves NULL */
    size_t n_layers;
    wlabels *labels;
    size_t n_labels;
    lgs_kv *meta;
    size_t n_meta;
    uint64_t meta_off;
    int meta_dirty;
    uint32_t next_id;
    long cur;               /* the layer of the layer-at-a-time calls, -1 none */
    unsigned char *shuf, *comp;
    size_t shuf_cap, comp_cap;
    uint64_t committed_rows;
    double last_commit;     /* monotonic seconds */
    uint64_t bytes_since;   /* raw bytes given since the last commit */
};

/* writer.c */
lg_writer *lgw_new_writer(const char *path, const lg_writer_opts *o);
void lgw_free_writer(lg_writer *w);
int lgw_push_layer(lg_writer *w, wlayer *L);
wlabels *lgw_new_labels(lg_writer *w, const char *name);
int lgw_grow_labels(wlabels *S, uint64_t need);
/* The layer of the layer-at-a-time calls (NULL: none); dropping a layer no
 * commit holds (its records stay in the file, unreferenced). */
wlayer *lgw_current(lg_writer *w);
void lgw_drop_layer(lg_writer *w, size_t i);
int lgw_io_fail(lg_writer *w, int e, const char *what, lg_error *err);
int lgw_put_record(lg_writer *w, lgs_header *h, const void *payload, int known_crc,
                   lg_error *err);
double lgw_now(void);
/* writer_commit.c: commits when every layer is level and the policy says
 * it is time. */
int lgw_maybe_commit(lg_writer *w, int force_new_layers, lg_error *err);

/* writer_rows.c */
wlayer *lgw_new_layer(lg_writer *w, const char *name, uint32_t d, lg_dtype src, lg_dtype dst,
                      lg_error *err);
void lgw_free_layer(wlayer *L);
int lgw_flush_layer(lg_writer *w, wlayer *L, lg_error *err);
int lgw_add_rows(lg_writer *w, wlayer *L, const void *rows, uint64_t n, const uint32_t *crc,
                 lg_error *err);
int lgw_seal_record(lg_writer *w, wlayer *L, int full, lg_error *err);
int lgw_stream_declare(lg_writer *w, wlayer *L, lg_error *err);

#endif

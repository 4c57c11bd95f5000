/* The in-memory picture of an open store, shared by the reader, cursor,
 * verifier and writer.  Not part of the public API. */
#ifndef LG_STORE_INT_H
#define LG_STORE_INT_H

#include <stdatomic.h>

#include "layergeom/store.h"
#include "store/format.h"

typedef struct lgs_chunk {
    uint64_t off;       /* file offset of the record header */
    uint64_t first_row;
    uint64_t stored;    /* payload bytes */
    uint32_t rows;
    uint32_t crc;
    uint8_t codec, filter;
    atomic_uchar verified; /* payload checksum already checked */
} lgs_chunk;

typedef struct lgs_layer {
    uint32_t id;
    char *name;
    uint64_t n;
    uint32_t d;
    uint8_t dtype;
    uint32_t content_crc;
    uint64_t seal_off;            /* its live SEAL, or the EXTEND at the head of its chain */
    uint32_t depth;               /* EXTEND records between seal_off and its SEAL */
    size_t first_chunk, n_chunks; /* into lg_store.chunks */
    uint64_t bytes_stored;
} lgs_layer;

typedef struct lgs_labels {
    char *name;
    uint64_t off;   /* its live LABELS, or the LABELS_EXTEND at the head of its chain */
    uint32_t depth; /* LABELS_EXTEND records between off and its LABELS */
    uint64_t n;
    int64_t *values;
} lgs_labels;

typedef struct lgs_kv {
    char *key;
    unsigned char *val;
    size_t len;
} lgs_kv;

/* Why a scan stopped before the end of the file. */
typedef enum lgs_stop {
    LGS_STOP_NONE = 0,        /* it did not: every record was read */
    LGS_STOP_SHORT = 1,       /* the file ends inside a record header (torn) */
    LGS_STOP_PAST_END = 2,    /* a record's payload runs past the end (torn) */
    LGS_STOP_HEADER = 3,      /* a record header is damaged */
    LGS_STOP_PAYLOAD = 4,     /* a payload's checksum or padding is wrong */
    LGS_STOP_INCONSISTENT = 5 /* a record disagrees with those before it */
} lgs_stop;

struct lg_store {
    char *path;
    int fd;
    unsigned char *map;
    uint64_t size;
    unsigned flags;
    uint32_t file_flags;
    lgs_layer *layers;
    size_t n_layers;
    lgs_chunk *chunks;
    size_t n_chunks;
    lgs_labels *labels;
    size_t n_labels;
    lgs_kv *meta;
    size_t n_meta;
    uint64_t meta_off;
    uint64_t end;        /* just past the last complete record kept */
    uint64_t generation; /* of the trailer used (0 if none) */
    lgs_layer pend;      /* rows of a layer still being written (pend.n == 0: none) */
    int recovered;
    uint64_t dropped_from; /* first byte not kept (== size when nothing dropped) */
    lgs_stop stop;         /* why a scan stopped before the end (NONE: it did not) */
    int indexing;          /* taking in an index: every layer id once */
    char note[LG_ERROR_MSG_MAX];
    char skipped[LG_ERROR_MSG_MAX]; /* small records left out, damaged (empty: none) */
    uint64_t avoid_trailer; /* a scan does not take this trailer (its index is damaged) */
    uint32_t max_chunk_id; /* largest layer id on a chunk met by a scan (UINT32_MAX: none) */
    int salvage;           /* LGS_OPEN_SALVAGE: read past damage (recover.c) */
    uint32_t max_generation; /* largest generation of a valid trailer a scan met */
    uint64_t release_above; /* cursors of layers stored in more bytes than this (a
                               quarter of RAM) let go of passed chunks */
};

/* Reads and checks the record header at off (alignment, bounds, checksum). */
int lgs_record_at(const lg_store *s, uint64_t off, lgs_header *h, lg_error *err);
/* Checks the payload checksum and the zero padding of the record at off. */
int lgs_check_payload(const lg_store *s, uint64_t off, const lgs_header *h, lg_error *err);
/* Checks a chunk's payload once (remembered); honours LG_OPEN_NO_VERIFY. */
int lgs_verify_chunk(const lg_store *s, const lgs_layer *L, lgs_chunk *c, lg_error *err);

/* Asks the kernel to map a chunk's pages in one call (much cheaper than a
 * page fault per page), before it is checksummed or read. */
void lgs_populate(const lg_store *s, const lgs_chunk *c);
/* Starts reading a chunk's pages in the background (MADV_WILLNEED). */
void lgs_prefetch(const lg_store *s, const lgs_chunk *c);
/* Lets go of a chunk's pages once it has been read (MADV_DONTNEED). */
void lgs_release(const lg_store *s, const lgs_chunk *c);

/* ---- what an index names (index.c) ---- */

/* Takes in a SEAL, EXTEND, LABELS, LABELS_EXTEND or META record (others
 * are ignored); each checked against what was taken before. */
int lgs_add_live(lg_store *s, uint64_t off, const lgs_header *h, lg_error *err);
int lgs_add_seal(lg_store *s, uint64_t off, const lgs_header *h, lg_error *err);
int lgs_add_labels(lg_store *s, uint64_t off, lg_error *err);
/* Validates one chunk record of layer L (its rows start at expect_row) and
 * appends it to the store's chunk table. */
int lgs_add_chunk(lg_store *s, lgs_layer *L, uint64_t off, uint64_t expect_row, lg_error *err);
/* The index named by the trailer at trailer_off, and every record it lists. */
int lgs_load_index(lg_store *s, uint64_t trailer_off, lg_error *err);
void lgs_free_layer(lgs_layer *L);
void lgs_free_meta(lg_store *s);
/* Forgets everything an index gave (layers, chunks, labels, meta), so that
 * another index can be taken in. */
void lgs_forget_index(lg_store *s);

/* ---- recovery (recover.c) ---- */

/* A trailer is valid where it says it is. */
int lgs_is_trailer(const lg_store *s, uint64_t off, const lgs_header *h);
/* Reads the store by walking its records (no valid index at the end, or
 * the stream form); s->stop and s->note say where and why it stopped. */
int lgs_scan(lg_store *s, lg_error *err);
const char *lgs_stop_name(lgs_stop why);
/* The scan stopped at a torn tail (a crash mid-write: cutting there loses
 * nothing committed), not at damage followed by more data. */
static inline int lgs_stop_torn(lgs_stop why)
{
    return why == LGS_STOP_SHORT || why == LGS_STOP_PAST_END;
}

/* Opens the store at path through fd, which the caller already holds (the
 * writer: opened read-write, with its lock); flags as lg_store_open. */
int lgs_open_fd(const char *path, int fd, unsigned flags, lg_store **out, lg_error *err);
/* Open for a salvage (lg_store_salvage): a scan goes on past damaged records
 * to the next sound one instead of stopping, an index that fails to load
 * gives way to an older one, and layers whose chunks fail their checksums
 * are left out (all named in s->skipped).  Internal flag. */
#define LGS_OPEN_SALVAGE (1u << 8)
/* The first offset after off (64-aligned) where a sound record header
 * starts whose record fits in the file; s->size if none. */
uint64_t lgs_next_sound(const lg_store *s, uint64_t off);
/* Salvage: leaves out every layer one of whose chunks fails its checksum. */
int lgs_drop_damaged_layers(lg_store *s, lg_error *err);

#endif

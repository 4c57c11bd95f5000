/* Ingest's pieces: the reader that gives back what it peeked at, a layer
 * being received, and the two input forms (ingest_stream.c, ingest_npy.c).
 * Internal. */
#ifndef LG_IMPORT_INGEST_INT_H
#define LG_IMPORT_INGEST_INT_H

#include "layergeom/import.h"

#define BLOCK_BYTES (4u << 20)

/* A reader that can give back the bytes it peeked at. */
typedef struct peek {
    lg_read_fn read;
    void *ctx;
    unsigned char head[8];
    size_t head_len, head_pos;
    uint64_t offset; /* bytes handed out so far */
} peek;

long lgi_peek_read(void *arg, void *buf, size_t len);
/* Reads len bytes unless the input ends first (*got says how many came). */
int lgi_read_full(peek *p, void *buf, size_t len, size_t *got, lg_error *err);

typedef struct open_layer {
    int open;
    int is_new; /* .npy frames: not named by an earlier frame (a batch-by-batch
                   input comes back to its layers) */
    uint32_t id, d;
    lg_dtype dtype;
    uint64_t rows;
    char name[LG_MAX_NAME + 1];
} open_layer;

/* After the input's end marker: LG_OK when the input ends there too, else an
 * error naming the offset of what follows. */
int lgi_trailing(peek *p, const char *what, lg_error *err);
int lgi_stream_form(peek *p, lg_writer *w, lg_ingest_stats *st, lg_error *err);
int lgi_npy_framing(peek *p, lg_writer *w, lg_ingest_stats *st, lg_error *err);

#endif

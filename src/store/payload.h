/* The payloads of the records that describe layers and labels
 * (formats/store-format.md), each with one encoder and one decoder, used by
 * the writer, the reader and the stream decoder alike.
 *
 * A decoder takes the record's header and its payload (h->stored_size
 * bytes), checks the whole layout -- lengths, counts, names, the header
 * fields the record type fixes -- and returns NULL, or a short phrase saying
 * what is wrong ("name", "chunk count", ...).  It never reads past the
 * payload, so it can be fuzzed on its own.  Views point into the payload. */
#ifndef LG_STORE_PAYLOAD_H
#define LG_STORE_PAYLOAD_H

#include "store/format.h"

/* The name prefix of SEAL, LAYER, LABELS and LABELS_EXTEND: u32 length,
 * the bytes (1..LG_MAX_NAME, no NUL), zero padding to a multiple of 8. */
size_t lgs_name_prefix_len(size_t name_len);

/* SEAL: the name prefix, then h->c u64 chunk offsets.  Header: a rows, b
 * layer id, c chunks (>= 1), d columns, e[0] stored type, e[4..8) content
 * CRC, the other e bytes zero. */
typedef struct lgs_seal_view {
    const char *name;
    uint32_t name_len;
    const unsigned char *offsets; /* count u64 */
    uint32_t count;
} lgs_seal_view;
size_t lgs_seal_size(size_t name_len, size_t count);
void lgs_seal_encode(unsigned char *p, const char *name, size_t name_len, const uint64_t *offs,
                     size_t count);
const char *lgs_seal_decode(const lgs_header *h, const unsigned char *p, lgs_seal_view *out);

/* EXTEND: the offset of the previous SEAL/EXTEND of the layer, the rows
 * before this record, then h->c u64 chunk offsets.  Header as SEAL. */
typedef struct lgs_extend_view {
    uint64_t prev, rows_before;
    const unsigned char *offsets;
    uint32_t count;
} lgs_extend_view;
size_t lgs_extend_size(size_t count);
void lgs_extend_encode(unsigned char *p, uint64_t prev, uint64_t rows_before,
                       const uint64_t *offs, size_t count);
const char *lgs_extend_decode(const lgs_header *h, const unsigned char *p, lgs_extend_view *out);

/* LAYER (stream form only): the name prefix alone.  Header: b id, d
 * columns, e[0] stored type; a and c zero. */
const char *lgs_layer_decode(const lgs_header *h, const unsigned char *p, lgs_seal_view *out);

/* LABELS: the name prefix, then h->a int64 labels.  LABELS_EXTEND: the
 * name prefix, the offset of the previous record of the set, the first new
 * label's row, then h->a - first int64 labels.  Header: a the set's labels
 * so far; b, c, d zero. */
typedef struct lgs_labels_view {
    const char *name;
    uint32_t name_len;
    uint64_t prev, first;         /* LABELS: 0, 0 */
    const unsigned char *values;  /* h->a - first little-endian int64 */
    uint64_t count;
} lgs_labels_view;
size_t lgs_labels_size(size_t name_len, uint64_t count, int extend);
void lgs_labels_encode(unsigned char *p, const char *name, size_t name_len, uint64_t prev,
                       uint64_t first, const int64_t *values, uint64_t count, int extend);
const char *lgs_labels_decode(const lgs_header *h, const unsigned char *p, int extend,
                              lgs_labels_view *out);

#endif

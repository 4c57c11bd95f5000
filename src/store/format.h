/*
 * The byte layout of a layergeom store (formats/store-format.md is the
 * normative text; this header mirrors it).  Everything is little-endian.
 *
 *   file header (64 bytes) | record | record | ... | index record | trailer record
 *
 * Every record starts on a 64-byte boundary with a 64-byte header; its payload
 * follows and is zero-padded to the next 64-byte boundary, so uncompressed
 * payloads can be used in place from a memory mapping.
 */
#ifndef LG_STORE_FORMAT_H
#define LG_STORE_FORMAT_H

#include <stdint.h>
#include <string.h>

#include "layergeom/store.h"
#include "util/le.h"

#define LGS_ALIGN 64u
#define LGS_FILE_HEADER_SIZE 64u
#define LGS_RECORD_HEADER_SIZE 64u
#define LGS_VERSION_MAJOR 1u
#define LGS_VERSION_MINOR 1u
#define LGS_FLAG_STREAM 1u /* file-header flag: records without index (a pipe) */
#define LGS_RECORD_MAGIC 0x3152474cu /* "LGR1" */
/* Record-header flag, stream form only: the payload CRC was not computed
 * (producers without a fast CRC32C, e.g. numpy); the ingesting side computes
 * it when it writes the store. */
#define LGS_RECFLAG_NO_PAYLOAD_CRC 1u

extern const unsigned char LGS_FILE_MAGIC[8]; /* "\x89LGS\r\n\x1a\n" */

enum lgs_type {
    LGS_CHUNK = 1,   /* rows of one layer */
    LGS_SEAL = 2,    /* completes a layer: its name and the list of its chunks */
    LGS_LABELS = 3,  /* a named set of int64 labels, one per row */
    LGS_META = 4,    /* key/value pairs */
    LGS_INDEX = 5,   /* offsets of the live SEAL, LABELS and META records */
    LGS_TRAILER = 6, /* last record of a committed file: where the index is */
    LGS_END = 7,     /* last record of a stream */
    LGS_EXTEND = 8,  /* 1.1: more rows of a committed layer (its new chunks) */
    LGS_LABELS_EXTEND = 9, /* 1.1: more labels of a label set */
    LGS_LAYER = 10   /* 1.1, stream form: declares a layer before its first chunk */
};

/* Fuzzing builds accept any checksum, so that the fuzzer can reach the
 * parsing behind it; the checks are all still made, their verdict ignored. */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define LGS_CRC_OK(computed, stored) ((void)(computed), (void)(stored), 1)
#else
#define LGS_CRC_OK(computed, stored) ((computed) == (stored))
#endif

/* Limits that keep a hostile file from asking for absurd allocations. */
#define LGS_MAX_NAME LG_MAX_NAME
#define LGS_MAX_CHUNK_BYTES (1ull << 28) /* raw bytes of one chunk: 256 MiB */
#define LGS_MAX_META_BYTES (1ull << 26)
#define LGS_MAX_D LG_MAX_COLUMNS

/* A decoded record header.  The meaning of a..e depends on the type:
 *            a (u64 @24)   b (u32 @32)  c (u32 @36)  d (u32 @40)  e (bytes 44..55)
 *   CHUNK    first_row     layer_id     rows         dim          dtype, codec, filter, 0...
 *   SEAL     n_rows        layer_id     n_chunks     dim          dtype, 0, 0, 0, content_crc (u32 @48), 0
 *   LABELS   count         0            0            0            0
 *   META     n_pairs       0            0            0            0
 *   INDEX    n_entries     0            0            0            0
 *   TRAILER  index_offset  generation   0            0            own offset (u64 @48)
 *   END      n_records     0            0            0            0
 *   EXTEND   n_rows        layer_id     new chunks   dim          as SEAL
 *   LABELS_EXTEND count    0            0            0            0
 *   LAYER    0             layer_id     0            dim          dtype, 0...
 */
typedef struct lgs_header {
    uint8_t type;
    uint16_t flags;
    uint64_t stored_size; /* payload bytes as written (before padding) */
    uint64_t raw_size;    /* payload bytes after decoding */
    uint64_t a;
    uint32_t b, c, d;
    uint8_t e[12];
    uint32_t payload_crc;
} lgs_header;

static inline uint64_t lgs_pad(uint64_t n)
{
    return (n + LGS_ALIGN - 1) & ~(uint64_t)(LGS_ALIGN - 1);
}

/* Total bytes a record with this payload size occupies in the file. */
static inline uint64_t lgs_record_span(uint64_t stored_size)
{
    return LGS_RECORD_HEADER_SIZE + lgs_pad(stored_size);
}

void lgs_encode_file_header(unsigned char out[64], uint32_t flags);
/* Returns 0, or a static string saying what is wrong. */
const char *lgs_decode_file_header(const unsigned char in[64], uint32_t *flags);

void lgs_encode_header(const lgs_header *h, unsigned char out[64]);
/* Checks magic, version and header checksum; returns NULL when valid, or a
 * static string naming the failed field. */
const char *lgs_decode_header(const unsigned char in[64], lgs_header *h);

const char *lgs_type_name(unsigned type);

/* The name prefix of SEAL, LABELS, LABELS_EXTEND and LAYER payloads: u32
 * length, the bytes, zero padding to a multiple of 8. */

#endif

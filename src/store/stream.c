/*
 * Decoding the stream form: the store's records, read one at a time from a
 * pipe.  Memory is bounded by the largest record, whatever the stream length.
 */
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "codec/crc32c.h"
#include "store/payload.h"
#include "store/store_int.h"
#include "util/error.h"
#include "util/buf.h"

#define U64(x) ((unsigned long long)(x))

struct lg_stream {
    lg_read_fn read;
    void *ctx;
    uint64_t off;
    int ended;
    int after_trailer; /* a store file piped whole may end after its trailer */
    unsigned char *payload, *decoded, *work;
    size_t payload_cap, decoded_cap, work_cap;
    char name[LGS_MAX_NAME + 1];
};

/* Reads exactly len bytes; *got < len only at end of input. */
static int read_full(lg_stream *st, void *buf, size_t len, size_t *got, lg_error *err)
{
    size_t done = 0;
    *got = 0;
    while (done < len) {
        long n = st->read(st->ctx, (char *)buf + done, len - done);
        if (n < 0)
            return lgu_fail(err, LG_EIO, "stream: read failed at offset %llu",
                           U64(st->off + done));
        if (n == 0)
            break;
        done += (size_t)n;
    }
    *got = done;
    st->off += done;
    return LG_OK;
}


int lg_stream_open(lg_read_fn read, void *ctx, lg_stream **out, lg_error *err)
{
    *out = NULL;
    lg_stream *st = calloc(1, sizeof *st);
    if (!st)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    st->read = read;
    st->ctx = ctx;
    unsigned char h[LGS_FILE_HEADER_SIZE];
    size_t got = 0;
    uint32_t flags;
    int rc = read_full(st, h, sizeof h, &got, err);
    if (!rc && got < sizeof h)
        rc = lgu_fail(err, LG_EINPUT, "stream: ended after %zu bytes, inside the 64-byte header",
                     got);
    const char *bad = rc ? NULL : lgs_decode_file_header(h, &flags);
    if (bad)
        rc = lgu_fail(err, LG_EINPUT, "stream: offset 0: bad %s", bad);
    if (rc) {
        free(st);
        return rc;
    }
    *out = st;
    return LG_OK;
}

void lg_stream_close(lg_stream *st)
{
    if (!st)
        return;
    free(st->payload);
    free(st->decoded);
    free(st->work);
    free(st);
}

uint64_t lg_stream_offset(const lg_stream *st)
{
    return st->off;
}

static int bad_record(const lg_stream *st, uint64_t at, const char *type, const char *why,
                      lg_error *err)
{
    return lgu_fail(err, LG_EINPUT, "stream: %s record at offset %llu: bad %s", type, U64(at),
                   why);
}

static int decode_chunk(lg_stream *st, uint64_t at, const lgs_header *h, lg_stream_record *rec,
                        lg_error *err)
{
    size_t es = lg_dtype_size((lg_dtype)h->e[0]);
    if (!es || h->c == 0 || h->d == 0 || h->d > LGS_MAX_D || h->e[1] > LG_CODEC_ZSTD ||
        h->e[2] > LG_FILTER_SHUFFLE || h->e[3] || lgu_get64(h->e + 4) ||
        h->raw_size != (uint64_t)h->c * h->d * es || h->raw_size > LGS_MAX_CHUNK_BYTES ||
        (h->e[1] == LG_CODEC_NONE && h->stored_size != h->raw_size))
        return bad_record(st, at, "chunk", "fields (dtype, codec, filter, rows x dim x size)",
                          err);
    size_t raw = (size_t)h->raw_size;
    const unsigned char *src = st->payload;
    if (h->e[1] != LG_CODEC_NONE) {
        if (lgu_reserve(&st->work, &st->work_cap, raw))
            return lgu_fail(err, LG_ENOMEM, "out of memory for a %zu-byte chunk", raw);
        if (lgc_decompress((lg_codec)h->e[1], st->payload, h->stored_size, st->work, raw))
            return bad_record(st, at, "chunk", "compressed data (does not decode)", err);
        src = st->work;
    }
    if (h->e[2] == LG_FILTER_SHUFFLE) {
        if (lgu_reserve(&st->decoded, &st->decoded_cap, raw))
            return lgu_fail(err, LG_ENOMEM, "out of memory for a %zu-byte chunk", raw);
        lgc_unshuffle(src, st->decoded, es, raw / es);
        src = st->decoded;
    }
    rec->layer_id = h->b;
    rec->first_row = h->a;
    rec->rows = h->c;
    rec->d = h->d;
    rec->dtype = (lg_dtype)h->e[0];
    rec->data = src;
    rec->data_len = raw;
    rec->data_crc_known = src == st->payload && !(h->flags & LGS_RECFLAG_NO_PAYLOAD_CRC);
    rec->data_crc = h->payload_crc;
    return LG_OK;
}

/* A decoded name into the stream's own NUL-terminated copy. */
static const char *keep_name(lg_stream *st, const char *name, uint32_t len)
{
    memcpy(st->name, name, len);
    st->name[len] = 0;
    return st->name;
}

int lg_stream_next(lg_stream *st, lg_stream_record *rec, lg_error *err)
{
    memset(rec, 0, sizeof *rec);
    for (;;) {
        if (st->ended) {
            rec->type = LGS_END;
            rec->offset = st->off;
            return LG_OK;
        }
        uint64_t at = st->off;
        unsigned char head[LGS_RECORD_HEADER_SIZE];
        size_t got = 0;
        int rc = read_full(st, head, sizeof head, &got, err);
        if (rc)
            return rc;
        if (got == 0 && st->after_trailer) {
            st->ended = 1;
            continue;
        }
        if (got < sizeof head)
            return lgu_fail(err, LG_EINPUT,
                           got ? "stream: ended at offset %llu inside a record header that "
                                 "starts at offset %llu; that record is lost"
                               : "stream: ended at offset %llu without an end record (the "
                                 "producer stopped early?); records before offset %llu are "
                                 "complete",
                           U64(st->off), U64(at));
        lgs_header h;
        const char *bad = lgs_decode_header(head, &h);
        if (bad)
            return lgu_fail(err, LG_EINPUT, "stream: record at offset %llu: bad %s", U64(at), bad);
        if (h.stored_size > LGS_MAX_CHUNK_BYTES + (1u << 20))
            return bad_record(st, at, lgs_type_name(h.type), "payload size (over 256 MiB)", err);
        size_t span = (size_t)lgs_pad(h.stored_size);
        /* grow the buffer as the bytes arrive: a header alone cannot make us
         * allocate what its size field claims */
        got = 0;
        while (got < span) {
            size_t want = span - got, step = got < (1u << 20) ? (1u << 20) : got;
            if (want > step)
                want = step;
            if (lgu_reserve(&st->payload, &st->payload_cap, got + want))
                return lgu_fail(err, LG_ENOMEM, "out of memory for a %zu-byte record", span);
            size_t more = 0;
            rc = read_full(st, st->payload + got, want, &more, err);
            if (rc)
                return rc;
            got += more;
            if (more < want)
                break;
        }
        if (lgu_reserve(&st->payload, &st->payload_cap, 1))
            return lgu_fail(err, LG_ENOMEM, "out of memory");
        if (got < span)
            return lgu_fail(err, LG_EINPUT,
                           "stream: ended at offset %llu inside the payload of a %s record that "
                           "starts at offset %llu (%zu of %zu bytes came); that record is lost",
                           U64(st->off), lgs_type_name(h.type), U64(at), got, span);
        if (h.flags & ~LGS_RECFLAG_NO_PAYLOAD_CRC)
            return bad_record(st, at, lgs_type_name(h.type), "flags (unknown bits)", err);
        if (!(h.flags & LGS_RECFLAG_NO_PAYLOAD_CRC) &&
            !LGS_CRC_OK(lgc_crc32c(0, st->payload, h.stored_size), h.payload_crc))
            return bad_record(st, at, lgs_type_name(h.type), "payload checksum", err);
        for (size_t i = (size_t)h.stored_size; i < span; i++)
            if (st->payload[i])
                return bad_record(st, at, lgs_type_name(h.type), "padding (not zero)", err);
        st->after_trailer = h.type == LGS_TRAILER;
        rec->type = h.type;
        rec->offset = at;
        switch (h.type) {
        case LGS_CHUNK:
            return decode_chunk(st, at, &h, rec, err);
        case LGS_SEAL:
        case LGS_LAYER: {
            lgs_seal_view v;
            const char *why = h.type == LGS_SEAL ? lgs_seal_decode(&h, st->payload, &v)
                                                 : lgs_layer_decode(&h, st->payload, &v);
            if (why)
                return bad_record(st, at, lgs_type_name(h.type), why, err);
            rec->layer_id = h.b;
            rec->rows = h.a;
            rec->d = h.d;
            rec->dtype = (lg_dtype)h.e[0];
            rec->name = keep_name(st, v.name, v.name_len);
            return LG_OK;
        }
        case LGS_LABELS:
        case LGS_LABELS_EXTEND: {
            lgs_labels_view v;
            const char *why =
                lgs_labels_decode(&h, st->payload, h.type == LGS_LABELS_EXTEND, &v);
            if (why)
                return bad_record(st, at, lgs_type_name(h.type), why, err);
            rec->first_row = v.first;
            rec->rows = v.count;
            rec->name = keep_name(st, v.name, v.name_len);
            rec->data = v.values; /* 8-aligned int64, little-endian */
            rec->data_len = 8 * (size_t)v.count;
            return LG_OK;
        }
        case LGS_META:
            rec->meta = st->payload;
            rec->rows = h.a;
            rec->data_len = (size_t)h.stored_size;
            return LG_OK;
        case LGS_END:
            st->ended = 1;
            return LG_OK;
        default:
            continue; /* index, trailer and unknown records carry nothing to ingest */
        }
    }
}

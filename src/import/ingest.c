/*
 * Ingest: activations arriving on a pipe, written to a store as they come.
 *
 * Two input forms, told apart by their first bytes:
 *   "\x89LGS"  the store's stream form (formats/store-format.md);
 *   "LGNPY"    .npy arrays, each announced by a one-line frame header
 *              (formats/npy-framing.md).
 * Memory is bounded by one record (or one block of rows) whatever the input
 * length.  A layer is committed as soon as it is complete, so an input that
 * stops early loses only the layer it stopped in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/convert.h"
#include "import/source_int.h"
#include "util/le.h"
#include "import/ingest_int.h"
#include "util/error.h"

#define U64(x) ((unsigned long long)(x))
#define BLOCK_BYTES (4u << 20)

long lgi_peek_read(void *arg, void *buf, size_t len)
{
    peek *p = arg;
    if (p->head_pos < p->head_len) {
        size_t n = p->head_len - p->head_pos < len ? p->head_len - p->head_pos : len;
        memcpy(buf, p->head + p->head_pos, n);
        p->head_pos += n;
        p->offset += n;
        return (long)n;
    }
    long n = p->read(p->ctx, buf, len);
    if (n > 0)
        p->offset += (uint64_t)n;
    return n;
}

/* Reads exactly len bytes; *got < len only at the end of the input. */
int lgi_read_full(peek *p, void *buf, size_t len, size_t *got, lg_error *err)
{
    size_t done = 0;
    while (done < len) {
        long n = lgi_peek_read(p, (char *)buf + done, len - done);
        if (n < 0)
            return lgu_fail(err, LG_EIO, "input: read failed at offset %llu",
                           U64(p->offset));
        if (n == 0)
            break;
        done += (size_t)n;
    }
    *got = done;
    return LG_OK;
}

int lgi_trailing(peek *p, const char *what, lg_error *err)
{
    unsigned char c;
    long n = lgi_peek_read(p, &c, 1);
    if (n <= 0)
        return LG_OK;
    return lgu_fail(err, LG_EINPUT,
                    "input: offset %llu: more data after %s (a second stream, or garbage); it "
                    "was not ingested, everything before it was",
                    (unsigned long long)(p->offset - 1), what);
}

int lg_ingest(lg_read_fn read, void *ctx, lg_writer *w, lg_ingest_stats *st, lg_error *err)
{
    memset(st, 0, sizeof *st);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    peek p = {read, ctx, {0}, 0, 0, 0};
    size_t got = 0;
    while (got < 5) {
        long n = read(ctx, p.head + got, 5 - got);
        if (n < 0)
            return lgu_fail(err, LG_EIO, "input: read failed at offset %zu", got);
        if (n == 0)
            break;
        got += (size_t)n;
    }
    p.head_len = got;
    int rc;
    if (got >= 4 && memcmp(p.head, "\x89LGS", 4) == 0) {
        st->form = 1;
        rc = lgi_stream_form(&p, w, st, err);
    } else if (got == 5 && memcmp(p.head, "LGNPY", 5) == 0) {
        st->form = 2;
        rc = lgi_npy_framing(&p, w, st, err);
    } else {
        rc = lgu_fail(err, LG_EINPUT,
                     got ? "input: offset 0: neither the stream form (\\x89LGS) nor .npy frames "
                           "(LGNPY)"
                         : "input: empty");
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    st->bytes = p.offset;
    st->seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    return rc;
}

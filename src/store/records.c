/*
 * One record of a mapped store: its header checked where it lies, its
 * payload checksum and padding, a chunk verified once; and the pages of a
 * chunk mapped in, read ahead and let go.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "codec/crc32c.h"
#include "store/store_int.h"
#include "util/error.h"

#define U64(x) ((unsigned long long)(x))

int lgs_record_at(const lg_store *s, uint64_t off, lgs_header *h, lg_error *err)
{
    if (off % LGS_ALIGN || off < LGS_FILE_HEADER_SIZE || off > s->size ||
        s->size - off < LGS_RECORD_HEADER_SIZE)
        return lgu_fail(err, LG_ECORRUPT,
                       "%s: record offset %llu is outside the file (size %llu) or not 64-aligned",
                       s->path, U64(off), U64(s->size));
    const char *bad = lgs_decode_header(s->map + off, h);
    if (!bad && h->flags && !(s->file_flags & LGS_FLAG_STREAM))
        bad = "flags (a store's records carry none)";
    if (!bad && (h->flags & ~LGS_RECFLAG_NO_PAYLOAD_CRC))
        bad = "flags (unknown bits set)";
    if (bad)
        return lgu_fail(err, LG_ECORRUPT, "%s: record at offset %llu: bad %s", s->path, U64(off),
                       bad);
    if (lgs_record_span(h->stored_size) > s->size - off)
        return lgu_fail(err, LG_ECORRUPT,
                       "%s: %s record at offset %llu: payload of %llu bytes runs past the end of "
                       "the file (size %llu)",
                       s->path, lgs_type_name(h->type), U64(off), U64(h->stored_size),
                       U64(s->size));
    return LG_OK;
}

int lgs_check_payload(const lg_store *s, uint64_t off, const lgs_header *h, lg_error *err)
{
    const unsigned char *p = s->map + off + LGS_RECORD_HEADER_SIZE;
    if (!(h->flags & LGS_RECFLAG_NO_PAYLOAD_CRC) &&
        !LGS_CRC_OK(lgc_crc32c(0, p, h->stored_size), h->payload_crc))
        return lgu_fail(err, LG_ECORRUPT,
                       "%s: %s record at offset %llu: payload checksum mismatch (%llu bytes at "
                       "offset %llu)",
                       s->path, lgs_type_name(h->type), U64(off), U64(h->stored_size),
                       U64(off + LGS_RECORD_HEADER_SIZE));
    for (uint64_t i = h->stored_size; i < lgs_pad(h->stored_size); i++)
        if (p[i])
            return lgu_fail(err, LG_ECORRUPT,
                           "%s: %s record at offset %llu: padding byte at offset %llu is not zero",
                           s->path, lgs_type_name(h->type), U64(off),
                           U64(off + LGS_RECORD_HEADER_SIZE + i));
    return LG_OK;
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

void lgs_populate(const lg_store *s, const lgs_chunk *c)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)(s->map + c->off) & ~(page - 1);
    uintptr_t b = (uintptr_t)(s->map + c->off + LGS_RECORD_HEADER_SIZE + c->stored);
    /* failure (an old kernel) only costs speed: the pages fault in as read */
    (void)madvise((void *)a, b - a, MADV_POPULATE_READ);
}

void lgs_prefetch(const lg_store *s, const lgs_chunk *c)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)(s->map + c->off) & ~(page - 1);
    uintptr_t b = (uintptr_t)(s->map + c->off + LGS_RECORD_HEADER_SIZE + c->stored);
    (void)madvise((void *)a, b - a, MADV_WILLNEED); /* asynchronous read-ahead */
}

void lgs_release(const lg_store *s, const lgs_chunk *c)
{
    /* Pages wholly inside the chunk only: its neighbours may be in use.  The
     * mapping is of a file, read-only: dropped pages come back from the page
     * cache if touched again, so this only tells the kernel we are done. */
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)(s->map + c->off) + page - 1) & ~(page - 1);
    uintptr_t b = (uintptr_t)(s->map + c->off + LGS_RECORD_HEADER_SIZE + c->stored) & ~(page - 1);
    if (b > a)
        (void)madvise((void *)a, b - a, MADV_DONTNEED);
}

int lgs_verify_chunk(const lg_store *s, const lgs_layer *L, lgs_chunk *c, lg_error *err)
{
    if ((s->flags & LG_OPEN_NO_VERIFY) || atomic_load_explicit(&c->verified, memory_order_relaxed))
        return LG_OK;
    lgs_header h;
    int rc = lgs_record_at(s, c->off, &h, err);
    if (!rc)
        rc = lgs_check_payload(s, c->off, &h, err);
    if (rc)
        return lgu_fail_prefix(err, "layer %u (%s), rows %llu..%llu", L->id, L->name,
                              U64(c->first_row), U64(c->first_row + c->rows));
    atomic_store_explicit(&c->verified, 1, memory_order_relaxed);
    return LG_OK;
}

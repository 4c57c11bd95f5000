/*
 * Full check of a store: every record, every checksum, every padding byte,
 * every compressed chunk decoded, and a valid index at the end.  Slower than
 * opening (which trusts committed records until they are read), so it is a
 * command of its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/crc32c.h"
#include "store/store_int.h"
#include "util/error.h"

#define U64(x) ((unsigned long long)(x))

static void say(lg_verify_line report, void *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#include <stdarg.h>
static void say(lg_verify_line report, void *ctx, const char *fmt, ...)
{
    if (!report)
        return;
    char line[LG_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    report(ctx, line);
}

/* The layer a chunk record belongs to, for messages. */
static const char *layer_of(const lg_store *s, uint64_t off, uint32_t *id)
{
    for (size_t i = 0; i < s->n_layers; i++) {
        const lgs_layer *L = &s->layers[i];
        for (size_t k = 0; k < L->n_chunks; k++)
            if (s->chunks[L->first_chunk + k].off == off) {
                *id = L->id;
                return L->name;
            }
        if (L->seal_off == off) {
            *id = L->id;
            return L->name;
        }
    }
    return NULL;
}

/* Whether the index uses the record at off (as a layer's SEAL or chunk, a
 * label set or the metadata). */
static int in_use(const lg_store *s, uint64_t off)
{
    uint32_t id;
    if (off == s->meta_off || layer_of(s, off, &id))
        return 1;
    for (size_t i = 0; i < s->n_labels; i++)
        if (s->labels[i].off == off)
            return 1;
    return 0;
}

/* Damaged records nothing uses (a salvage left them out): counted and
 * named in the note, not an error -- every byte in use is intact. */
static void unused_damage(char *note, size_t cap, size_t *n, uint64_t off, const char *why)
{
    if (!note || !cap)
        return;
    size_t used = strlen(note);
    if (*n < 4)
        snprintf(note + used, cap - used, "%soffset %llu (%s)", *n ? "; " : "", U64(off), why);
    else if (*n == 4)
        snprintf(note + used, cap - used, "; and more");
    (*n)++;
}

static int walk(const lg_store *s, lg_verify_line report, void *ctx, char *note, size_t cap,
                size_t *n_unused, lg_error *err)
{
    uint64_t off = LGS_FILE_HEADER_SIZE, last_trailer = 0;
    uint32_t last_generation = 0;
    size_t count = 0;
    while (off < s->size) {
        lgs_header h;
        int header = lgs_record_at(s, off, &h, err);
        int rc = header ? header : lgs_check_payload(s, off, &h, err);
        if (rc && rc != LG_ENOMEM && !in_use(s, off)) {
            /* verify finds every flipped bit; what nothing in use depends on
             * (a salvage left it out) is reported, and the walk goes on at
             * the next sound record */
            if (!note || !cap) {
                lgu_fail_prefix(err, "record %zu, used by nothing (the layers in use are intact)",
                                count);
                return rc;
            }
            unused_damage(note, cap, n_unused, off, err->msg);
            say(report, ctx, "offset %llu: damaged, used by nothing: %s", U64(off), err->msg);
            off = header ? lgs_next_sound(s, off) : off + lgs_record_span(h.stored_size);
            count++;
            continue;
        }
        if (rc) {
            uint32_t id = 0;
            const char *name = layer_of(s, off, &id);
            if (name)
                return lgu_fail_prefix(err, "layer %u (%s), record %zu", id, name, count);
            return lgu_fail_prefix(err, "record %zu", count);
        }
        /* every commit's trailer counts one more than the one before: a
         * generation that does not grow is a crafted or spliced file */
        if (h.type == LGS_TRAILER) {
            if (last_trailer && h.b <= last_generation)
                return lgu_fail(err, LG_ECORRUPT,
                                "%s: the trailer at offset %llu has generation %u, not above "
                                "the %u of the trailer at offset %llu before it",
                                s->path, U64(off), h.b, last_generation, U64(last_trailer));
            last_trailer = off;
            last_generation = h.b;
        }
        if (h.type == LGS_CHUNK)
            say(report, ctx, "offset %llu: chunk of layer %u, rows %llu..%llu, %s %s %s, %llu -> %llu bytes: ok",
                U64(off), h.b, U64(h.a), U64(h.a + h.c), lg_dtype_name((lg_dtype)h.e[0]),
                lg_codec_name((lg_codec)h.e[1]), lg_filter_name((lg_filter)h.e[2]),
                U64(h.stored_size), U64(h.raw_size));
        else
            say(report, ctx, "offset %llu: %s record, %llu bytes: ok", U64(off),
                lgs_type_name(h.type), U64(h.stored_size));
        off += lgs_record_span(h.stored_size);
        count++;
    }
    return LG_OK;
}

int lg_store_verify(const char *path, lg_verify_line report, void *ctx, lg_error *err)
{
    return lg_store_verify_note(path, report, ctx, NULL, 0, err);
}

int lg_store_verify_note(const char *path, lg_verify_line report, void *ctx, char *note,
                         size_t note_cap, lg_error *err)
{
    if (note && note_cap)
        note[0] = 0;
    size_t n_unused = 0;
    lg_store *s;
    int rc = lg_store_open(path, 0, &s, err);
    if (rc)
        return rc;
    /* a store cut short is the common case: say so first, with the remedy */
    if (s->recovered)
        rc = lgu_fail(err, LG_ECORRUPT, "%s%s", s->note,
                     (s->file_flags & LGS_FLAG_STREAM) ? ""
                                                       : "; run 'layergeom verify --repair'");
    if (!rc)
        rc = walk(s, report, ctx, note, note_cap, &n_unused, err);
    for (size_t i = 0; !rc && i < s->n_layers; i++) {
        /* decode every chunk: a checksum proves the bytes are as written, this
         * proves the writer wrote something decodable; and the layer's content
         * CRC (its SEAL's, which the profile cache keys on) is its rows' */
        const lgs_layer *L = &s->layers[i];
        lg_cursor *c = NULL;
        size_t block = 0;
        for (size_t k = 0; k < L->n_chunks; k++)
            if (s->chunks[L->first_chunk + k].rows > block)
                block = s->chunks[L->first_chunk + k].rows;
        size_t es = lg_dtype_size((lg_dtype)L->dtype);
        void *buf = malloc((block ? block : 1) * L->d * es);
        rc = buf ? lg_cursor_open(s, i, block ? block : 1, &c, err)
                 : lgu_fail(err, LG_ENOMEM, "out of memory");
        uint32_t crc = 0;
        for (uint64_t r = 0; !rc && r < L->n; r += block) {
            size_t m = L->n - r < block ? (size_t)(L->n - r) : block;
            rc = lg_cursor_read_raw(c, r, m, buf, err);
            if (!rc)
                crc = lgc_crc32c(crc, buf, m * L->d * es);
        }
        lg_cursor_close(c);
        free(buf);
        if (!rc && crc != L->content_crc)
            rc = lgu_fail(err, LG_ECORRUPT,
                          "%s: layer %u (%s): its rows' content CRC is %08x but its seal at offset "
                          "%llu says %08x",
                          path, L->id, L->name, crc, U64(L->seal_off), L->content_crc);
        if (!rc)
            say(report, ctx, "layer %u (%s): %llu x %u %s, all chunks decode, content CRC %08x: ok",
                L->id, L->name, U64(L->n), L->d, lg_dtype_name((lg_dtype)L->dtype), crc);
    }
    lg_store_close(s);
    return rc;
}

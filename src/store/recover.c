/*
 * Recovery: a store whose end is missing or torn (a crash mid-write), or the
 * stream form, is read by walking its records from the start.  Everything up
 * to the last valid trailer comes from that trailer's index; records after it
 * are checked in full and kept up to the first damaged one, but only what
 * keeps every layer at the committed N.  Why the walk stopped is kept as a
 * reason code (lgs_stop): the writer decides from it whether it may cut.
 */
#include <assert.h>
#include <stdarg.h>
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

/* The unsealed chunks at the end: the rows, from row 0 on, of a layer that a
 * writer has not finished.  Visible through lg_store_pending() only. */
static void add_pending(lg_store *s, const uint64_t *offs, size_t n)
{
    lgs_header h;
    lg_error ignored;
    if (!n || lgs_record_at(s, offs[0], &h, &ignored) || h.a != 0)
        return;
    lgs_layer *P = &s->pend;
    memset(P, 0, sizeof *P);
    P->id = h.b;
    P->name = (char *)"(being written)"; /* static: lg_store_close does not free it */
    P->d = h.d;
    P->dtype = h.e[0];
    P->first_chunk = s->n_chunks;
    if (!lg_dtype_size((lg_dtype)P->dtype) || P->d == 0 || P->d > LGS_MAX_D)
        return;
    for (size_t i = 0; i < n; i++)
        if (lgs_add_chunk(s, P, offs[i], P->n, &ignored))
            break;
        else {
            P->n += s->chunks[s->n_chunks - 1].rows;
            P->n_chunks++;
        }
}

/* A record after the last commit, met by a scan: only what keeps every
 * layer at the committed N is taken -- a SEAL of a new layer with that N, or
 * a label set of that count (the format 1.0 case: a layer sealed just before
 * a crash) and META.  Extensions, and seals that would change N, belong to a
 * commit that did not finish. */
static int add_uncommitted(lg_store *s, uint64_t off, const lgs_header *h, lg_error *err)
{
    int have = s->n_layers || s->n_labels;
    uint64_t rows = lg_store_rows(s);
    switch (h->type) {
    case LGS_SEAL:
        for (size_t i = 0; i < s->n_layers; i++)
            if (s->layers[i].id == h->b)
                return LG_OK;
        return have && h->a != rows ? LG_OK : lgs_add_seal(s, off, h, err);
    case LGS_LABELS:
        return have && h->a != rows ? LG_OK : lgs_add_labels(s, off, err);
    case LGS_META:
        return lgs_add_live(s, off, h, err);
    default:
        return LG_OK;
    }
}

/* A trailer is valid where it says it is. */
int lgs_is_trailer(const lg_store *s, uint64_t off, const lgs_header *h)
{
    /* its reserved fields are zero, as the format says */
    int reserved_zero = !h->raw_size && !h->c && !h->d && !h->e[0] && !h->e[1] && !h->e[2] &&
                        !h->e[3] && !h->flags;
    return h->type == LGS_TRAILER && h->stored_size == 0 && lgu_get64(h->e + 4) == off &&
           h->a < off && h->a >= LGS_FILE_HEADER_SIZE && h->a % LGS_ALIGN == 0 && reserved_zero &&
           s;
}

const char *lgs_stop_name(lgs_stop why)
{
    switch (why) {
    case LGS_STOP_NONE: return "the end of the file";
    case LGS_STOP_SHORT: return "incomplete record header";
    case LGS_STOP_PAST_END: return "record runs past the end of the file";
    case LGS_STOP_HEADER: return "damaged record header";
    case LGS_STOP_PAYLOAD: return "payload checksum or padding";
    case LGS_STOP_INCONSISTENT: return "inconsistent record";
    }
    return "?";
}

/* Salvage: the next sound record after damage at off. */
uint64_t lgs_next_sound(const lg_store *s, uint64_t off)
{
    for (off = (off + LGS_ALIGN) & ~(uint64_t)(LGS_ALIGN - 1);
         off + LGS_RECORD_HEADER_SIZE <= s->size; off += LGS_ALIGN) {
        lgs_header h;
        if (!lgs_decode_header(s->map + off, &h) &&
            lgs_record_span(h.stored_size) <= s->size - off)
            return off;
    }
    return s->size;
}

static void skipped(lg_store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void skipped(lg_store *s, const char *fmt, ...)
{
    size_t used = strlen(s->skipped);
    if (used + 8 >= sizeof s->skipped)
        return;
    if (used)
        used += (size_t)snprintf(s->skipped + used, sizeof s->skipped - used, "; ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->skipped + used, sizeof s->skipped - used, fmt, ap);
    va_end(ap);
}

/* Salvage: the index of the last trailer (of the `n` met, in file order)
 * whose index loads; the ones that do not are named. */
static int load_salvaged_index(lg_store *s, const uint64_t *trailers, size_t n,
                               uint64_t *used, lg_error *err)
{
    *used = 0;
    for (size_t t = n; t-- > 0;) {
        char keep[sizeof s->skipped];
        memcpy(keep, s->skipped, sizeof keep);
        lg_error local;
        int rc = lgs_load_index(s, trailers[t], &local);
        if (!rc) {
            *used = trailers[t];
            return LG_OK;
        }
        if (rc == LG_ENOMEM)
            return lgu_fail(err, rc, "%s", local.msg);
        lgs_forget_index(s); /* clears skipped: what was noted before is kept */
        memcpy(s->skipped, keep, sizeof keep);
        skipped(s, "the index of the trailer at offset %llu was not used: %s", U64(trailers[t]),
                local.msg);
    }
    return LG_OK;
}

/* Appends v to a growing array of offsets; LG_ENOMEM (the array freed). */
static int push_offset(uint64_t **a, size_t *n, size_t *cap, uint64_t v)
{
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 64;
        uint64_t *q = realloc(*a, c * sizeof *q);
        if (!q) {
            free(*a);
            *a = NULL;
            return LG_ENOMEM;
        }
        *a = q;
        *cap = c;
    }
    (*a)[(*n)++] = v;
    return LG_OK;
}

/* Walks the records from the start.  Everything up to the last valid trailer
 * is taken from that trailer's index; the records after it are checked in
 * full (payload checksums too) and kept up to the first damaged one.  In a
 * salvage, damage is stepped over: the walk goes on at the next sound
 * record, damaged records after the index are skipped, each named. */
int lgs_scan(lg_store *s, lg_error *err)
{
    uint64_t off = LGS_FILE_HEADER_SIZE, last_trailer = 0;
    lgs_stop stop = LGS_STOP_NONE;
    const char *bad = NULL; /* what of a damaged header is wrong */
    lgs_header h;
    uint64_t *trailers = NULL; /* salvage: every valid trailer */
    size_t n_trailers = 0, cap_trailers = 0;
    while (off < s->size) {
        if (s->size - off < LGS_RECORD_HEADER_SIZE) {
            stop = LGS_STOP_SHORT;
            break;
        }
        if ((bad = lgs_decode_header(s->map + off, &h)) != NULL)
            stop = LGS_STOP_HEADER;
        else if (lgs_record_span(h.stored_size) > s->size - off)
            stop = LGS_STOP_PAST_END;
        if (stop) {
            uint64_t next = s->salvage ? lgs_next_sound(s, off) : s->size;
            if (next == s->size)
                break; /* the torn end (or, not salvaging, the first damage) */
            skipped(s, "bytes %llu..%llu were skipped (%s%s%s)", U64(off), U64(next),
                    lgs_stop_name(stop), bad ? ": bad " : "", bad ? bad : "");
            stop = LGS_STOP_NONE;
            bad = NULL;
            off = next;
            continue;
        }
        if (lgs_is_trailer(s, off, &h) && (!s->avoid_trailer || off < s->avoid_trailer)) {
            last_trailer = off;
            if (s->salvage && push_offset(&trailers, &n_trailers, &cap_trailers, off))
                return lgu_fail(err, LG_ENOMEM, "out of memory");
        }
        if (lgs_is_trailer(s, off, &h) && h.b > s->max_generation)
            s->max_generation = h.b; /* also the one whose index is damaged */
        if (h.type == LGS_CHUNK && (s->max_chunk_id == UINT32_MAX || h.b > s->max_chunk_id))
            s->max_chunk_id = h.b;
        off += lgs_record_span(h.stored_size);
    }
    uint64_t stop_off = off;
    uint64_t from = LGS_FILE_HEADER_SIZE;
    if (s->salvage) {
        int rc = load_salvaged_index(s, trailers, n_trailers, &last_trailer, err);
        free(trailers);
        if (rc)
            return rc;
        if (last_trailer)
            from = last_trailer + LGS_RECORD_HEADER_SIZE;
    } else if (last_trailer) {
        int rc = lgs_load_index(s, last_trailer, err);
        if (rc)
            return rc;
        from = last_trailer + LGS_RECORD_HEADER_SIZE;
    }
    if (s->avoid_trailer && stop_off > s->avoid_trailer && !s->salvage) {
        stop_off = s->avoid_trailer; /* what follows it is the damaged commit's end */
        stop = LGS_STOP_PAYLOAD;
    }
    lg_error local;
    uint64_t *pending = NULL; /* chunks since the last seal: a layer being written */
    size_t n_pending = 0, cap_pending = 0;
    for (off = from; off < stop_off;) {
        if (lgs_record_at(s, off, &h, &local)) {
            if (!s->salvage) {
                stop = LGS_STOP_PAYLOAD;
                stop_off = off;
                break;
            }
            off = lgs_next_sound(s, off); /* named by the first walk */
            continue;
        }
        if (lgs_check_payload(s, off, &h, &local)) {
            if (!s->salvage) {
                stop = LGS_STOP_PAYLOAD;
                stop_off = off;
                break;
            }
            skipped(s, "the %s record at offset %llu is damaged and was skipped: %s",
                    lgs_type_name(h.type), U64(off), local.msg);
            off += lgs_record_span(h.stored_size);
            continue;
        }
        if (h.type == LGS_SEAL)
            n_pending = 0;
        if (h.type == LGS_CHUNK && push_offset(&pending, &n_pending, &cap_pending, off))
            return lgu_fail(err, LG_ENOMEM, "out of memory");
        int rc = add_uncommitted(s, off, &h, &local);
        if (rc == LG_ENOMEM)
            return lgu_fail(err, rc, "%s", local.msg);
        if (rc && s->salvage) {
            skipped(s, "the %s record at offset %llu was not used: %s", lgs_type_name(h.type),
                    U64(off), local.msg);
        } else if (rc) {
            stop = LGS_STOP_INCONSISTENT;
            stop_off = off;
            break;
        }
        off += lgs_record_span(h.stored_size);
    }
    if (s->salvage && s->max_generation > s->generation)
        s->generation = s->max_generation; /* the next commit counts above every trailer */
    add_pending(s, pending, n_pending);
    free(pending);
    s->end = stop_off;
    s->dropped_from = stop_off;
    s->stop = stop_off < s->size ? stop : LGS_STOP_NONE;
    assert(s->stop != LGS_STOP_NONE || stop_off == s->size);
    char why[128] = "";
    if (s->stop == LGS_STOP_HEADER)
        snprintf(why, sizeof why, "%s: bad %s", lgs_stop_name(s->stop), bad);
    else if (s->stop)
        snprintf(why, sizeof why, "%s", lgs_stop_name(s->stop));
    char kept[160] = "the records";
    lgs_header t;
    if (last_trailer && !lgs_decode_header(s->map + last_trailer, &t)) /* names the index */
        snprintf(kept, sizeof kept, "the index at offset %llu and the records after it",
                 U64(t.a));
    snprintf(s->note, sizeof s->note,
             "%s %s: read by scanning; kept %s up to offset %llu; %llu bytes "
             "after that were not used%s%s%s",
             s->path,
             (s->file_flags & LGS_FLAG_STREAM) ? "is in stream form (no index)"
                                               : "has no valid index at its end",
             kept, U64(stop_off), U64(s->size - stop_off), why[0] ? " (" : "", why,
             why[0] ? ")" : "");
    s->recovered = 1;
    return LG_OK;
}

/* Salvage: a layer whose chunk fails its checksum cannot be read whole (a
 * layer has every row or none); it is left out, named with the chunk, and
 * its records stay in the file. */
int lgs_drop_damaged_layers(lg_store *s, lg_error *err)
{
    (void)err;
    size_t kept = 0;
    for (size_t i = 0; i < s->n_layers; i++) {
        lgs_layer *L = &s->layers[i];
        const lgs_chunk *bad = NULL;
        lg_error why;
        for (size_t k = 0; !bad && k < L->n_chunks; k++) {
            const lgs_chunk *c = &s->chunks[L->first_chunk + k];
            lgs_header h;
            if (lgs_record_at(s, c->off, &h, &why) || lgs_check_payload(s, c->off, &h, &why))
                bad = c;
        }
        if (!bad) {
            s->layers[kept++] = *L;
            continue;
        }
        skipped(s, "layer %u (%s, %llu rows) was left out: its chunk at offset %llu (rows "
                   "%llu..%llu) is damaged: %s",
                L->id, L->name, U64(L->n), U64(bad->off), U64(bad->first_row),
                U64(bad->first_row + bad->rows), why.msg);
        lgs_free_layer(L);
    }
    s->n_layers = kept;
    return LG_OK;
}

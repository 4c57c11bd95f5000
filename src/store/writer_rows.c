/*
 * The writer's layers: rows given to any open layer in any order are
 * gathered into that layer's chunk buffer and written as CHUNK records when
 * the buffer fills (or at a commit); a commit then names each layer's chunks
 * with a SEAL (a new layer, or a chain grown long) or an EXTEND (the chunks
 * since the last commit).  Memory: one chunk buffer per open layer, plus one
 * shared shuffle and one shared compression buffer.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "codec/convert.h"
#include "codec/crc32c.h"
#include "store/writer_int.h"
#include "util/error.h"
#include "util/buf.h"

#define U64(x) ((unsigned long long)(x))

static size_t chunk_rows_for(const lg_writer_opts *o, uint32_t d, size_t es)
{
    size_t rows = o->chunk_rows ? o->chunk_rows : (size_t)((4u << 20) / ((size_t)d * es));
    size_t max_rows = (size_t)(LGS_MAX_CHUNK_BYTES / ((uint64_t)d * es));
    if (rows > max_rows)
        rows = max_rows;
    return rows ? rows : 1;
}

size_t lg_writer_estimate_memory(size_t layers, uint32_t d, lg_dtype stored,
                                 const lg_writer_opts *o)
{
    lg_writer_opts def;
    if (!o) {
        lg_writer_opts_default(&def);
        o = &def;
    }
    size_t es = lg_dtype_size(stored == LG_DTYPE_KEEP ? LG_F32 : stored);
    if (!es || !d)
        return 0;
    size_t raw = chunk_rows_for(o, d, es) * d * es;
    size_t shared = (o->filter == LG_FILTER_SHUFFLE ? raw : 0) +
                    (o->codec != LG_CODEC_NONE ? lgc_compress_bound(o->codec, raw) : 0);
    return layers * (raw + sizeof(wlayer) + 4096) + shared;
}

void lgw_free_layer(wlayer *L)
{
    if (!L)
        return;
    free(L->name);
    free(L->chunks);
    free(L->buf);
    free(L);
}

wlayer *lgw_new_layer(lg_writer *w, const char *name, uint32_t d, lg_dtype src, lg_dtype dst,
                      lg_error *err)
{
    size_t es = lg_dtype_size(dst);
    wlayer *L = calloc(1, sizeof *L);
    if (L) {
        L->chunk_rows = chunk_rows_for(&w->o, d, es);
        L->name = strdup(name);
        L->buf = malloc(L->chunk_rows * d * es);
    }
    if (!L || !L->name || !L->buf) {
        lgw_free_layer(L);
        lgu_fail(err, LG_ENOMEM, "out of memory for a chunk buffer of layer '%s'", name);
        return NULL;
    }
    L->d = d;
    L->src = src;
    L->dst = dst;
    return L;
}


/* Room for one more chunk offset, made before the chunk is written: a
 * record on disk must always be listed. */
static int room_for_chunk(wlayer *L)
{
    if (L->n_chunks < L->cap_chunks)
        return LG_OK;
    size_t cap = L->cap_chunks ? 2 * L->cap_chunks : 64;
    uint64_t *p = realloc(L->chunks, cap * sizeof *p);
    if (!p)
        return LG_ENOMEM;
    L->chunks = p;
    L->cap_chunks = cap;
    return LG_OK;
}

/* Writes nrows rows (stored type) as one CHUNK record; known_crc, when
 * non-NULL, is their CRC32C. */
static int write_chunk(lg_writer *w, wlayer *L, const unsigned char *rows, size_t nrows,
                       const uint32_t *known_crc, lg_error *err)
{
    size_t es = lg_dtype_size(L->dst), raw = nrows * L->d * es;
    uint32_t crc = known_crc ? *known_crc : lgc_crc32c(0, rows, raw);
    const unsigned char *data = rows;
    int plain = 1; /* payload == the rows: their CRC is the payload's */
    if (w->o.filter == LG_FILTER_SHUFFLE) {
        if (lgu_reserve(&w->shuf, &w->shuf_cap, raw))
            return lgu_fail(err, LG_ENOMEM, "out of memory for a chunk of %zu bytes", raw);
        lgc_shuffle(data, w->shuf, es, nrows * L->d);
        data = w->shuf;
        plain = 0;
    }
    size_t stored = raw;
    if (w->o.codec != LG_CODEC_NONE) {
        size_t bound = lgc_compress_bound(w->o.codec, raw);
        if (lgu_reserve(&w->comp, &w->comp_cap, bound))
            return lgu_fail(err, LG_ENOMEM, "out of memory for a chunk of %zu bytes", bound);
        int rc = lgc_compress(w->o.codec, w->o.level, data, raw, w->comp, w->comp_cap, &stored);
        if (rc)
            return lgu_fail(err, rc, "%s: layer '%s': %s compression failed", w->path, L->name,
                           lg_codec_name(w->o.codec));
        data = w->comp;
        plain = 0;
    }
    if (room_for_chunk(L))
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    lgs_header h = {.type = LGS_CHUNK, .stored_size = stored, .raw_size = raw, .a = L->flushed,
                    .b = L->id, .c = (uint32_t)nrows, .d = L->d, .payload_crc = crc};
    h.e[0] = (uint8_t)L->dst;
    h.e[1] = (uint8_t)w->o.codec;
    h.e[2] = (uint8_t)w->o.filter;
    uint64_t at = w->off;
    int rc = lgw_put_record(w, &h, data, plain, err);
    if (rc)
        return rc;
    L->chunks[L->n_chunks++] = at;
    L->crc = lgc_crc32c_combine(L->crc, crc, raw);
    L->flushed += nrows;
    return LG_OK;
}

int lgw_flush_layer(lg_writer *w, wlayer *L, lg_error *err)
{
    if (!L->fill)
        return LG_OK;
    int rc = write_chunk(w, L, L->buf, L->fill, NULL, err);
    if (!rc)
        L->fill = 0;
    assert(rc || L->flushed == L->rows);
    return rc;
}

int lgw_add_rows(lg_writer *w, wlayer *L, const void *rows, uint64_t n, const uint32_t *crc,
                 lg_error *err)
{
    const unsigned char *p = rows;
    size_t ses = lg_dtype_size(L->src), des = lg_dtype_size(L->dst);
    if (crc && L->fill == 0 && n == L->chunk_rows && L->src == L->dst) {
        /* a verified record that makes one whole chunk: its CRC is known */
        int rc = write_chunk(w, L, p, (size_t)n, crc, err);
        if (!rc) {
            L->rows += n;
            w->bytes_since += n * L->d * des;
        }
        return rc;
    }
    while (n) {
        if (L->fill == 0 && n >= L->chunk_rows && L->src == L->dst) {
            /* whole chunks in the stored type: written from the caller's
             * memory, without copying them first */
            int rc = write_chunk(w, L, p, L->chunk_rows, NULL, err);
            if (rc)
                return rc;
            L->rows += L->chunk_rows;
            w->bytes_since += L->chunk_rows * L->d * des;
            p += L->chunk_rows * L->d * ses;
            n -= L->chunk_rows;
            continue;
        }
        size_t m = L->chunk_rows - L->fill;
        if (m > n)
            m = (size_t)n;
        lgc_convert(L->src, p, L->dst, L->buf + L->fill * L->d * des, m * L->d);
        L->fill += m;
        L->rows += m;
        w->bytes_since += m * L->d * des;
        p += m * L->d * ses;
        n -= m;
        if (L->fill == L->chunk_rows) {
            int rc = lgw_flush_layer(w, L, err);
            if (rc)
                return rc;
        }
    }
    return LG_OK;
}

/* The SEAL (full: every chunk) or EXTEND (the chunks since the last commit)
 * that commits the layer's flushed rows.  The stream form always seals in
 * full. */
int lgw_seal_record(lg_writer *w, wlayer *L, int full, lg_error *err)
{
    assert(L->fill == 0 && L->flushed == L->rows);
    size_t nl = strlen(L->name), first = full ? 0 : L->n_chunks_committed;
    size_t count = L->n_chunks - first;
    size_t len = full ? lgs_seal_size(nl, count) : lgs_extend_size(count);
    unsigned char *p = calloc(1, len);
    if (!p)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    if (full)
        lgs_seal_encode(p, L->name, nl, L->chunks + first, count);
    else
        lgs_extend_encode(p, L->head, L->committed, L->chunks + first, count);
    lgs_header h = {.type = full ? LGS_SEAL : LGS_EXTEND, .stored_size = len, .raw_size = len,
                    .a = L->rows, .b = L->id, .c = (uint32_t)count, .d = L->d};
    h.e[0] = (uint8_t)L->dst;
    lgu_put32(h.e + 4, L->crc);
    uint64_t at = w->off;
    int rc = lgw_put_record(w, &h, p, 0, err);
    free(p);
    if (rc)
        return rc;
    L->head = at;
    L->depth = full ? 0 : L->depth + 1;
    L->committed = L->rows;
    L->n_chunks_committed = L->n_chunks;
    L->renamed = 0;
    return LG_OK;
}

/* Stream form: the LAYER record that names a layer before its first chunk. */
int lgw_stream_declare(lg_writer *w, wlayer *L, lg_error *err)
{
    size_t nl = strlen(L->name), len = lgs_seal_size(nl, 0);
    unsigned char *p = calloc(1, len);
    if (!p)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    lgs_seal_encode(p, L->name, nl, NULL, 0); /* a LAYER payload: the name alone */
    lgs_header h = {.type = LGS_LAYER, .stored_size = len, .raw_size = len, .b = L->id,
                    .d = L->d};
    h.e[0] = (uint8_t)L->dst;
    int rc = lgw_put_record(w, &h, p, 0, err);
    free(p);
    if (!rc)
        L->declared = 1;
    return rc;
}

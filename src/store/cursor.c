/*
 * Reading rows of a layer.  A chunk is located by binary search on its first
 * row; uncompressed chunks are read straight from the mapping, compressed
 * ones are decoded once into the cursor's scratch buffer (one chunk) and the
 * requested rows gathered from it, undoing the byte shuffle on the way.
 */
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "codec/convert.h"
#include "store/store_int.h"
#include "util/error.h"

#define U64(x) ((unsigned long long)(x))

struct lg_cursor {
    lg_store *s;
    lgs_layer *L;
    size_t block;
    uint64_t pos;
    float *buf;            /* one block, allocated on first need */
    unsigned char *scratch; /* one decoded chunk */
    size_t scratch_cap;
    long scratch_chunk;     /* which chunk scratch holds, -1 none */
    long populated;         /* the last chunk whose pages were mapped in */
    int let_go;             /* release each chunk's pages once past it */
    int in_place;           /* the last block points into the mapping */
};

/* A cursor over layer L (one of the store's, or the pending one). */
static int new_cursor(lg_store *s, lgs_layer *L, size_t block_rows, lg_cursor **out,
                      lg_error *err)
{
    if (block_rows == 0)
        return lgu_fail(err, LG_EUSAGE, "cursor block size must be at least one row");
    lg_cursor *c = calloc(1, sizeof *c);
    if (!c)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    c->s = s;
    c->L = L;
    c->block = block_rows;
    c->scratch_chunk = -1;
    c->populated = -1;
    c->let_go = L->bytes_stored > s->release_above;
    *out = c;
    return LG_OK;
}

int lg_cursor_open(lg_store *s, size_t layer, size_t block_rows, lg_cursor **out, lg_error *err)
{
    *out = NULL;
    if (layer >= s->n_layers)
        return lgu_fail(err, LG_ENOTFOUND, "%s: no layer %zu (the store has %zu)", s->path, layer,
                       s->n_layers);
    return new_cursor(s, &s->layers[layer], block_rows, out, err);
}

int lg_cursor_open_pending(lg_store *s, size_t block_rows, lg_cursor **out, lg_error *err)
{
    *out = NULL;
    if (!s->pend.n)
        return lgu_fail(err, LG_ENOTFOUND, "%s: no layer is being written", s->path);
    return new_cursor(s, &s->pend, block_rows, out, err);
}

void lg_cursor_let_go(lg_cursor *c, int on)
{
    c->let_go = on;
}

void lg_cursor_close(lg_cursor *c)
{
    if (!c)
        return;
    /* a store bigger than a quarter of RAM, read layer after layer: the
     * layer done with is let go of, so the mapped pages stay about one layer */
    if (c->populated >= 0 && c->s->size > c->s->release_above)
        for (size_t i = 0; i < c->L->n_chunks; i++)
            lgs_release(c->s, &c->s->chunks[c->L->first_chunk + i]);
    free(c->buf);
    free(c->scratch);
    free(c);
}

static size_t find_chunk(const lg_store *s, const lgs_layer *L, uint64_t row)
{
    size_t lo = 0, hi = L->n_chunks;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (s->chunks[L->first_chunk + mid].first_row <= row)
            lo = mid;
        else
            hi = mid;
    }
    return L->first_chunk + lo;
}

/* Maps chunk ci's pages in and asks for the next chunk's.  Reading moves on:
 * in a layer too big to keep mapped (lg_cursor_let_go) the pages of the
 * chunk before are let go, so a pass over a layer larger than memory keeps
 * about two chunks of it mapped, not the whole layer. */
static void enter_chunk(lg_cursor *cur, size_t ci)
{
    if (cur->populated == (long)ci)
        return;
    if (cur->populated >= 0 && cur->let_go)
        lgs_release(cur->s, &cur->s->chunks[cur->populated]);
    lgs_populate(cur->s, &cur->s->chunks[ci]);
    /* readers go forward: the next chunk is read from disk while this one
     * is checked and decoded */
    if (ci + 1 < cur->L->first_chunk + cur->L->n_chunks)
        lgs_prefetch(cur->s, &cur->s->chunks[ci + 1]);
    cur->populated = (long)ci;
}

/* The decoded (but possibly still shuffled) bytes of chunk ci. */
static int chunk_bytes(lg_cursor *cur, size_t ci, const unsigned char **bytes, lg_error *err)
{
    lg_store *s = cur->s;
    lgs_chunk *c = &s->chunks[ci];
    enter_chunk(cur, ci);
    int rc = lgs_verify_chunk(s, cur->L, c, err);
    if (rc)
        return rc;
    const unsigned char *payload = s->map + c->off + LGS_RECORD_HEADER_SIZE;
    if (c->codec == LG_CODEC_NONE) {
        *bytes = payload;
        return LG_OK;
    }
    if (cur->scratch_chunk == (long)ci) {
        *bytes = cur->scratch;
        return LG_OK;
    }
    size_t raw = (size_t)c->rows * cur->L->d * lg_dtype_size((lg_dtype)cur->L->dtype);
    if (raw > cur->scratch_cap) {
        unsigned char *p = realloc(cur->scratch, raw);
        if (!p)
            return lgu_fail(err, LG_ENOMEM, "out of memory for a %zu-byte chunk", raw);
        cur->scratch = p;
        cur->scratch_cap = raw;
    }
    cur->scratch_chunk = -1;
    rc = lgc_decompress((lg_codec)c->codec, payload, c->stored, cur->scratch, raw);
    if (rc)
        return lgu_fail(err, LG_ECORRUPT,
                       "%s: chunk record at offset %llu (layer %u, %s, rows %llu..%llu): %s data "
                       "does not decode to %zu bytes",
                       s->path, U64(c->off), cur->L->id, cur->L->name, U64(c->first_row),
                       U64(c->first_row + c->rows), lg_codec_name((lg_codec)c->codec), raw);
    cur->scratch_chunk = (long)ci;
    *bytes = cur->scratch;
    return LG_OK;
}

/* Copies elements [e0, e0 + ne) of a chunk of n elements, undoing the shuffle,
 * into out as the stored type (to_f32 = 0) or as float32. */
static void gather(const unsigned char *src, int shuffled, size_t n, lg_dtype t, size_t e0,
                   size_t ne, void *out, int to_f32)
{
    size_t es = lg_dtype_size(t);
    if (!shuffled) {
        if (to_f32)
            lg_to_f32(t, src + e0 * es, out, ne);
        else
            memcpy(out, src + e0 * es, ne * es);
        return;
    }
    if (!to_f32 || t == LG_F32) {
        lgc_unshuffle_range(src, es, n, e0, ne, out);
        return;
    }
    /* unshuffle a piece into a small buffer that stays in L1, then widen */
    unsigned char tmp[8 * 1024];
    float *o = out;
    while (ne) {
        size_t m = ne < 1024 ? ne : 1024;
        lgc_unshuffle_range(src, es, n, e0, m, tmp);
        lg_to_f32(t, tmp, o, m);
        o += m;
        e0 += m;
        ne -= m;
    }
}

static int read_rows(lg_cursor *cur, uint64_t row0, size_t n, void *out, int to_f32,
                     lg_error *err)
{
    lg_store *s = cur->s;
    const lgs_layer *L = cur->L;
    if (row0 > L->n || n > L->n - row0)
        return lgu_fail(err, LG_EUSAGE, "%s: layer %u (%s): rows %llu..%llu outside 0..%llu",
                       s->path, L->id, L->name, U64(row0), U64(row0 + n), U64(L->n));
    size_t out_es = to_f32 ? 4 : lg_dtype_size((lg_dtype)L->dtype);
    unsigned char *o = out;
    while (n) {
        size_t ci = find_chunk(s, L, row0);
        const lgs_chunk *c = &s->chunks[ci];
        const unsigned char *bytes = NULL;
        int rc = chunk_bytes(cur, ci, &bytes, err);
        if (rc)
            return rc;
        uint64_t r = row0 - c->first_row;
        size_t take = (size_t)(c->rows - r) < n ? (size_t)(c->rows - r) : n;
        gather(bytes, c->filter == LG_FILTER_SHUFFLE, (size_t)c->rows * L->d,
               (lg_dtype)L->dtype, (size_t)r * L->d, take * L->d, o, to_f32);
        o += take * L->d * out_es;
        row0 += take;
        n -= take;
    }
    return LG_OK;
}

int lg_cursor_read(lg_cursor *c, uint64_t row0, size_t n, float *out, lg_error *err)
{
    return read_rows(c, row0, n, out, 1, err);
}

int lg_cursor_read_raw(lg_cursor *c, uint64_t row0, size_t n, void *out, lg_error *err)
{
    return read_rows(c, row0, n, out, 0, err);
}

int lg_cursor_seek(lg_cursor *c, uint64_t r, lg_error *err)
{
    if (r > c->L->n)
        return lgu_fail(err, LG_EUSAGE, "%s: layer %u: cannot seek to row %llu of %llu",
                       c->s->path, c->L->id, U64(r), U64(c->L->n));
    c->pos = r;
    return LG_OK;
}

int lg_cursor_next(lg_cursor *c, const float **rows, uint64_t *row0, size_t *n, lg_error *err)
{
    const lgs_layer *L = c->L;
    uint64_t left = L->n - c->pos;
    size_t take = left < c->block ? (size_t)left : c->block;
    *row0 = c->pos;
    *n = take;
    *rows = NULL;
    c->in_place = 0;
    if (!take)
        return LG_OK;
    size_t ci = find_chunk(c->s, L, c->pos);
    lgs_chunk *ch = &c->s->chunks[ci];
    if (L->dtype == LG_F32 && ch->codec == LG_CODEC_NONE && ch->filter == LG_FILTER_NONE) {
        /* deliver at most to the end of the chunk, so no copy is needed */
        if (c->pos + take > ch->first_row + ch->rows)
            *n = take = (size_t)(ch->first_row + ch->rows - c->pos);
        /* in place: the payload is 64-byte aligned in the mapping */
        enter_chunk(c, ci);
        int rc = lgs_verify_chunk(c->s, L, ch, err);
        if (rc)
            return rc;
        *rows = (const float *)(const void *)(c->s->map + ch->off + LGS_RECORD_HEADER_SIZE) +
                (size_t)(c->pos - ch->first_row) * L->d;
        c->pos += take;
        c->in_place = 1;
        return LG_OK;
    }
    if (!c->buf) {
        c->buf = malloc(c->block * L->d * sizeof(float));
        if (!c->buf)
            return lgu_fail(err, LG_ENOMEM, "out of memory for a block of %zu rows x %u", c->block,
                           L->d);
    }
    int rc = read_rows(c, c->pos, take, c->buf, 1, err);
    if (rc)
        return rc;
    *rows = c->buf;
    c->pos += take;
    return LG_OK;
}

int lg_cursor_in_place(const lg_cursor *c)
{
    return c->in_place;
}

/*
 * Opening a store: map the file, find the index through the trailer at the
 * end, and fall back to scanning the records when the end is missing or
 * torn (a crash mid-write), keeping every complete record.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
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

static void *grow(void *p, size_t n, size_t size)
{
    /* callers grow by one at a time: double when n hits a power of two */
    if (n && (n & (n - 1)))
        return p;
    size_t cap = n ? 2 * n : 4;
    return realloc(p, cap * size);
}

static int nomem(lg_error *err, const lg_store *s)
{
    return lgu_fail(err, LG_ENOMEM, "%s: out of memory while reading the index", s->path);
}

/* Validates one chunk record listed by a seal and appends it. */
static int add_chunk(lg_store *s, lgs_layer *L, uint64_t off, uint64_t expect_row, lg_error *err)
{
    lgs_header h;
    int rc = lgs_record_at(s, off, &h, err);
    if (rc)
        return lgu_fail_prefix(err, "layer %u (%s): chunk list", L->id, L->name);
    const char *why = NULL;
    size_t es = lg_dtype_size((lg_dtype)h.e[0]);
    if (h.type != LGS_CHUNK)
        why = "record type (expected chunk)";
    else if (h.b != L->id)
        why = "layer id (differs from the seal)";
    else if (h.d != L->d || h.e[0] != L->dtype)
        why = "dim or dtype (differs from the seal)";
    else if (h.a != expect_row)
        why = "first_row (chunks must cover the rows in order)";
    else if (h.c == 0)
        why = "rows (zero)";
    else if (h.e[1] > LG_CODEC_ZSTD || h.e[2] > LG_FILTER_SHUFFLE || h.e[3] ||
             lgu_get64(h.e + 4))
        why = "codec, filter or reserved bytes";
    else if (!es || h.raw_size != (uint64_t)h.c * h.d * es || h.raw_size > LGS_MAX_CHUNK_BYTES)
        why = "raw size (expected rows x dim x element size, at most 256 MiB)";
    else if (h.e[1] == LG_CODEC_NONE && h.stored_size != h.raw_size)
        why = "stored size (an uncompressed chunk stores its raw size)";
    if (why)
        return lgu_fail(err, LG_ECORRUPT, "%s: chunk record at offset %llu (layer %u, %s): bad %s",
                       s->path, U64(off), L->id, L->name, why);
    void *p = grow(s->chunks, s->n_chunks, sizeof *s->chunks);
    if (!p)
        return nomem(err, s);
    s->chunks = p;
    lgs_chunk *c = &s->chunks[s->n_chunks++];
    c->off = off;
    c->first_row = h.a;
    c->rows = h.c;
    c->stored = h.stored_size;
    c->crc = h.payload_crc;
    c->codec = h.e[1];
    c->filter = h.e[2];
    atomic_init(&c->verified, 0);
    L->bytes_stored += h.stored_size;
    return LG_OK;
}

static void free_layer(lgs_layer *L)
{
    free(L->name);
    L->name = NULL;
}

/* Adds the count chunks listed at list (u64 offsets, each before the
 * listing record at off) to L, continuing at its row L->n; the rows then
 * must reach total. */
static int add_chunk_list(lg_store *s, lgs_layer *L, uint64_t off, const char *what,
                          const unsigned char *list, uint32_t count, uint64_t total,
                          lg_error *err)
{
    for (uint32_t i = 0; i < count; i++) {
        uint64_t coff = lgu_get64(list + 8ull * i);
        if (coff >= off)
            return lgu_fail(err, LG_ECORRUPT,
                           "%s: %s record at offset %llu (layer %u): chunk %u at offset %llu "
                           "does not precede it",
                           s->path, what, U64(off), L->id, i, U64(coff));
        int rc = add_chunk(s, L, coff, L->n, err);
        if (rc)
            return rc;
        L->n += s->chunks[s->n_chunks - 1].rows;
        L->n_chunks++;
    }
    if (L->n != total)
        return lgu_fail(err, LG_ECORRUPT,
                       "%s: %s record at offset %llu (layer %u): chunks hold %llu rows, the "
                       "record says %llu",
                       s->path, what, U64(off), L->id, U64(L->n), U64(total));
    return LG_OK;
}

/* Reads a SEAL record into *L (name, chunk list; chunks appended to
 * s->chunks), without making it a layer of the store. */
static int parse_seal(lg_store *s, uint64_t off, const lgs_header *h, lgs_layer *L,
                      lg_error *err)
{
    const unsigned char *p = s->map + off + LGS_RECORD_HEADER_SIZE;
    uint64_t len = h->stored_size;
    int rc = lgs_check_payload(s, off, h, err);
    if (rc)
        return rc;
    uint32_t name_len = len >= 4 ? lgu_get32(p) : UINT32_MAX;
    uint64_t list_at = (4 + (uint64_t)name_len + 7) & ~7ull; /* offsets are 8-aligned */
    if (name_len > LGS_MAX_NAME || h->c == 0 || list_at + 8ull * h->c != len ||
        h->raw_size != len || h->d == 0 || h->d > LGS_MAX_D ||
        !lg_dtype_size((lg_dtype)h->e[0]) || h->e[1] || h->e[2] || h->e[3] ||
        lgu_get32(h->e + 8) || memchr(p + 4, 0, name_len))
        return lgu_fail(err, LG_ECORRUPT,
                       "%s: seal record at offset %llu (layer %u): bad layout (name length, "
                       "chunk count %u, dim %u or dtype %u)",
                       s->path, U64(off), h->b, h->c, h->d, h->e[0]);
    memset(L, 0, sizeof *L);
    L->id = h->b;
    L->d = h->d;
    L->dtype = h->e[0];
    L->content_crc = lgu_get32(h->e + 4);
    L->seal_off = off;
    L->name = malloc(name_len + 1);
    if (!L->name)
        return nomem(err, s);
    memcpy(L->name, p + 4, name_len);
    L->name[name_len] = 0;
    L->first_chunk = s->n_chunks;
    rc = add_chunk_list(s, L, off, "seal", p + list_at, h->c, h->a, err);
    if (rc)
        free_layer(L);
    return rc;
}

/* Makes L a layer of the store: a later seal of the same id replaces an
 * earlier one (its old chunks stay in the array, unreferenced). */
static int register_layer(lg_store *s, lgs_layer *L)
{
    for (size_t i = 0; i < s->n_layers; i++)
        if (s->layers[i].id == L->id) {
            free_layer(&s->layers[i]);
            s->layers[i] = *L;
            return LG_OK;
        }
    void *q = grow(s->layers, s->n_layers, sizeof *s->layers);
    if (!q) {
        free_layer(L);
        return LG_ENOMEM;
    }
    s->layers = q;
    s->layers[s->n_layers++] = *L;
    return LG_OK;
}

static int add_seal(lg_store *s, uint64_t off, const lgs_header *h, lg_error *err)
{
    lgs_layer L;
    int rc = parse_seal(s, off, h, &L, err);
    if (!rc && register_layer(s, &L))
        rc = nomem(err, s);
    return rc;
}

/* Offsets of a chain's records, newest first, down to (and with) its base:
 * each record's payload starts with (prefix bytes, then) the u64 offset of
 * the previous one, which must precede it. */
static int walk_chain(lg_store *s, uint64_t head, int ext_type, int base_type,
                      uint64_t **out, size_t *n_out, lg_error *err)
{
    uint64_t *v = NULL, cur = head;
    size_t n = 0;
    for (;;) {
        lgs_header h;
        int rc = lgs_record_at(s, cur, &h, err);
        if (!rc && h.type == base_type) {
            void *q = grow(v, n, sizeof *v);
            if (!q) {
                free(v);
                return nomem(err, s);
            }
            v = q;
            v[n++] = cur;
            *out = v;
            *n_out = n;
            return LG_OK;
        }
        if (!rc && h.type != ext_type)
            rc = lgu_fail(err, LG_ECORRUPT,
                         "%s: record at offset %llu: a %s chain leads to a %s record",
                         s->path, U64(cur), lgs_type_name((unsigned)ext_type),
                         lgs_type_name(h.type));
        if (!rc)
            rc = lgs_check_payload(s, cur, &h, err);
        const unsigned char *p = s->map + cur + LGS_RECORD_HEADER_SIZE;
        uint64_t at = 0;
        if (!rc && ext_type == LGS_LABELS_EXTEND) {
            uint32_t nl = h.stored_size >= 4 ? lgu_get32(p) : UINT32_MAX;
            at = nl <= LGS_MAX_NAME ? ((4 + (uint64_t)nl + 7) & ~7ull) : UINT64_MAX;
        }
        if (!rc && (at > h.stored_size || h.stored_size - at < 16))
            rc = lgu_fail(err, LG_ECORRUPT, "%s: %s record at offset %llu: bad layout", s->path,
                         lgs_type_name(h.type), U64(cur));
        uint64_t prev = rc ? 0 : lgu_get64(p + at);
        if (!rc && (prev >= cur || prev < LGS_FILE_HEADER_SIZE))
            rc = lgu_fail(err, LG_ECORRUPT,
                         "%s: %s record at offset %llu: previous record at %llu does not "
                         "precede it",
                         s->path, lgs_type_name(h.type), U64(cur), U64(prev));
        void *q = rc ? NULL : grow(v, n, sizeof *v);
        if (!rc && !q)
            rc = nomem(err, s);
        if (rc) {
            free(v);
            return rc;
        }
        v = q;
        v[n++] = cur;
        cur = prev;
    }
}

/* An EXTEND record: the layer is its chain's SEAL plus every EXTEND's new
 * chunks, oldest first. */
static int add_extend(lg_store *s, uint64_t off, lg_error *err)
{
    uint64_t *chain;
    size_t n;
    int rc = walk_chain(s, off, LGS_EXTEND, LGS_SEAL, &chain, &n, err);
    if (rc)
        return rc;
    lgs_header h;
    lgs_layer L = {0};
    rc = lgs_record_at(s, chain[n - 1], &h, err);
    if (!rc)
        rc = parse_seal(s, chain[n - 1], &h, &L, err); /* frees what it took on failure */
    int parsed = !rc;
    for (size_t k = n - 1; !rc && k-- > 0;) {
        uint64_t at = chain[k];
        rc = lgs_record_at(s, at, &h, err);
        const unsigned char *p = s->map + at + LGS_RECORD_HEADER_SIZE;
        if (!rc && (h.b != L.id || h.d != L.d || h.e[0] != L.dtype || h.c == 0 ||
                    h.stored_size != 16 + 8ull * h.c || h.raw_size != h.stored_size ||
                    lgu_get64(p + 8) != L.n || h.e[1] || h.e[2] || h.e[3] ||
                    lgu_get32(h.e + 8)))
            rc = lgu_fail(err, LG_ECORRUPT,
                         "%s: extend record at offset %llu (layer %u): bad layout, or it does "
                         "not continue layer %u (%s) at row %llu",
                         s->path, U64(at), h.b, L.id, L.name, U64(L.n));
        if (!rc)
            rc = add_chunk_list(s, &L, at, "extend", p + 16, h.c, h.a, err);
        if (!rc)
            L.content_crc = lgu_get32(h.e + 4);
    }
    if (!rc) {
        L.seal_off = off;
        L.depth = (uint32_t)(n - 1);
        if (register_layer(s, &L))
            rc = nomem(err, s);
    } else if (parsed) {
        free_layer(&L);
    }
    free(chain);
    return rc;
}

/* A LABELS record, or a LABELS_EXTEND at the head of a chain down to one:
 * the set's labels, oldest records first. */
static int add_labels(lg_store *s, uint64_t off, lg_error *err)
{
    uint64_t *chain;
    size_t n;
    int rc = walk_chain(s, off, LGS_LABELS_EXTEND, LGS_LABELS, &chain, &n, err);
    if (rc)
        return rc;
    lgs_labels Lb = {0};
    uint64_t cap = 0;
    for (size_t k = n; !rc && k-- > 0;) {
        uint64_t at = chain[k];
        lgs_header h;
        rc = lgs_record_at(s, at, &h, err);
        if (!rc && k == n - 1)
            rc = lgs_check_payload(s, at, &h, err); /* the extensions' were checked */
        if (rc)
            break;
        const unsigned char *p = s->map + at + LGS_RECORD_HEADER_SIZE;
        uint64_t len = h.stored_size;
        uint32_t name_len = len >= 4 ? lgu_get32(p) : UINT32_MAX;
        uint64_t pre = (4 + (uint64_t)name_len + 7) & ~7ull;
        uint64_t data = k == n - 1 ? pre : pre + 16;
        uint64_t first = k == n - 1 ? 0 : (data <= len ? lgu_get64(p + pre + 8) : UINT64_MAX);
        if (name_len > LGS_MAX_NAME || h.a > (1ull << 40) || first != Lb.n || h.a < first ||
            data + 8 * (h.a - first) != len || h.raw_size != len || h.b || h.c || h.d ||
            memchr(p + 4, 0, name_len) ||
            (Lb.name && (strlen(Lb.name) != name_len || memcmp(Lb.name, p + 4, name_len)))) {
            rc = lgu_fail(err, LG_ECORRUPT,
                         "%s: %s record at offset %llu: bad layout (name, first label or count "
                         "%llu)",
                         s->path, lgs_type_name(h.type), U64(at), U64(h.a));
            break;
        }
        if (!Lb.name) {
            Lb.name = malloc(name_len + 1);
            if (!Lb.name) {
                rc = nomem(err, s);
                break;
            }
            memcpy(Lb.name, p + 4, name_len);
            Lb.name[name_len] = 0;
        }
        if (h.a > cap || !Lb.values) {
            cap = h.a > 2 * cap ? h.a : 2 * cap;
            int64_t *v = realloc(Lb.values, (cap ? cap : 1) * sizeof *v);
            if (!v) {
                rc = nomem(err, s);
                break;
            }
            Lb.values = v;
        }
        for (uint64_t i = first; i < h.a; i++)
            Lb.values[i] = (int64_t)lgu_get64(p + data + 8 * (i - first));
        Lb.n = h.a;
    }
    free(chain);
    if (rc) {
        free(Lb.name);
        free(Lb.values);
        return rc;
    }
    Lb.off = off;
    Lb.depth = (uint32_t)(n - 1);
    for (size_t i = 0; i < s->n_labels; i++)
        if (strcmp(s->labels[i].name, Lb.name) == 0) {
            free(s->labels[i].name);
            free(s->labels[i].values);
            s->labels[i] = Lb;
            return LG_OK;
        }
    void *q = grow(s->labels, s->n_labels, sizeof *s->labels);
    if (!q) {
        free(Lb.name);
        free(Lb.values);
        return nomem(err, s);
    }
    s->labels = q;
    s->labels[s->n_labels++] = Lb;
    return LG_OK;
}

static void free_meta(lg_store *s)
{
    for (size_t i = 0; i < s->n_meta; i++) {
        free(s->meta[i].key);
        free(s->meta[i].val);
    }
    free(s->meta);
    s->meta = NULL;
    s->n_meta = 0;
}

/* A meta record replaces all metadata (the writer always writes the full set). */
static int set_meta(lg_store *s, uint64_t off, const lgs_header *h, lg_error *err)
{
    int rc = lgs_check_payload(s, off, h, err);
    if (rc)
        return rc;
    const unsigned char *p = s->map + off + LGS_RECORD_HEADER_SIZE;
    uint64_t len = h->stored_size;
    if (len > LGS_MAX_META_BYTES || h->a > len / 8 || h->raw_size != len)
        goto bad;
    free_meta(s);
    s->meta = calloc(h->a ? h->a : 1, sizeof *s->meta);
    if (!s->meta)
        return nomem(err, s);
    size_t pos = 0;
    for (uint64_t i = 0; i < h->a; i++) {
        const char *key;
        const void *val;
        uint32_t kl, vl;
        if (lg_meta_next(p, len, &pos, &key, &kl, &val, &vl) != 1)
            goto bad;
        lgs_kv *kv = &s->meta[s->n_meta];
        kv->key = malloc(kl + 1);
        kv->val = malloc(vl + 1);
        if (!kv->key || !kv->val) {
            free(kv->key);
            free(kv->val);
            return nomem(err, s);
        }
        memcpy(kv->key, key, kl);
        kv->key[kl] = 0;
        memcpy(kv->val, val, vl);
        kv->val[vl] = 0;
        kv->len = vl;
        s->n_meta++;
    }
    if (pos != len)
        goto bad;
    s->meta_off = off;
    return LG_OK;
bad:
    free_meta(s);
    return lgu_fail(err, LG_ECORRUPT, "%s: meta record at offset %llu: bad key/value layout",
                   s->path, U64(off));
}

/* Adds a live record (seal, labels or meta); other types are ignored. */
static int add_live(lg_store *s, uint64_t off, const lgs_header *h, lg_error *err)
{
    switch (h->type) {
    case LGS_SEAL: return add_seal(s, off, h, err);
    case LGS_EXTEND: return add_extend(s, off, err);
    case LGS_LABELS:
    case LGS_LABELS_EXTEND: return add_labels(s, off, err);
    case LGS_META: return set_meta(s, off, h, err);
    default: return LG_OK;
    }
}

static int load_index(lg_store *s, uint64_t trailer_off, lg_error *err)
{
    lgs_header t, h;
    int rc = lgs_record_at(s, trailer_off, &t, err);
    if (rc)
        return rc;
    uint64_t ioff = t.a;
    if (ioff >= trailer_off)
        return lgu_fail(err, LG_ECORRUPT,
                       "%s: trailer at offset %llu: index offset %llu does not precede it",
                       s->path, U64(trailer_off), U64(ioff));
    rc = lgs_record_at(s, ioff, &h, err);
    if (rc)
        return rc;
    if (h.type != LGS_INDEX || h.stored_size != 8 * h.a || h.raw_size != h.stored_size)
        return lgu_fail(err, LG_ECORRUPT,
                       "%s: record at offset %llu named by the trailer is not a valid index",
                       s->path, U64(ioff));
    rc = lgs_check_payload(s, ioff, &h, err);
    if (rc)
        return rc;
    const unsigned char *p = s->map + ioff + LGS_RECORD_HEADER_SIZE;
    for (uint64_t i = 0; i < h.a; i++) {
        uint64_t off = lgu_get64(p + 8 * i);
        lgs_header r;
        if (off >= ioff)
            return lgu_fail(err, LG_ECORRUPT,
                           "%s: index at offset %llu: entry %llu points at %llu, past the index",
                           s->path, U64(ioff), U64(i), U64(off));
        rc = lgs_record_at(s, off, &r, err);
        if (!rc)
            rc = add_live(s, off, &r, err);
        if (rc)
            return rc;
    }
    s->generation = t.b;
    return LG_OK;
}

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
        if (add_chunk(s, P, offs[i], P->n, &ignored))
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
        return have && h->a != rows ? LG_OK : add_seal(s, off, h, err);
    case LGS_LABELS:
        return have && h->a != rows ? LG_OK : add_labels(s, off, err);
    case LGS_META:
        return add_live(s, off, h, err);
    default:
        return LG_OK;
    }
}

/* A trailer is valid where it says it is. */
static int is_trailer(const lg_store *s, uint64_t off, const lgs_header *h)
{
    return h->type == LGS_TRAILER && h->stored_size == 0 && lgu_get64(h->e + 4) == off &&
           h->a < off && h->a >= LGS_FILE_HEADER_SIZE && h->a % LGS_ALIGN == 0 && s;
}

/* Walks the records from the start.  Everything up to the last valid trailer
 * is taken from that trailer's index; the records after it are checked in
 * full (payload checksums too) and kept up to the first damaged one. */
static int scan(lg_store *s, lg_error *err)
{
    uint64_t off = LGS_FILE_HEADER_SIZE, last_trailer = 0;
    const char *stop = NULL;
    lgs_header h;
    while (off < s->size) {
        if (s->size - off < LGS_RECORD_HEADER_SIZE) {
            stop = "incomplete record header";
            break;
        }
        stop = lgs_decode_header(s->map + off, &h);
        if (stop)
            break;
        if (lgs_record_span(h.stored_size) > s->size - off) {
            stop = "record runs past the end of the file";
            break;
        }
        if (is_trailer(s, off, &h))
            last_trailer = off;
        if (h.type == LGS_CHUNK && (s->max_chunk_id == UINT32_MAX || h.b > s->max_chunk_id))
            s->max_chunk_id = h.b;
        off += lgs_record_span(h.stored_size);
    }
    uint64_t stop_off = off;
    uint64_t from = LGS_FILE_HEADER_SIZE;
    if (last_trailer) {
        int rc = load_index(s, last_trailer, err);
        if (rc)
            return rc;
        from = last_trailer + LGS_RECORD_HEADER_SIZE;
    }
    lg_error local;
    uint64_t *pending = NULL; /* chunks since the last seal: a layer being written */
    size_t n_pending = 0, cap_pending = 0;
    for (off = from; off < stop_off; off += lgs_record_span(h.stored_size)) {
        if (lgs_record_at(s, off, &h, &local) || lgs_check_payload(s, off, &h, &local)) {
            stop = "payload checksum or padding";
            stop_off = off;
            break;
        }
        if (h.type == LGS_SEAL)
            n_pending = 0;
        if (h.type == LGS_CHUNK) {
            if (n_pending == cap_pending) {
                size_t cap = cap_pending ? 2 * cap_pending : 64;
                uint64_t *q = realloc(pending, cap * sizeof *q);
                if (!q) {
                    free(pending);
                    return lgu_fail(err, LG_ENOMEM, "out of memory");
                }
                pending = q;
                cap_pending = cap;
            }
            pending[n_pending++] = off;
        }
        int rc = add_uncommitted(s, off, &h, &local);
        if (rc == LG_ENOMEM)
            return lgu_fail(err, rc, "%s", local.msg);
        if (rc) {
            stop = "inconsistent record";
            stop_off = off;
            break;
        }
    }
    add_pending(s, pending, n_pending);
    free(pending);
    s->end = stop_off;
    s->dropped_from = stop_off;
    s->damage_kind = stop_off < s->size ? (stop && strstr(stop, "past the end") ? 1 : 2) : 0;
    if (stop_off < s->size && s->size - stop_off < LGS_RECORD_HEADER_SIZE)
        s->damage_kind = 1;
    char kept[160] = "the records";
    if (last_trailer)
        snprintf(kept, sizeof kept, "the index at offset %llu and the records after it",
                 U64(last_trailer));
    snprintf(s->note, sizeof s->note,
             "%s %s: read by scanning; kept %s up to offset %llu; %llu bytes "
             "after that were not used%s%s%s",
             s->path,
             (s->file_flags & LGS_FLAG_STREAM) ? "is in stream form (no index)"
                                               : "has no valid index at its end",
             kept, U64(stop_off), U64(s->size - stop_off), stop_off < s->size ? " (" : "",
             stop_off < s->size && stop ? stop : "", stop_off < s->size ? ")" : "");
    s->recovered = 1;
    return LG_OK;
}

static int cmp_layer(const void *a, const void *b)
{
    const lgs_layer *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* All layers and label sets describe the same rows. */
static int check_rows(lg_store *s, lg_error *err)
{
    uint64_t n = s->n_layers ? s->layers[0].n : (s->n_labels ? s->labels[0].n : 0);
    for (size_t i = 0; i < s->n_layers; i++)
        if (s->layers[i].n != n)
            return lgu_fail(err, LG_ECORRUPT,
                           "%s: layer %u (%s) has %llu rows, layer %u has %llu: all layers must "
                           "have the same rows",
                           s->path, s->layers[i].id, s->layers[i].name, U64(s->layers[i].n),
                           s->layers[0].id, U64(n));
    for (size_t i = 0; i < s->n_labels; i++)
        if (s->labels[i].n != n)
            return lgu_fail(err, LG_ECORRUPT,
                           "%s: label set '%s' has %llu labels for %llu rows", s->path,
                           s->labels[i].name, U64(s->labels[i].n), U64(n));
    return LG_OK;
}

int lgs_open_fd(const char *path, int fd, unsigned flags, lg_store **out, lg_error *err)
{
    *out = NULL;
    struct stat st;
    if (fstat(fd, &st) != 0)
        return lgu_fail(err, LG_EIO, "%s: cannot stat: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return lgu_fail(err, LG_EINPUT, "%s: not a regular file", path);
    if ((uint64_t)st.st_size < LGS_FILE_HEADER_SIZE)
        return lgu_fail(err, LG_EINPUT,
                       "%s: %lld bytes: too short for a layergeom store (the header alone is 64 "
                       "bytes)",
                       path, (long long)st.st_size);
    lg_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return lgu_fail(err, LG_ENOMEM, "%s: out of memory", path);
    }
    s->fd = fd;
    s->flags = flags;
    s->max_chunk_id = UINT32_MAX;
    s->size = (uint64_t)st.st_size;
    /* a layer that fits comfortably stays mapped: passes over it again (the
     * exact search's panels, its finishing pass) find it there; a bigger one
     * is let go of as it is read */
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    s->release_above = pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize / 4 : 1u << 30;
    s->map = mmap(NULL, s->size, PROT_READ, MAP_SHARED, fd, 0);
    if (s->map == MAP_FAILED) {
        s->map = NULL;
        int e = errno;
        s->fd = -1;
        lg_store_close(s);
        return lgu_fail(err, LG_EIO, "%s: cannot map: %s", path, strerror(e));
    }
    int rc;
    const char *bad = lgs_decode_file_header(s->map, &s->file_flags);
    if (bad) {
        rc = lgu_fail(err, LG_EINPUT, "%s: offset 0: bad %s", path, bad);
        goto fail;
    }
    uint64_t tail = s->size - LGS_RECORD_HEADER_SIZE;
    lgs_header h;
    s->end = s->size;
    s->dropped_from = s->size;
    if (!(s->file_flags & LGS_FLAG_STREAM) && s->size % LGS_ALIGN == 0 &&
        s->size >= 2 * LGS_RECORD_HEADER_SIZE && !lgs_decode_header(s->map + tail, &h) &&
        is_trailer(s, tail, &h))
        rc = load_index(s, tail, err);
    else
        rc = scan(s, err);
    if (rc)
        goto fail;
    if (s->n_layers > 1)
        qsort(s->layers, s->n_layers, sizeof *s->layers, cmp_layer);
    for (size_t i = 1; i < s->n_layers; i++)
        if (s->layers[i].id == s->layers[i - 1].id) {
            rc = lgu_fail(err, LG_ECORRUPT, "%s: layer id %u appears twice", path,
                         s->layers[i].id);
            goto fail;
        }
    rc = check_rows(s, err);
    if (rc)
        goto fail;
    *out = s;
    return LG_OK;
fail:
    s->fd = -1; /* the caller owns fd */
    lg_store_close(s);
    return rc;
}

int lg_store_open(const char *path, unsigned flags, lg_store **out, lg_error *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lgu_fail(err, errno == ENOENT ? LG_ENOTFOUND : LG_EIO, "%s: cannot open: %s", path,
                       strerror(errno));
    int rc = lgs_open_fd(path, fd, flags, out, err);
    if (rc)
        close(fd);
    return rc;
}

void lg_store_close(lg_store *s)
{
    if (!s)
        return;
    if (s->map)
        munmap(s->map, s->size);
    if (s->fd >= 0)
        close(s->fd);
    for (size_t i = 0; i < s->n_layers; i++)
        free_layer(&s->layers[i]);
    free(s->layers);
    free(s->chunks);
    for (size_t i = 0; i < s->n_labels; i++) {
        free(s->labels[i].name);
        free(s->labels[i].values);
    }
    free(s->labels);
    free_meta(s);
    free(s->path);
    free(s);
}

const char *lg_store_path(const lg_store *s)
{
    return s->path;
}

size_t lg_store_layer_count(const lg_store *s)
{
    return s->n_layers;
}

int lg_store_layer(const lg_store *s, size_t i, lg_layer_info *info)
{
    if (i >= s->n_layers)
        return LG_ENOTFOUND;
    const lgs_layer *L = &s->layers[i];
    const lgs_chunk *c = &s->chunks[L->first_chunk];
    info->id = L->id;
    info->name = L->name;
    info->n = L->n;
    info->d = L->d;
    info->dtype = (lg_dtype)L->dtype;
    info->codec = (lg_codec)c->codec;
    info->filter = (lg_filter)c->filter;
    info->n_chunks = (uint32_t)L->n_chunks;
    info->bytes_stored = L->bytes_stored;
    info->bytes_raw = L->n * L->d * lg_dtype_size((lg_dtype)L->dtype);
    info->content_crc = L->content_crc;
    return LG_OK;
}

long lg_store_find_layer(const lg_store *s, const char *key)
{
    for (size_t i = 0; i < s->n_layers; i++)
        if (strcmp(s->layers[i].name, key) == 0)
            return (long)i;
    char *end;
    unsigned long id = strtoul(key, &end, 10);
    if (*key && !*end)
        for (size_t i = 0; i < s->n_layers; i++)
            if (s->layers[i].id == id)
                return (long)i;
    return -1;
}

uint64_t lg_store_rows(const lg_store *s)
{
    if (s->n_layers)
        return s->layers[0].n;
    return s->n_labels ? s->labels[0].n : 0;
}

uint64_t lg_store_file_size(const lg_store *s)
{
    return s->size;
}

int lg_store_pending(const lg_store *s, lg_layer_info *info)
{
    if (!s->pend.n)
        return 0;
    const lgs_layer *P = &s->pend;
    memset(info, 0, sizeof *info);
    info->id = P->id;
    info->name = "";
    info->n = P->n;
    info->d = P->d;
    info->dtype = (lg_dtype)P->dtype;
    info->n_chunks = (uint32_t)P->n_chunks;
    info->bytes_stored = P->bytes_stored;
    info->bytes_raw = P->n * P->d * lg_dtype_size((lg_dtype)P->dtype);
    return 1;
}

int lg_store_writer_active(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    FILE *f = fopen("/proc/locks", "r");
    if (!f)
        return -1;
    char line[512];
    int active = 0;
    while (!active && fgets(line, sizeof line, f)) {
        /* "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF" */
        unsigned maj, min;
        unsigned long ino;
        char kind[16], rw[16];
        if (sscanf(line, "%*s %15s %*s %15s %*d %x:%x:%lu", kind, rw, &maj, &min, &ino) == 5 &&
            strcmp(kind, "FLOCK") == 0 && strcmp(rw, "WRITE") == 0 && ino == st.st_ino &&
            makedev(maj, min) == st.st_dev)
            active = 1;
    }
    fclose(f);
    return active;
}

const char *lg_store_recovery(const lg_store *s)
{
    return s->recovered ? s->note : NULL;
}

size_t lg_store_label_set_count(const lg_store *s)
{
    return s->n_labels;
}

const char *lg_store_label_set_name(const lg_store *s, size_t i)
{
    return i < s->n_labels ? s->labels[i].name : NULL;
}

int lg_store_labels(const lg_store *s, const char *name, const int64_t **labels, uint64_t *n,
                    lg_error *err)
{
    for (size_t i = 0; i < s->n_labels; i++)
        if (!name || strcmp(s->labels[i].name, name) == 0) {
            *labels = s->labels[i].values;
            *n = s->labels[i].n;
            return LG_OK;
        }
    return lgu_fail(err, LG_ENOTFOUND, "%s: no label set%s%s%s", s->path, name ? " named '" : "",
                   name ? name : "", name ? "'" : "");
}

const void *lg_store_meta(const lg_store *s, const char *key, size_t *len)
{
    for (size_t i = 0; i < s->n_meta; i++)
        if (strcmp(s->meta[i].key, key) == 0) {
            if (len)
                *len = s->meta[i].len;
            return s->meta[i].val;
        }
    return NULL;
}

size_t lg_store_meta_count(const lg_store *s)
{
    return s->n_meta;
}

int lg_store_meta_at(const lg_store *s, size_t i, const char **key, const void **val,
                     size_t *len)
{
    if (i >= s->n_meta)
        return LG_ENOTFOUND;
    *key = s->meta[i].key;
    *val = s->meta[i].val;
    *len = s->meta[i].len;
    return LG_OK;
}

int lg_store_prefix_crc(const lg_store *s, size_t layer, uint64_t rows, uint32_t *crc)
{
    if (layer >= s->n_layers)
        return LG_ENOTFOUND;
    const lgs_layer *L = &s->layers[layer];
    size_t es = lg_dtype_size((lg_dtype)L->dtype);
    uint32_t run = 0;
    uint64_t at = 0;
    for (size_t k = 0; k < L->n_chunks && at < rows; k++) {
        const lgs_chunk *c = &s->chunks[L->first_chunk + k];
        /* only where the payload is the elements themselves is its CRC theirs */
        if (c->codec != LG_CODEC_NONE || c->filter != LG_FILTER_NONE)
            return LG_ENOTFOUND;
        run = lgc_crc32c_combine(run, c->crc, (uint64_t)c->rows * L->d * es);
        at += c->rows;
    }
    if (at != rows)
        return LG_ENOTFOUND; /* not at a chunk boundary */
    *crc = run;
    return LG_OK;
}

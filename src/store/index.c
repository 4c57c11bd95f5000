/*
 * What an index (or a scan) names, taken in: layers from their SEAL and the
 * EXTEND chain after it (each chunk checked against the rows before it),
 * label sets from LABELS and their LABELS_EXTEND chain, the metadata; and the
 * index itself, found through the trailer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "codec/crc32c.h"
#include "store/payload.h"
#include "store/store_int.h"
#include "util/error.h"

#define U64(x) ((unsigned long long)(x))

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
int lgs_add_chunk(lg_store *s, lgs_layer *L, uint64_t off, uint64_t expect_row, lg_error *err)
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

void lgs_free_layer(lgs_layer *L)
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
        int rc = lgs_add_chunk(s, L, coff, L->n, err);
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
    int rc = lgs_check_payload(s, off, h, err);
    if (rc)
        return rc;
    lgs_seal_view v;
    const char *bad = lgs_seal_decode(h, p, &v);
    if (bad)
        return lgu_fail(err, LG_ECORRUPT,
                        "%s: seal record at offset %llu (layer %u): bad %s (chunk count %u, "
                        "dim %u, dtype %u)",
                        s->path, U64(off), h->b, bad, h->c, h->d, h->e[0]);
    memset(L, 0, sizeof *L);
    L->id = h->b;
    L->d = h->d;
    L->dtype = h->e[0];
    L->content_crc = lgu_get32(h->e + 4);
    L->seal_off = off;
    L->name = malloc(v.name_len + 1);
    if (!L->name)
        return nomem(err, s);
    memcpy(L->name, v.name, v.name_len);
    L->name[v.name_len] = 0;
    L->first_chunk = s->n_chunks;
    rc = add_chunk_list(s, L, off, "seal", v.offsets, v.count, h->a, err);
    if (rc)
        lgs_free_layer(L);
    return rc;
}

/* Makes L a layer of the store: a later seal of the same id replaces an
 * earlier one (its old chunks stay in the array, unreferenced). */
static int register_layer(lg_store *s, lgs_layer *L)
{
    for (size_t i = 0; i < s->n_layers; i++)
        if (s->layers[i].id == L->id) {
            if (s->indexing)
                return LG_ECORRUPT; /* an index lists one live record per layer */
            lgs_free_layer(&s->layers[i]);
            s->layers[i] = *L;
            return LG_OK;
        }
    void *q = grow(s->layers, s->n_layers, sizeof *s->layers);
    if (!q) {
        lgs_free_layer(L);
        return LG_ENOMEM;
    }
    s->layers = q;
    s->layers[s->n_layers++] = *L;
    return LG_OK;
}

/* register_layer, with its refusals as messages (L is freed then). */
static int take_layer(lg_store *s, lgs_layer *L, uint64_t off, lg_error *err)
{
    uint32_t id = L->id;
    int rc = register_layer(s, L);
    if (rc == LG_ECORRUPT) {
        lgs_free_layer(L);
        return lgu_fail(err, LG_ECORRUPT,
                        "%s: record at offset %llu: the index lists layer id %u twice (one of "
                        "them would vanish)",
                        s->path, U64(off), id);
    }
    return rc ? nomem(err, s) : LG_OK;
}

int lgs_add_seal(lg_store *s, uint64_t off, const lgs_header *h, lg_error *err)
{
    lgs_layer L;
    int rc = parse_seal(s, off, h, &L, err);
    if (!rc)
        rc = take_layer(s, &L, off, err);
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
        uint64_t prev = 0;
        const char *bad = NULL;
        if (!rc && ext_type == LGS_LABELS_EXTEND) {
            lgs_labels_view lv;
            bad = lgs_labels_decode(&h, p, 1, &lv);
            prev = lv.prev;
        } else if (!rc) {
            lgs_extend_view ev;
            bad = lgs_extend_decode(&h, p, &ev);
            prev = ev.prev;
        }
        if (!rc && bad)
            rc = lgu_fail(err, LG_ECORRUPT, "%s: %s record at offset %llu: bad %s", s->path,
                          lgs_type_name(h.type), U64(cur), bad);
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
        lgs_extend_view v;
        if (!rc && (lgs_extend_decode(&h, p, &v) || h.b != L.id || h.d != L.d ||
                    h.e[0] != L.dtype || v.rows_before != L.n))
            rc = lgu_fail(err, LG_ECORRUPT,
                          "%s: extend record at offset %llu (layer %u): bad layout, or it does "
                          "not continue layer %u (%s) at row %llu",
                          s->path, U64(at), h.b, L.id, L.name, U64(L.n));
        if (!rc)
            rc = add_chunk_list(s, &L, at, "extend", v.offsets, v.count, h.a, err);
        if (!rc)
            L.content_crc = lgu_get32(h.e + 4);
    }
    if (!rc) {
        L.seal_off = off;
        L.depth = (uint32_t)(n - 1);
        rc = take_layer(s, &L, off, err);
    } else if (parsed) {
        lgs_free_layer(&L);
    }
    free(chain);
    return rc;
}

/* A LABELS record, or a LABELS_EXTEND at the head of a chain down to one:
 * the set's labels, oldest records first. */
int lgs_add_labels(lg_store *s, uint64_t off, lg_error *err)
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
        lgs_labels_view v;
        const char *bad = lgs_labels_decode(&h, p, k != n - 1, &v);
        if (!bad && v.first != Lb.n)
            bad = "first label (does not continue the set)";
        if (!bad && Lb.name && (strlen(Lb.name) != v.name_len || memcmp(Lb.name, v.name,
                                                                       v.name_len)))
            bad = "name (not the set's)";
        if (bad) {
            rc = lgu_fail(err, LG_ECORRUPT, "%s: %s record at offset %llu: bad %s (count %llu)",
                          s->path, lgs_type_name(h.type), U64(at), bad, U64(h.a));
            break;
        }
        if (!Lb.name) {
            Lb.name = malloc(v.name_len + 1);
            if (!Lb.name) {
                rc = nomem(err, s);
                break;
            }
            memcpy(Lb.name, v.name, v.name_len);
            Lb.name[v.name_len] = 0;
        }
        if (h.a > cap || !Lb.values) {
            cap = h.a > 2 * cap ? h.a : 2 * cap;
            int64_t *grown = realloc(Lb.values, (cap ? cap : 1) * sizeof *grown);
            if (!grown) {
                rc = nomem(err, s);
                break;
            }
            Lb.values = grown;
        }
        for (uint64_t i = v.first; i < h.a; i++)
            Lb.values[i] = (int64_t)lgu_get64(v.values + 8 * (i - v.first));
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

void lgs_free_meta(lg_store *s)
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
    lgs_free_meta(s);
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
    lgs_free_meta(s);
    return lgu_fail(err, LG_ECORRUPT, "%s: meta record at offset %llu: bad key/value layout",
                   s->path, U64(off));
}

/* Adds a live record (seal, labels or meta); other types are ignored. */
int lgs_add_live(lg_store *s, uint64_t off, const lgs_header *h, lg_error *err)
{
    switch (h->type) {
    case LGS_SEAL: return lgs_add_seal(s, off, h, err);
    case LGS_EXTEND: return add_extend(s, off, err);
    case LGS_LABELS:
    case LGS_LABELS_EXTEND: return lgs_add_labels(s, off, err);
    case LGS_META: return set_meta(s, off, h, err);
    default: return LG_OK;
    }
}

int lgs_load_index(lg_store *s, uint64_t trailer_off, lg_error *err)
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
    s->indexing = 1;
    for (uint64_t i = 0; !rc && i < h.a; i++) {
        uint64_t off = lgu_get64(p + 8 * i);
        lgs_header r;
        if (off >= ioff)
            rc = lgu_fail(err, LG_ECORRUPT,
                          "%s: index at offset %llu: entry %llu points at %llu, past the index",
                          s->path, U64(ioff), U64(i), U64(off));
        if (!rc)
            rc = lgs_record_at(s, off, &r, err);
        /* a damaged META or LABELS payload costs only itself: the layers,
         * which need neither, stay readable (#18 item 5) */
        lg_error small;
        if (!rc && (r.type == LGS_META || r.type == LGS_LABELS) &&
            lgs_check_payload(s, off, &r, &small) != LG_OK) {
            size_t used = strlen(s->skipped);
            snprintf(s->skipped + used, sizeof s->skipped - used, "%sthe %s record at offset %llu "
                     "is damaged and was skipped", used ? "; " : "", lgs_type_name(r.type),
                     U64(off));
            continue;
        }
        if (!rc)
            rc = lgs_add_live(s, off, &r, err);
        /* a layer whose SEAL, EXTEND or chunk headers fail their checksums
         * is left out, named; the others stay readable */
        if (rc == LG_ECORRUPT && (r.type == LGS_SEAL || r.type == LGS_EXTEND) &&
            strstr(err->msg, "checksum")) {
            size_t used = strlen(s->skipped);
            snprintf(s->skipped + used, sizeof s->skipped - used,
                     "%slayer %u (%s record at offset %llu) was left out: %s", used ? "; " : "",
                     r.b, lgs_type_name(r.type), U64(off), err->msg);
            rc = LG_OK;
        }
    }
    s->indexing = 0;
    if (rc)
        return rc;
    s->generation = t.b;
    return LG_OK;
}

void lgs_forget_index(lg_store *s)
{
    for (size_t i = 0; i < s->n_layers; i++)
        lgs_free_layer(&s->layers[i]);
    free(s->layers);
    free(s->chunks);
    for (size_t i = 0; i < s->n_labels; i++) {
        free(s->labels[i].name);
        free(s->labels[i].values);
    }
    free(s->labels);
    lgs_free_meta(s);
    s->layers = NULL;
    s->chunks = NULL;
    s->labels = NULL;
    s->n_layers = s->n_chunks = s->n_labels = 0;
    s->meta_off = 0;
    s->generation = 0;
    s->skipped[0] = 0;
}

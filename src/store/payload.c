#include "store/payload.h"

#include <string.h>

#include "util/le.h"

size_t lgs_name_prefix_len(size_t name_len)
{
    return (4 + name_len + 7) & ~(size_t)7;
}

static void put_name(unsigned char *p, const char *name, size_t name_len)
{
    lgu_put32(p, (uint32_t)name_len);
    memcpy(p + 4, name, name_len);
}

/* The name prefix at the start of a payload of len bytes: the offset after
 * it (8-aligned), or 0 when it is not a valid one. */
static uint64_t take_name(const unsigned char *p, uint64_t len, const char **name,
                          uint32_t *name_len)
{
    if (len < 4)
        return 0;
    uint32_t nl = lgu_get32(p);
    if (nl == 0 || nl > LG_MAX_NAME)
        return 0;
    uint64_t after = lgs_name_prefix_len(nl);
    if (after > len || memchr(p + 4, 0, nl))
        return 0;
    for (uint64_t i = 4 + nl; i < after; i++)
        if (p[i])
            return 0;
    *name = (const char *)p + 4;
    *name_len = nl;
    return after;
}

/* Header fields of a layer's records: columns, type, reserved bytes. */
static const char *layer_fields(const lgs_header *h)
{
    if (h->d == 0 || h->d > LGS_MAX_D)
        return "columns";
    if (!lg_dtype_size((lg_dtype)h->e[0]))
        return "stored type";
    if (h->e[1] || h->e[2] || h->e[3] || lgu_get32(h->e + 8))
        return "reserved bytes (not zero)";
    if (h->raw_size != h->stored_size)
        return "raw size (differs from the payload's)";
    return NULL;
}

size_t lgs_seal_size(size_t name_len, size_t count)
{
    return lgs_name_prefix_len(name_len) + 8 * count;
}

void lgs_seal_encode(unsigned char *p, const char *name, size_t name_len, const uint64_t *offs,
                     size_t count)
{
    size_t at = lgs_name_prefix_len(name_len);
    memset(p, 0, at);
    put_name(p, name, name_len);
    for (size_t i = 0; i < count; i++)
        lgu_put64(p + at + 8 * i, offs[i]);
}

const char *lgs_seal_decode(const lgs_header *h, const unsigned char *p, lgs_seal_view *out)
{
    const char *bad = layer_fields(h);
    if (bad)
        return bad;
    uint64_t at = take_name(p, h->stored_size, &out->name, &out->name_len);
    if (!at)
        return "name";
    if (h->c == 0 || at + 8ull * h->c != h->stored_size)
        return "chunk count";
    out->offsets = p + at;
    out->count = h->c;
    return NULL;
}

size_t lgs_extend_size(size_t count)
{
    return 16 + 8 * count;
}

void lgs_extend_encode(unsigned char *p, uint64_t prev, uint64_t rows_before,
                       const uint64_t *offs, size_t count)
{
    lgu_put64(p, prev);
    lgu_put64(p + 8, rows_before);
    for (size_t i = 0; i < count; i++)
        lgu_put64(p + 16 + 8 * i, offs[i]);
}

const char *lgs_extend_decode(const lgs_header *h, const unsigned char *p, lgs_extend_view *out)
{
    const char *bad = layer_fields(h);
    if (bad)
        return bad;
    if (h->c == 0 || h->stored_size != 16 + 8ull * h->c)
        return "chunk count";
    out->prev = lgu_get64(p);
    out->rows_before = lgu_get64(p + 8);
    if (out->rows_before > h->a)
        return "rows before it (more than the layer's)";
    out->offsets = p + 16;
    out->count = h->c;
    return NULL;
}

const char *lgs_layer_decode(const lgs_header *h, const unsigned char *p, lgs_seal_view *out)
{
    const char *bad = layer_fields(h);
    if (bad)
        return bad;
    uint64_t at = take_name(p, h->stored_size, &out->name, &out->name_len);
    if (!at || at != h->stored_size)
        return "name";
    if (h->a || h->c)
        return "rows or chunk count (a layer record has none)";
    out->offsets = NULL;
    out->count = 0;
    return NULL;
}

size_t lgs_labels_size(size_t name_len, uint64_t count, int extend)
{
    return lgs_name_prefix_len(name_len) + (extend ? 16 : 0) + 8 * count;
}

void lgs_labels_encode(unsigned char *p, const char *name, size_t name_len, uint64_t prev,
                       uint64_t first, const int64_t *values, uint64_t count, int extend)
{
    size_t pre = lgs_name_prefix_len(name_len), at = pre + (extend ? 16 : 0);
    memset(p, 0, pre);
    put_name(p, name, name_len);
    if (extend) {
        lgu_put64(p + pre, prev);
        lgu_put64(p + pre + 8, first);
    }
    for (uint64_t i = 0; i < count; i++)
        lgu_put64(p + at + 8 * i, (uint64_t)values[i]);
}

const char *lgs_labels_decode(const lgs_header *h, const unsigned char *p, int extend,
                              lgs_labels_view *out)
{
    uint64_t len = h->stored_size;
    if (h->b || h->c || h->d)
        return "reserved fields (not zero)";
    if (h->raw_size != len)
        return "raw size (differs from the payload's)";
    if (h->a > (1ull << 40))
        return "label count";
    uint64_t at = take_name(p, len, &out->name, &out->name_len);
    if (!at)
        return "name";
    out->prev = out->first = 0;
    if (extend) {
        if (len - at < 16)
            return "previous record and first label";
        out->prev = lgu_get64(p + at);
        out->first = lgu_get64(p + at + 8);
        at += 16;
        if (out->first > h->a)
            return "first label (past the count)";
    }
    out->count = h->a - out->first;
    if (at + 8 * out->count != len)
        return "label count";
    out->values = p + at;
    return NULL;
}

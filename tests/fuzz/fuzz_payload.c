/* The record payload decoders on their own (store/payload.c): any header
 * fields and payload bytes, never a read past the payload; whatever decodes
 * encodes back to the very same bytes. */
#include <stdlib.h>
#include <string.h>

#include "store/payload.h"
#include "util/le.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 40)
        return 0;
    /* header fields from the first 40 bytes; the rest is the payload, copied
     * to a buffer of exactly its size so that ASan sees any overread */
    lgs_header h = {0};
    h.type = data[0];
    h.a = lgu_get64(data + 1) % 4096;
    h.b = lgu_get32(data + 9);
    h.c = lgu_get32(data + 13) % 600;
    h.d = lgu_get32(data + 17) % 5000;
    memcpy(h.e, data + 21, 12);
    size_t len = size - 40;
    h.stored_size = len;
    h.raw_size = data[33] & 1 ? len : len + data[34];
    unsigned char *p = malloc(len ? len : 1);
    memcpy(p, data + 40, len);
    unsigned char *q = malloc(len ? len : 1);

    lgs_seal_view s;
    if (!lgs_seal_decode(&h, p, &s)) {
        uint64_t *offs = malloc((s.count ? s.count : 1) * sizeof *offs);
        for (uint32_t i = 0; i < s.count; i++)
            offs[i] = lgu_get64(s.offsets + 8 * i);
        if (lgs_seal_size(s.name_len, s.count) != len)
            abort();
        lgs_seal_encode(q, s.name, s.name_len, offs, s.count);
        if (memcmp(p, q, len))
            abort();
        free(offs);
    }
    if (!lgs_layer_decode(&h, p, &s)) {
        lgs_seal_encode(q, s.name, s.name_len, NULL, 0);
        if (lgs_seal_size(s.name_len, 0) != len || memcmp(p, q, len))
            abort();
    }
    lgs_extend_view e;
    if (!lgs_extend_decode(&h, p, &e)) {
        uint64_t *offs = malloc((e.count ? e.count : 1) * sizeof *offs);
        for (uint32_t i = 0; i < e.count; i++)
            offs[i] = lgu_get64(e.offsets + 8 * i);
        lgs_extend_encode(q, e.prev, e.rows_before, offs, e.count);
        if (lgs_extend_size(e.count) != len || memcmp(p, q, len))
            abort();
        free(offs);
    }
    for (int ext = 0; ext < 2; ext++) {
        lgs_labels_view l;
        if (lgs_labels_decode(&h, p, ext, &l))
            continue;
        int64_t *v = malloc((l.count ? l.count : 1) * sizeof *v);
        for (uint64_t i = 0; i < l.count; i++)
            v[i] = (int64_t)lgu_get64(l.values + 8 * i);
        lgs_labels_encode(q, l.name, l.name_len, l.prev, l.first, v, l.count, ext);
        if (lgs_labels_size(l.name_len, l.count, ext) != len || memcmp(p, q, len))
            abort();
        free(v);
    }
    free(p);
    free(q);
    return 0;
}

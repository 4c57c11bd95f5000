#include "store/format.h"

#include "codec/crc32c.h"

const unsigned char LGS_FILE_MAGIC[8] = {0x89, 'L', 'G', 'S', '\r', '\n', 0x1a, '\n'};

void lgs_encode_file_header(unsigned char out[64], uint32_t flags)
{
    memset(out, 0, 64);
    memcpy(out, LGS_FILE_MAGIC, 8);
    lgu_put16(out + 8, LGS_VERSION_MAJOR);
    lgu_put16(out + 10, LGS_VERSION_MINOR);
    lgu_put32(out + 12, flags);
    lgu_put32(out + 60, lgc_crc32c(0, out, 60));
}

static int all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

const char *lgs_decode_file_header(const unsigned char in[64], uint32_t *flags)
{
    if (memcmp(in, LGS_FILE_MAGIC, 8) != 0)
        return "magic (expected \\x89LGS\\r\\n\\x1a\\n: not a layergeom store)";
    if (!LGS_CRC_OK(lgc_crc32c(0, in, 60), lgu_get32(in + 60)))
        return "file header checksum";
    if (lgu_get16(in + 8) != LGS_VERSION_MAJOR)
        return "major version (expected 1)";
    uint32_t f = lgu_get32(in + 12);
    if (f & ~LGS_FLAG_STREAM)
        return "flags (unknown bits set)";
    if (!all_zero(in + 16, 44))
        return "reserved bytes 16..59 (expected zero)";
    *flags = f;
    return NULL;
}

void lgs_encode_header(const lgs_header *h, unsigned char out[64])
{
    memset(out, 0, 64);
    lgu_put32(out, LGS_RECORD_MAGIC);
    out[4] = h->type;
    out[5] = 1; /* record header version */
    lgu_put16(out + 6, h->flags);
    lgu_put64(out + 8, h->stored_size);
    lgu_put64(out + 16, h->raw_size);
    lgu_put64(out + 24, h->a);
    lgu_put32(out + 32, h->b);
    lgu_put32(out + 36, h->c);
    lgu_put32(out + 40, h->d);
    memcpy(out + 44, h->e, 12);
    lgu_put32(out + 56, h->payload_crc);
    lgu_put32(out + 60, lgc_crc32c(0, out, 60));
}

const char *lgs_decode_header(const unsigned char in[64], lgs_header *h)
{
    if (lgu_get32(in) != LGS_RECORD_MAGIC)
        return "record magic (expected LGR1)";
    if (!LGS_CRC_OK(lgc_crc32c(0, in, 60), lgu_get32(in + 60)))
        return "record header checksum";
    if (in[5] != 1)
        return "record header version (expected 1)";
    h->type = in[4];
    h->flags = lgu_get16(in + 6);
    h->stored_size = lgu_get64(in + 8);
    h->raw_size = lgu_get64(in + 16);
    h->a = lgu_get64(in + 24);
    h->b = lgu_get32(in + 32);
    h->c = lgu_get32(in + 36);
    h->d = lgu_get32(in + 40);
    memcpy(h->e, in + 44, 12);
    h->payload_crc = lgu_get32(in + 56);
    if (h->stored_size > (1ull << 48) || h->raw_size > (1ull << 48))
        return "payload size (larger than 2^48 bytes)";
    return NULL;
}

const char *lgs_type_name(unsigned type)
{
    switch (type) {
    case LGS_CHUNK: return "chunk";
    case LGS_SEAL: return "seal";
    case LGS_LABELS: return "labels";
    case LGS_META: return "meta";
    case LGS_INDEX: return "index";
    case LGS_TRAILER: return "trailer";
    case LGS_END: return "end";
    case LGS_EXTEND: return "extend";
    case LGS_LABELS_EXTEND: return "labels-extend";
    case LGS_LAYER: return "layer";
    default: return "unknown";
    }
}

int lg_meta_next(const void *payload, size_t len, size_t *pos, const char **key, uint32_t *kl,
                 const void **val, uint32_t *vl)
{
    const unsigned char *p = payload;
    size_t at = *pos;
    if (at == len)
        return 0;
    if (at > len || len - at < 8)
        return -1;
    uint32_t k = lgu_get32(p + at), v = lgu_get32(p + at + 4);
    at += 8;
    if (k == 0 || k > LG_MAX_NAME || k > len - at || v > len - at - k || memchr(p + at, 0, k))
        return -1;
    *key = (const char *)p + at;
    *kl = k;
    *val = p + at + k;
    *vl = v;
    *pos = at + k + v;
    return 1;
}

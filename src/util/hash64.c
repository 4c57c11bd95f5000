/* The 64-bit stream hash of hash64.h. */
#include <string.h>

#include "util/hash64.h"
#include "util/le.h"

/* odd constants with well spread bits (from the golden ratio and sqrt 2) */
#define K1 0x9E3779B97F4A7C15ull
#define K2 0x6A09E667F3BCC909ull
#define K3 0xBB67AE8584CAA73Bull

static uint64_t rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

/* One lane step: xor of the word's product, rotation, product: each a
 * bijection, so the lane and the word determine each other. */
static uint64_t step(uint64_t v, uint64_t w)
{
    return rotl(v ^ (w * K2), 29) * K1;
}

static uint64_t avalanche(uint64_t h)
{
    h ^= h >> 31;
    h *= K3;
    h ^= h >> 29;
    h *= K1;
    h ^= h >> 32;
    return h;
}

void lgu_hash64_init(lgu_hash64 *h, uint64_t seed)
{
    memset(h, 0, sizeof *h);
    for (int i = 0; i < 4; i++)
        h->v[i] = seed + K3 * (uint64_t)(i + 1);
}

static void block(lgu_hash64 *h, const unsigned char *p)
{
    for (int i = 0; i < 4; i++)
        h->v[i] = step(h->v[i], lgu_get64(p + 8 * i));
}

void lgu_hash64_update(lgu_hash64 *h, const void *data, size_t n)
{
    const unsigned char *p = data;
    h->total += n;
    if (h->nbuf) {
        size_t take = 32 - h->nbuf < n ? 32 - h->nbuf : n;
        memcpy(h->buf + h->nbuf, p, take);
        h->nbuf += take;
        p += take;
        n -= take;
        if (h->nbuf < 32)
            return;
        block(h, h->buf);
        h->nbuf = 0;
    }
    for (; n >= 32; p += 32, n -= 32)
        block(h, p);
    memcpy(h->buf, p, n);
    h->nbuf = n;
}

uint64_t lgu_hash64_final(const lgu_hash64 *h)
{
    uint64_t r = h->total * K1;
    for (int i = 0; i < 4; i++)
        r = step(r, avalanche(h->v[i]));
    size_t i = 0;
    for (; i + 8 <= h->nbuf; i += 8)
        r = step(r, lgu_get64(h->buf + i));
    uint64_t last = 0;
    for (size_t j = 0; i + j < h->nbuf; j++)
        last |= (uint64_t)h->buf[i + j] << (8 * j);
    r = step(r, last ^ ((uint64_t)(h->nbuf & 7) << 56));
    return avalanche(r);
}

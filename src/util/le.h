/* Little-endian integers in byte buffers: every on-disk and on-pipe number
 * (the store, the stream form, .npy and safetensors headers, the cache) is
 * read and written through these, whatever the machine's byte order. */
#ifndef LG_UTIL_LE_H
#define LG_UTIL_LE_H

#include <stdint.h>

static inline void lgu_put16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}
static inline void lgu_put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static inline void lgu_put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static inline uint16_t lgu_get16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}
static inline uint32_t lgu_get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t lgu_get64(const unsigned char *p)
{
    return (uint64_t)lgu_get32(p) | (uint64_t)lgu_get32(p + 4) << 32;
}

#endif

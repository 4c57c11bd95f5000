#include "codec/codec.h"

#include <lz4.h>
#include <lz4hc.h>
#include <string.h>
#include <zstd.h>

void lgc_shuffle(const void *src, void *dst, size_t size, size_t n)
{
    const unsigned char *s = src;
    unsigned char *d = dst;
    if (size == 2) {
        for (size_t i = 0; i < n; i++) {
            d[i] = s[2 * i];
            d[n + i] = s[2 * i + 1];
        }
        return;
    }
    if (size == 4) {
        for (size_t i = 0; i < n; i++) {
            d[i] = s[4 * i];
            d[n + i] = s[4 * i + 1];
            d[2 * n + i] = s[4 * i + 2];
            d[3 * n + i] = s[4 * i + 3];
        }
        return;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t b = 0; b < size; b++)
            d[b * n + i] = s[i * size + b];
}

void lgc_unshuffle(const void *src, void *dst, size_t size, size_t n)
{
    const unsigned char *s = src;
    unsigned char *d = dst;
    if (size == 2) {
        for (size_t i = 0; i < n; i++) {
            d[2 * i] = s[i];
            d[2 * i + 1] = s[n + i];
        }
        return;
    }
    if (size == 4) {
        for (size_t i = 0; i < n; i++) {
            d[4 * i] = s[i];
            d[4 * i + 1] = s[n + i];
            d[4 * i + 2] = s[2 * n + i];
            d[4 * i + 3] = s[3 * n + i];
        }
        return;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t b = 0; b < size; b++)
            d[i * size + b] = s[b * n + i];
}

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

void lgc_unshuffle_range(const void *src, size_t size, size_t n, size_t e0, size_t ne, void *dst)
{
    const unsigned char *s = (const unsigned char *)src + e0;
    unsigned char *d = dst;
    size_t i = 0;
#if defined(__SSE2__)
    /* 16 elements at a time: interleave the byte planes with unpack */
    if (size == 4) {
        for (; i + 16 <= ne; i += 16) {
            __m128i p0 = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
            __m128i p1 = _mm_loadu_si128((const __m128i *)(const void *)(s + n + i));
            __m128i p2 = _mm_loadu_si128((const __m128i *)(const void *)(s + 2 * n + i));
            __m128i p3 = _mm_loadu_si128((const __m128i *)(const void *)(s + 3 * n + i));
            __m128i a = _mm_unpacklo_epi8(p0, p1), b = _mm_unpackhi_epi8(p0, p1);
            __m128i c = _mm_unpacklo_epi8(p2, p3), e = _mm_unpackhi_epi8(p2, p3);
            __m128i *o = (__m128i *)(void *)(d + 4 * i);
            _mm_storeu_si128(o, _mm_unpacklo_epi16(a, c));
            _mm_storeu_si128(o + 1, _mm_unpackhi_epi16(a, c));
            _mm_storeu_si128(o + 2, _mm_unpacklo_epi16(b, e));
            _mm_storeu_si128(o + 3, _mm_unpackhi_epi16(b, e));
        }
    } else if (size == 2) {
        for (; i + 16 <= ne; i += 16) {
            __m128i p0 = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
            __m128i p1 = _mm_loadu_si128((const __m128i *)(const void *)(s + n + i));
            __m128i *o = (__m128i *)(void *)(d + 2 * i);
            _mm_storeu_si128(o, _mm_unpacklo_epi8(p0, p1));
            _mm_storeu_si128(o + 1, _mm_unpackhi_epi8(p0, p1));
        }
    }
#endif
    for (; i < ne; i++)
        for (size_t b = 0; b < size; b++)
            d[i * size + b] = s[b * n + i];
}

size_t lgc_compress_bound(lg_codec c, size_t len)
{
    switch (c) {
    case LG_CODEC_LZ4: return len > (size_t)LZ4_MAX_INPUT_SIZE ? 0 : (size_t)LZ4_compressBound((int)len);
    case LG_CODEC_ZSTD: return ZSTD_compressBound(len);
    default: return len;
    }
}

int lgc_compress(lg_codec c, int level, const void *src, size_t len, void *dst, size_t cap,
                size_t *out_len)
{
    if (c == LG_CODEC_NONE) {
        if (cap < len)
            return LG_EUSAGE;
        memcpy(dst, src, len);
        *out_len = len;
        return LG_OK;
    }
    if (c == LG_CODEC_LZ4) {
        if (len > (size_t)LZ4_MAX_INPUT_SIZE || cap > 0x7fffffff)
            return LG_EUSAGE;
        int n = level > 1 ? LZ4_compress_HC(src, dst, (int)len, (int)cap, level)
                          : LZ4_compress_default(src, dst, (int)len, (int)cap);
        if (n <= 0)
            return LG_ENOMEM;
        *out_len = (size_t)n;
        return LG_OK;
    }
    if (c == LG_CODEC_ZSTD) {
        size_t n = ZSTD_compress(dst, cap, src, len, level ? level : 1);
        if (ZSTD_isError(n))
            return LG_ENOMEM;
        *out_len = n;
        return LG_OK;
    }
    return LG_EUSAGE;
}

int lgc_decompress(lg_codec c, const void *src, size_t len, void *dst, size_t raw_len)
{
    if (c == LG_CODEC_NONE) {
        if (len != raw_len)
            return LG_ECORRUPT;
        memcpy(dst, src, len);
        return LG_OK;
    }
    if (c == LG_CODEC_LZ4) {
        if (len > 0x7fffffff || raw_len > 0x7fffffff)
            return LG_ECORRUPT;
        int n = LZ4_decompress_safe(src, dst, (int)len, (int)raw_len);
        return n >= 0 && (size_t)n == raw_len ? LG_OK : LG_ECORRUPT;
    }
    if (c == LG_CODEC_ZSTD) {
        /* a thread-local context avoids an allocation per chunk */
        static _Thread_local ZSTD_DCtx *dctx;
        if (!dctx && !(dctx = ZSTD_createDCtx()))
            return LG_ENOMEM;
        size_t n = ZSTD_decompressDCtx(dctx, dst, raw_len, src, len);
        return !ZSTD_isError(n) && n == raw_len ? LG_OK : LG_ECORRUPT;
    }
    return LG_ECORRUPT;
}

#include "codec/convert.h"

#include <math.h>
#include <string.h>

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float lgc_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f) /* inf, or nan made quiet with its payload kept (as F16C does) */
        return bits_f32(sign | 0x7f800000u | (man << 13) | (man ? 0x400000u : 0));
    if (exp == 0) {
        /* zero or subnormal: the value is man * 2^-24, exact in float32 */
        float v = (float)man * 0x1p-24f;
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t lgc_f32_to_f16(float f)
{
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffffu;
    if (a >= 0x7f800000u) /* inf or nan: nan keeps a quiet payload bit */
        return sign | 0x7c00 | (a > 0x7f800000u ? 0x200 | ((a >> 13) & 0x3ff) : 0);
    if (a >= 0x477ff000u) /* rounds to >= 65520: overflow */
        return sign | 0x7c00;
    if (a < 0x38800000u) {
        /* result is subnormal or zero: scale so the integer part is the mantissa,
         * and let the float unit round to nearest even */
        float v = bits_f32(a) * 0x1p24f;
        return sign | (uint16_t)lrintf(v);
    }
    uint32_t r = a + 0xfffu + ((a >> 13) & 1); /* round to nearest even at bit 13 */
    return sign | (uint16_t)((r - 0x38000000u) >> 13);
}

float lgc_bf16_to_f32(uint16_t h)
{
    return bits_f32((uint32_t)h << 16);
}

uint16_t lgc_f32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

/* Eight halves at a time with the F16C instruction (exact, like the scalar code). */
__attribute__((target("f16c,avx"))) static size_t f16_to_f32_f16c(const unsigned char *s,
                                                                    float *dst, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(const void *)(s + 2 * i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
    return i;
}

static int have_f16c(void)
{
    /* CPUID leaf 1: ECX bit 29 F16C, bit 28 AVX, bit 27 OSXSAVE (the OS saves
     * the AVX registers; XCR0 bits 1 and 2 say it does) */
    static int cached = -1;
    if (cached < 0) {
        unsigned a, b, c, d;
        cached = 0;
        if (__get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29)) && (c & (1u << 28)) &&
            (c & (1u << 27))) {
            unsigned lo, hi;
            __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
            cached = (lo & 6) == 6;
        }
    }
    return cached;
}
#endif

void lg_to_f32(lg_dtype t, const void *src, float *dst, size_t n)
{
    const unsigned char *s = src;
    size_t start = 0;
    switch (t) {
    case LG_F32:
        memcpy(dst, src, n * 4);
        break;
    case LG_F16:
#if defined(__x86_64__)
        if (have_f16c())
            start = f16_to_f32_f16c(s, dst, n);
#endif
        for (size_t i = start; i < n; i++) {
            uint16_t h;
            memcpy(&h, s + 2 * i, 2);
            dst[i] = lgc_f16_to_f32(h);
        }
        break;
    case LG_BF16:
#if defined(__SSE2__)
        /* a bfloat16 is the top half of a float32: interleave with zeros */
        for (; start + 8 <= n; start += 8) {
            __m128i h = _mm_loadu_si128((const __m128i *)(const void *)(s + 2 * start));
            __m128i z = _mm_setzero_si128();
            _mm_storeu_si128((__m128i *)(void *)(dst + start), _mm_unpacklo_epi16(z, h));
            _mm_storeu_si128((__m128i *)(void *)(dst + start + 4), _mm_unpackhi_epi16(z, h));
        }
#endif
        for (size_t i = start; i < n; i++) {
            uint16_t h;
            memcpy(&h, s + 2 * i, 2);
            dst[i] = lgc_bf16_to_f32(h);
        }
        break;
    case LG_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, s + 8 * i, 8);
            dst[i] = (float)d;
        }
        break;
    default:
        break;
    }
}

static void from_f32(const float *src, lg_dtype to, void *dst, size_t n)
{
    unsigned char *d = dst;
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        double x;
        switch (to) {
        case LG_F16:
            h = lgc_f32_to_f16(src[i]);
            memcpy(d + 2 * i, &h, 2);
            break;
        case LG_BF16:
            h = lgc_f32_to_bf16(src[i]);
            memcpy(d + 2 * i, &h, 2);
            break;
        case LG_F64:
            x = src[i];
            memcpy(d + 8 * i, &x, 8);
            break;
        default:
            memcpy(d + 4 * i, &src[i], 4);
            break;
        }
    }
}

void lgc_convert(lg_dtype from, const void *src, lg_dtype to, void *dst, size_t n)
{
    if (from == to) {
        memcpy(dst, src, n * lg_dtype_size(to));
        return;
    }
    if (to == LG_F32) {
        lg_to_f32(from, src, dst, n);
        return;
    }
    /* go through float32 in small pieces so no large temporary is needed */
    float tmp[1024];
    const unsigned char *s = src;
    unsigned char *d = dst;
    size_t fs = lg_dtype_size(from), ts = lg_dtype_size(to);
    while (n) {
        size_t m = n < 1024 ? n : 1024;
        lg_to_f32(from, s, tmp, m);
        from_f32(tmp, to, d, m);
        s += m * fs;
        d += m * ts;
        n -= m;
    }
}

void lgc_byteswap(void *buf, size_t size, size_t n)
{
    unsigned char *p = buf;
    for (size_t i = 0; i < n; i++, p += size)
        for (size_t a = 0, b = size - 1; a < b; a++, b--) {
            unsigned char t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

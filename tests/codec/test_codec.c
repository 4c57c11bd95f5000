/* Checksums, element conversions, shuffle and codecs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "codec/convert.h"
#include "codec/crc32c.h"
#include "testutil.h"
#include "util/hash64.h"

static void crc_known_values(void **state)
{
    (void)state;
    /* the CRC32C check value, and RFC 3720's 32 zero bytes */
    assert_int_equal(lgc_crc32c(0, "123456789", 9), 0xe3069283u);
    unsigned char z[32] = {0};
    assert_int_equal(lgc_crc32c(0, z, 32), 0x8a9136aau);
    unsigned char ff[32];
    memset(ff, 0xff, 32);
    assert_int_equal(lgc_crc32c(0, ff, 32), 0x62a8ab43u);
    assert_int_equal(lgc_crc32c(0, "", 0), 0);
}

static void crc_incremental_and_unaligned(void **state)
{
    (void)state;
    unsigned char buf[1000];
    uint64_t s = 1;
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)tu_rand(&s);
    uint32_t whole = lgc_crc32c(0, buf, sizeof buf);
    for (size_t cut = 0; cut <= 17; cut++)
        assert_int_equal(lgc_crc32c(lgc_crc32c(0, buf, cut), buf + cut, sizeof buf - cut), whole);
    buf[500] ^= 4;
    assert_int_not_equal(lgc_crc32c(0, buf, sizeof buf), whole);
}

/* Bit-at-a-time CRC32C, the definition itself. */
static uint32_t crc_reference(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
    }
    return ~c;
}

static void crc_large_buffers_match_the_definition(void **state)
{
    (void)state;
    size_t n = 100000;
    unsigned char *buf = malloc(n);
    uint64_t s = 3;
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)tu_rand(&s);
    size_t sizes[] = {12287, 12288, 12289, 40000, 99990};
    for (size_t k = 0; k < 5; k++)
        for (size_t off = 0; off < 3; off++)
            assert_int_equal(lgc_crc32c(0, buf + off, sizes[k]), crc_reference(buf + off, sizes[k]));
    free(buf);
}

static void crc_combine(void **state)
{
    (void)state;
    unsigned char buf[5000];
    uint64_t s = 9;
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)tu_rand(&s);
    size_t cuts[] = {0, 1, 7, 64, 4096, 4999, 5000};
    for (size_t q = 0; q < sizeof cuts / sizeof cuts[0]; q++) {
        size_t k = cuts[q];
        uint32_t a = lgc_crc32c(0, buf, k), b = lgc_crc32c(0, buf + k, sizeof buf - k);
        assert_int_equal(lgc_crc32c_combine(a, b, sizeof buf - k), lgc_crc32c(0, buf, sizeof buf));
    }
}

static void f16_every_value_round_trips(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = lgc_f16_to_f32((uint16_t)h);
        if (isnan(f)) {
            assert_true(isnan(lgc_f16_to_f32(lgc_f32_to_f16(f))));
            continue;
        }
        assert_int_equal(lgc_f32_to_f16(f), h);
    }
    /* known values: max, min subnormal, rounding to even, overflow */
    assert_true(lgc_f16_to_f32(0x7bff) == 65504.0f);
    assert_true(lgc_f16_to_f32(0x0001) == 0x1p-24f);
    assert_int_equal(lgc_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);         /* tie -> even */
    assert_int_equal(lgc_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);     /* tie -> even up */
    assert_int_equal(lgc_f32_to_f16(65520.0f), 0x7c00);                /* rounds to inf */
    assert_int_equal(lgc_f32_to_f16(65519.0f), 0x7bff);
    assert_int_equal(lgc_f32_to_f16(0x1p-25f), 0x0000);                /* tie -> even zero */
    assert_int_equal(lgc_f32_to_f16(0x1.8p-25f), 0x0001);
    assert_int_equal(lgc_f32_to_f16(-0.0f), 0x8000);
}

static void bf16_conversions(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = lgc_bf16_to_f32((uint16_t)h);
        if (!isnan(f))
            assert_int_equal(lgc_f32_to_bf16(f), h);
    }
    assert_int_equal(lgc_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80); /* tie -> even */
    assert_int_equal(lgc_f32_to_bf16(1.0f + 0x1.8p-8f), 0x3f81);
    assert_true(isnan(lgc_bf16_to_f32(lgc_f32_to_bf16(NAN))));
}

/* The bulk (vectorised) widening agrees bit for bit with the scalar one. */
static void bulk_widening_matches_scalar(void **state)
{
    (void)state;
    uint16_t *h = malloc(65536 * 2 + 6);
    float *f = malloc(65539 * sizeof *f);
    for (uint32_t i = 0; i < 65536; i++)
        h[i] = (uint16_t)i;
    for (size_t off = 0; off < 3; off++) { /* odd lengths and offsets reach the tails */
        lg_to_f32(LG_F16, h + off, f, 65536 - off);
        for (uint32_t i = 0; i < 65536 - off; i++) {
            float want = lgc_f16_to_f32((uint16_t)(i + off));
            assert_memory_equal(&f[i], &want, 4);
        }
        lg_to_f32(LG_BF16, h + off, f, 65536 - off);
        for (uint32_t i = 0; i < 65536 - off; i++) {
            float want = lgc_bf16_to_f32((uint16_t)(i + off));
            assert_memory_equal(&f[i], &want, 4);
        }
    }
    free(h);
    free(f);
}

static void convert_and_swap(void **state)
{
    (void)state;
    double d[3] = {1.5, -2.25, 1e-3};
    float f[3];
    lgc_convert(LG_F64, d, LG_F32, f, 3);
    assert_true(f[0] == 1.5f && f[1] == -2.25f && f[2] == (float)1e-3);
    uint32_t x = 0x11223344;
    lgc_byteswap(&x, 4, 1);
    assert_int_equal(x, 0x44332211);
}

static void shuffle_round_trip(void **state)
{
    (void)state;
    unsigned char src[8 * 37], mid[8 * 37], back[8 * 37];
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (unsigned char)(i * 7 + 3);
    for (size_t es = 1; es <= 8; es *= 2) {
        size_t n = sizeof src / es;
        lgc_shuffle(src, mid, es, n);
        assert_int_equal(mid[1], src[es]); /* second element's first byte */
        lgc_unshuffle(mid, back, es, n);
        assert_memory_equal(src, back, sizeof src);
        /* any sub-range, vector body and scalar tail alike */
        for (size_t e0 = 0; e0 < 5; e0++) {
            size_t ne = n - e0 - 1;
            lgc_unshuffle_range(mid, es, n, e0, ne, back);
            assert_memory_equal(back, src + e0 * es, ne * es);
        }
    }
}

static void codecs_round_trip_and_reject_garbage(void **state)
{
    (void)state;
    size_t n = 100000;
    float *x = malloc(n * 4), *y = malloc(n * 4);
    uint64_t s = 7;
    for (size_t i = 0; i < n; i++)
        x[i] = (float)tu_normal(&s);
    for (int c = LG_CODEC_NONE; c <= LG_CODEC_ZSTD; c++) {
        size_t cap = lgc_compress_bound((lg_codec)c, n * 4), len;
        unsigned char *z = malloc(cap);
        assert_int_equal(lgc_compress((lg_codec)c, 0, x, n * 4, z, cap, &len), LG_OK);
        assert_int_equal(lgc_decompress((lg_codec)c, z, len, y, n * 4), LG_OK);
        assert_memory_equal(x, y, n * 4);
        /* a wrong expected size is an error, never an overrun */
        assert_int_equal(lgc_decompress((lg_codec)c, z, len, y, n * 4 - 4), LG_ECORRUPT);
        if (c != LG_CODEC_NONE) {
            memset(z, 0xff, len / 2);
            assert_int_equal(lgc_decompress((lg_codec)c, z, len, y, n * 4), LG_ECORRUPT);
        }
        free(z);
    }
    free(x);
    free(y);
}

/* The cache's content hash: the same for any split of the stream into
 * updates; different for every single-bit change of a 1000-byte buffer
 * (8000 changes, none colliding with the original or each other), for a
 * longer stream of zeros and for another seed. */
static void hash64_streams_and_separates(void **state)
{
    (void)state;
    unsigned char buf[1000];
    uint64_t seed = 3;
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)tu_rand(&seed);
    lgu_hash64 h;
    lgu_hash64_init(&h, 1);
    lgu_hash64_update(&h, buf, sizeof buf);
    uint64_t whole = lgu_hash64_final(&h);
    for (size_t step = 1; step < 70; step += 3) {
        lgu_hash64_init(&h, 1);
        for (size_t at = 0; at < sizeof buf; at += step)
            lgu_hash64_update(&h, buf + at, at + step <= sizeof buf ? step : sizeof buf - at);
        assert_true(lgu_hash64_final(&h) == whole);
    }
    uint64_t *seen = malloc(8001 * sizeof *seen);
    seen[0] = whole;
    for (size_t bit = 0; bit < 8000; bit++) {
        buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        lgu_hash64_init(&h, 1);
        lgu_hash64_update(&h, buf, sizeof buf);
        seen[bit + 1] = lgu_hash64_final(&h);
        buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
    for (size_t i = 0; i < 8001; i++)
        for (size_t j = i + 1; j < 8001; j++)
            if (seen[i] == seen[j])
                fail_msg("bit changes %zu and %zu give the same hash", i, j);
    free(seen);
    unsigned char zeros[40] = {0};
    uint64_t z[3];
    for (int l = 0; l < 2; l++) {
        lgu_hash64_init(&h, 1);
        lgu_hash64_update(&h, zeros, 32 + 8 * (size_t)l);
        z[l] = lgu_hash64_final(&h);
    }
    lgu_hash64_init(&h, 2);
    lgu_hash64_update(&h, zeros, 32);
    z[2] = lgu_hash64_final(&h);
    assert_true(z[0] != z[1] && z[0] != z[2]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hash64_streams_and_separates),
        cmocka_unit_test(crc_known_values),
        cmocka_unit_test(crc_incremental_and_unaligned),
        cmocka_unit_test(crc_large_buffers_match_the_definition),
        cmocka_unit_test(crc_combine),
        cmocka_unit_test(f16_every_value_round_trips),
        cmocka_unit_test(bf16_conversions),
        cmocka_unit_test(bulk_widening_matches_scalar),
        cmocka_unit_test(convert_and_swap),
        cmocka_unit_test(shuffle_round_trip),
        cmocka_unit_test(codecs_round_trip_and_reject_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

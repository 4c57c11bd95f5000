/* Importers: .npy variants and malformed files, safetensors, raw, labels. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/convert.h"
#include "testutil.h"


/* Reads layer i of a source as float32. */
static float *read_f32(lg_source *src, size_t i)
{
    uint64_t n;
    uint32_t d;
    lg_dtype t;
    lg_error err;
    assert_int_equal(lg_source_layer(src, i, NULL, &n, &d, &t), LG_OK);
    void *raw = malloc(n * d * lg_dtype_size(t));
    float *f = malloc(n * d * sizeof *f);
    assert_int_equal(lg_source_read(src, i, 0, n, raw, &err), LG_OK);
    lg_to_f32(t, raw, f, n * d);
    free(raw);
    return f;
}

static void npy_orders_and_byte_orders(void **state)
{
    (void)state;
    float c[6] = {1, 2, 3, 4, 5, 6}; /* 2 x 3, row-major */
    float f[6] = {1, 4, 2, 5, 3, 6}; /* the same, column-major */
    uint64_t shape[2] = {2, 3};
    lg_source *src;
    lg_error err;
    const char *p = tu_path(tu_dir, "c.npy");
    tu_write_npy(p, "<f4", 0, shape, 2, c, sizeof c);
    assert_int_equal(lg_source_open(p, &src, &err), LG_OK);
    float *got = read_f32(src, 0);
    assert_memory_equal(got, c, sizeof c);
    free(got);
    lg_source_close(src);

    p = tu_path(tu_dir, "f.npy");
    tu_write_npy(p, "<f4", 1, shape, 2, f, sizeof f);
    assert_int_equal(lg_source_open(p, &src, &err), LG_OK);
    got = read_f32(src, 0);
    assert_memory_equal(got, c, sizeof c);
    free(got);
    lg_source_close(src);

    float be[6];
    memcpy(be, c, sizeof c);
    lgc_byteswap(be, 4, 6);
    p = tu_path(tu_dir, "be.npy");
    tu_write_npy(p, ">f4", 0, shape, 2, be, sizeof be);
    assert_int_equal(lg_source_open(p, &src, &err), LG_OK);
    got = read_f32(src, 0);
    assert_memory_equal(got, c, sizeof c);
    free(got);
    lg_source_close(src);

    double d8[6] = {1, 2, 3, 4, 5, 6};
    p = tu_path(tu_dir, "d.npy");
    tu_write_npy(p, "<f8", 0, shape, 2, d8, sizeof d8);
    assert_int_equal(lg_source_open(p, &src, &err), LG_OK);
    got = read_f32(src, 0);
    assert_memory_equal(got, c, sizeof c);
    free(got);
    lg_source_close(src);

    uint16_t h[6];
    for (int i = 0; i < 6; i++)
        h[i] = lgc_f32_to_f16(c[i]);
    p = tu_path(tu_dir, "h.npy");
    tu_write_npy(p, "<f2", 0, shape, 2, h, sizeof h);
    assert_int_equal(lg_source_open(p, &src, &err), LG_OK);
    got = read_f32(src, 0);
    assert_memory_equal(got, c, sizeof c);
    free(got);
    lg_source_close(src);
}

static void npy_stack_c_and_fortran(void **state)
{
    (void)state;
    /* (L=2, N=3, D=2): value = 100 l + 10 i + j */
    float c[12], f[12];
    for (int l = 0; l < 2; l++)
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 2; j++) {
                float v = (float)(100 * l + 10 * i + j);
                c[(l * 3 + i) * 2 + j] = v;
                f[l + 2 * (i + 3 * j)] = v;
            }
    uint64_t shape[3] = {2, 3, 2};
    for (int fortran = 0; fortran <= 1; fortran++) {
        const char *p = tu_path(tu_dir, fortran ? "sf.npy" : "sc.npy");
        tu_write_npy(p, "<f4", fortran, shape, 3, fortran ? f : c, sizeof c);
        lg_source *src;
        lg_error err;
        assert_int_equal(lg_source_open_npy(p, &src, &err), LG_OK);
        assert_int_equal(lg_source_layer_count(src), 2);
        const char *name;
        lg_source_layer(src, 1, &name, NULL, NULL, NULL);
        assert_string_equal(name, fortran ? "sf[1]" : "sc[1]");
        for (int l = 0; l < 2; l++) {
            float *got = read_f32(src, (size_t)l);
            assert_memory_equal(got, c + l * 6, 6 * sizeof(float));
            free(got);
        }
        lg_source_close(src);
    }
}

static void npy_header_versions_2_and_3(void **state)
{
    (void)state;
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
    for (int v = 2; v <= 3; v++) {
        unsigned char buf[256];
        size_t hl = strlen(dict) + 1, total = 12 + hl;
        size_t pad = (64 - total % 64) % 64;
        memcpy(buf, "\x93NUMPY", 6);
        buf[6] = (unsigned char)v;
        buf[7] = 0;
        uint32_t h32 = (uint32_t)(hl + pad);
        memcpy(buf + 8, &h32, 4);
        memcpy(buf + 12, dict, strlen(dict));
        memset(buf + 12 + strlen(dict), ' ', pad);
        buf[12 + hl + pad - 1] = '\n';
        float x[4] = {1, 2, 3, 4};
        memcpy(buf + 12 + hl + pad, x, sizeof x);
        const char *p = tu_path(tu_dir, v == 2 ? "v2.npy" : "v3.npy");
        tu_write_file(p, buf, 12 + hl + pad + sizeof x);
        lg_source *src;
        lg_error err;
        assert_int_equal(lg_source_open_npy(p, &src, &err), LG_OK);
        float *got = read_f32(src, 0);
        assert_memory_equal(got, x, sizeof x);
        free(got);
        lg_source_close(src);
    }
}

/* Writes header text + data as a v1 .npy (header length taken as given). */
static const char *raw_npy(const char *name, const char *header, size_t data_len)
{
    unsigned char buf[1024] = {0};
    size_t hl = strlen(header);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)(hl & 0xff);
    buf[9] = (unsigned char)(hl >> 8);
    memcpy(buf + 10, header, hl);
    const char *p = tu_path(tu_dir, name);
    tu_write_file(p, buf, 10 + hl + data_len);
    return p;
}

static void npy_malformed_inputs_are_rejected(void **state)
{
    (void)state;
    struct {
        const char *header;
        size_t data;
        const char *expect; /* part of the message */
    } cases[] = {
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }\n", 15, "disagree"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }\n", 17, "disagree"},
        {"{'descr': '<i8', 'fortran_order': False, 'shape': (2, 2), }\n", 32, "not an activation"},
        {"{'descr': '<c8', 'fortran_order': False, 'shape': (2, 2), }\n", 32, "plain number"},
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }\n", 8, "structured"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), \n", 16, "not terminated"},
        {"{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2, 2), }\n", 16, "fortran_order"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 2), }\n", 16, "non-negative"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999, 2), }\n", 0, "overflows"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }\n", 0, "overflows"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2, 2, 2), }\n", 64, "dimensions"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (0, 2), }\n", 0, "empty"},
        {"{'descr': '<f4', 'fortran_order': False }\n", 0, "lacks"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'extra': 1, }\n", 16, "unknown key"},
        {"['descr', '<f4']\n", 0, "not a dict"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': 4, }\n", 16, "not a tuple"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2}\n", 16, "not closed"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char name[32];
        snprintf(name, sizeof name, "bad%zu.npy", k);
        const char *p = raw_npy(name, cases[k].header, cases[k].data);
        lg_source *src = NULL;
        lg_error err;
        int rc = lg_source_open_npy(p, &src, &err);
        if (rc != LG_EINPUT || !strstr(err.msg, cases[k].expect) || !strstr(err.msg, p))
            fail_msg("case %zu (%s): rc %d, message: %s", k, cases[k].header, rc, err.msg);
    }
    /* bad magic, unsupported version, header length past the end */
    const char *p = tu_path(tu_dir, "magic.npy");
    tu_write_file(p, "\x93NUMPZ\x01\x00\x10\x00{}", 12);
    lg_source *src;
    lg_error err;
    assert_int_equal(lg_source_open_npy(p, &src, &err), LG_EINPUT);
    assert_non_null(strstr(err.msg, "magic"));
    tu_write_file(p, "\x93NUMPY\x09\x00\x10\x00{}", 12);
    assert_int_equal(lg_source_open_npy(p, &src, &err), LG_EINPUT);
    assert_non_null(strstr(err.msg, "version"));
    tu_write_file(p, "\x93NUMPY\x01\x00\xff\xff{}", 12);
    assert_int_equal(lg_source_open_npy(p, &src, &err), LG_EINPUT);
    assert_non_null(strstr(err.msg, "runs past"));
    tu_write_file(p, "\x93NUMPY\x02\x00\xff\xff\xff\xff{}", 14);
    assert_int_equal(lg_source_open_npy(p, &src, &err), LG_EINPUT);
    assert_non_null(strstr(err.msg, "runs past"));
    tu_write_file(p, "\x93NUMPY", 6);
    assert_int_equal(lg_source_open_npy(p, &src, &err), LG_EINPUT);
    assert_int_equal(lg_source_open(tu_path(tu_dir, "nope.npy"), &src, &err), LG_ENOTFOUND);
}

/* Builds a safetensors file from a JSON header and a data section. */
static const char *st_file(const char *name, const char *json, const void *data, size_t len)
{
    size_t hl = strlen(json);
    unsigned char *buf = malloc(8 + hl + len);
    uint64_t h = hl;
    memcpy(buf, &h, 8);
    memcpy(buf + 8, json, hl);
    memcpy(buf + 8 + hl, data, len);
    const char *p = tu_path(tu_dir, name);
    tu_write_file(p, buf, 8 + hl + len);
    free(buf);
    return p;
}

static void safetensors_natural_order_and_types(void **state)
{
    (void)state;
    unsigned char data[64];
    float a[4] = {1, 2, 3, 4};
    uint16_t b[4], h[4];
    double d[4] = {5, 6, 7, 8};
    for (int i = 0; i < 4; i++) {
        b[i] = lgc_f32_to_bf16(a[i] * 10);
        h[i] = lgc_f32_to_f16(a[i] * 100);
    }
    memcpy(data, a, 16);
    memcpy(data + 16, b, 8);
    memcpy(data + 24, h, 8);
    memcpy(data + 32, d, 32);
    const char *json =
        "{\"__metadata__\": {\"format\": \"pt\"},"
        " \"layer.10\": {\"dtype\": \"F64\", \"shape\": [2, 2], \"data_offsets\": [32, 64]},"
        " \"layer.2\": {\"dtype\": \"BF16\", \"shape\": [1, 2, 2], \"data_offsets\": [16, 24]},"
        " \"layer.1\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]},"
        " \"layer.9\": {\"dtype\": \"F16\", \"shape\": [2, 2], \"data_offsets\": [24, 32]},"
        " \"ids\": {\"dtype\": \"I64\", \"shape\": [0], \"data_offsets\": [64, 64]}}";
    const char *p = st_file("ok.safetensors", json, data, sizeof data);
    lg_source *src;
    lg_error err;
    assert_int_equal(lg_source_open(p, &src, &err), LG_OK);
    assert_int_equal(lg_source_layer_count(src), 4);
    const char *want[4] = {"layer.1", "layer.2", "layer.9", "layer.10"};
    float scale[4] = {1, 10, 100, 0};
    for (size_t i = 0; i < 4; i++) {
        const char *name;
        lg_source_layer(src, i, &name, NULL, NULL, NULL);
        assert_string_equal(name, want[i]);
        float *got = read_f32(src, i);
        for (int k = 0; k < 4; k++)
            assert_true(got[k] == (i == 3 ? (float)d[k] : a[k] * scale[i]));
        free(got);
    }
    lg_source_close(src);
    /* an explicit list, in the given order */
    const char *names[2] = {"layer.9", "layer.1"};
    assert_int_equal(lg_source_open_safetensors(p, names, 2, &src, &err), LG_OK);
    const char *name;
    lg_source_layer(src, 0, &name, NULL, NULL, NULL);
    assert_string_equal(name, "layer.9");
    lg_source_close(src);
    const char *missing[1] = {"layer.3"};
    assert_int_equal(lg_source_open_safetensors(p, missing, 1, &src, &err), LG_ENOTFOUND);
    const char *ints[1] = {"ids"};
    assert_int_equal(lg_source_open_safetensors(p, ints, 1, &src, &err), LG_EINPUT);
    assert_non_null(strstr(err.msg, "I64"));
}

static void safetensors_malformed_inputs_are_rejected(void **state)
{
    (void)state;
    float x[4] = {0};
    struct {
        const char *json;
        const char *expect;
    } cases[] = {
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 12]}}", "needs 16 bytes"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 99]}}", "data_offsets"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [8, 4]}}", "data_offsets"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2, -2], \"data_offsets\": [0, 16]}}", "non-negative"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2.5, 2], \"data_offsets\": [0, 16]}}", "non-negative"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2, 2, 2], \"data_offsets\": [0, 16]}}", "dimensions"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2, 2]}}", "data_offsets"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}", "expected ','"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}} x", "after the value"},
        {"{\"a\": \"F32\"}", "not a tensor"},
        {"[1, 2]", "not an object"},
        {"{\"a: 1}", "unterminated"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 4294967296, 4294967296], \"data_offsets\": [0, 16]}}", "overflows"},
        {"{\"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0, 2]}}", "no floating-point"},
        {"{}", "no floating-point"},
        {"{\"a\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}", "deeply"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char name[32];
        snprintf(name, sizeof name, "bad%zu.safetensors", k);
        const char *p = st_file(name, cases[k].json, x, sizeof x);
        lg_source *src = NULL;
        lg_error err;
        int rc = lg_source_open_safetensors(p, NULL, 0, &src, &err);
        if (rc != LG_EINPUT || !strstr(err.msg, cases[k].expect))
            fail_msg("case %zu: rc %d, message: %s", k, rc, err.msg);
    }
    /* header length larger than the file, and absurdly large */
    unsigned char hdr[16] = {0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}'};
    const char *p = tu_path(tu_dir, "len.safetensors");
    tu_write_file(p, hdr, 10);
    lg_source *src;
    lg_error err;
    assert_int_equal(lg_source_open_safetensors(p, NULL, 0, &src, &err), LG_EINPUT);
    assert_non_null(strstr(err.msg, "header length"));
    memset(hdr, 0xff, 8);
    tu_write_file(p, hdr, 16);
    assert_int_equal(lg_source_open_safetensors(p, NULL, 0, &src, &err), LG_EINPUT);
    tu_write_file(p, hdr, 4);
    assert_int_equal(lg_source_open_safetensors(p, NULL, 0, &src, &err), LG_EINPUT);
}

static void raw_buffers(void **state)
{
    (void)state;
    float x[12];
    for (int i = 0; i < 12; i++)
        x[i] = (float)i;
    const char *p = tu_path(tu_dir, "x.f32");
    tu_write_file(p, x, sizeof x);
    lg_source *src;
    lg_error err;
    assert_int_equal(lg_source_open_raw(p, LG_F32, 4, &src, &err), LG_OK);
    uint64_t n;
    lg_source_layer(src, 0, NULL, &n, NULL, NULL);
    assert_int_equal(n, 3);
    float *got = read_f32(src, 0);
    assert_memory_equal(got, x, sizeof x);
    free(got);
    lg_source_close(src);
    assert_int_equal(lg_source_open_raw(p, LG_F32, 5, &src, &err), LG_EINPUT);
    assert_non_null(strstr(err.msg, "whole number of rows"));
    assert_int_equal(lg_source_open_raw(p, LG_F32, 0, &src, &err), LG_EUSAGE);
}

static void labels_from_npy_and_text(void **state)
{
    (void)state;
    int32_t v[5] = {3, 1, 4, 1, 5};
    uint64_t shape[1] = {5};
    const char *p = tu_path(tu_dir, "y.npy");
    tu_write_npy(p, "<i4", 0, shape, 1, v, sizeof v);
    int64_t *lab;
    uint64_t n;
    char *names;
    lg_error err;
    assert_int_equal(lg_labels_load(p, &lab, &n, &names, &err), LG_OK);
    assert_int_equal(n, 5);
    assert_int_equal(lab[2], 4);
    assert_null(names);
    free(lab);

    const char *t = tu_path(tu_dir, "y.txt");
    tu_write_file(t, "cat\ndog\r\n bird \ncat\n", 20);
    assert_int_equal(lg_labels_load(t, &lab, &n, &names, &err), LG_OK);
    assert_int_equal(n, 4);
    /* sorted distinct names: bird 0, cat 1, dog 2 */
    assert_int_equal(lab[0], 1);
    assert_int_equal(lab[1], 2);
    assert_int_equal(lab[2], 0);
    assert_int_equal(lab[3], 1);
    assert_string_equal(names, "bird\ncat\ndog");
    free(lab);
    free(names);

    tu_write_file(t, "7\n-2\n7", 6);
    assert_int_equal(lg_labels_load(t, &lab, &n, &names, &err), LG_OK);
    assert_int_equal(n, 3);
    assert_int_equal(lab[1], -2);
    assert_null(names);
    free(lab);

    tu_write_file(t, "a\n\nb\n", 5);
    assert_int_equal(lg_labels_load(t, &lab, &n, &names, &err), LG_EINPUT);
    assert_non_null(strstr(err.msg, "line 2"));
    float fl[2] = {1.5f, 2};
    uint64_t s2[1] = {2};
    tu_write_npy(p, "<f4", 0, s2, 1, fl, sizeof fl);
    assert_int_equal(lg_labels_load(p, &lab, &n, &names, &err), LG_EINPUT);
    assert_non_null(strstr(err.msg, "not an integer"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(npy_orders_and_byte_orders),
        cmocka_unit_test(npy_stack_c_and_fortran),
        cmocka_unit_test(npy_header_versions_2_and_3),
        cmocka_unit_test(npy_malformed_inputs_are_rejected),
        cmocka_unit_test(safetensors_natural_order_and_types),
        cmocka_unit_test(safetensors_malformed_inputs_are_rejected),
        cmocka_unit_test(raw_buffers),
        cmocka_unit_test(labels_from_npy_and_text),
    };
    return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}

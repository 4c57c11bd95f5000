/*
 * Golden test vectors: the files in tests/vectors are small stores, one per feature
 * of the format (formats/store-format.md lists them).  This test decodes each
 * and checks its contents, and rebuilds each with the writer and checks that
 * the bytes are identical, so the format cannot drift unnoticed.
 * LG_REGEN_VECTORS=1 rewrites the files (only after a deliberate format change).
 * tests/vectors/v1.0 keeps the files a format 1.0 writer made: they must read
 * exactly as before.  The batch vectors are stores written batch by batch
 * (format 1.1): two layers whose chunks interleave, growing together.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define VN 5
#define VD 3

static float value(int i, int j)
{
    return (float)(i - 2 * j) / 4; /* exact in every stored type */
}

static void fill(float *x)
{
    for (int i = 0; i < VN; i++)
        for (int j = 0; j < VD; j++)
            x[i * VD + j] = value(i, j);
}

static void add_layer(lg_writer *w, const char *name)
{
    float x[VN * VD];
    lg_error err;
    fill(x);
    assert_int_equal(lg_writer_begin_layer(w, name, VD, LG_F32, &err), LG_OK);
    assert_int_equal(lg_writer_rows(w, x, VN, &err), LG_OK);
    assert_int_equal(lg_writer_end_layer(w, &err), LG_OK);
}

typedef struct vec {
    const char *file;
    lg_dtype dtype;
    lg_codec codec;
    lg_filter filter;
    int labels_meta, appended, stream, empty;
    size_t torn; /* bytes cut from the end */
    size_t layers; /* expected after opening */
} vec;

static const vec vectors[] = {
    {"empty.lgs", LG_F32, LG_CODEC_NONE, LG_FILTER_NONE, 0, 0, 0, 1, 0, 0},
    {"f32_none.lgs", LG_F32, LG_CODEC_NONE, LG_FILTER_NONE, 0, 0, 0, 0, 0, 1},
    {"f16_lz4_shuffle.lgs", LG_F16, LG_CODEC_LZ4, LG_FILTER_SHUFFLE, 0, 0, 0, 0, 0, 1},
    {"bf16_zstd.lgs", LG_BF16, LG_CODEC_ZSTD, LG_FILTER_NONE, 0, 0, 0, 0, 0, 1},
    {"f64_none.lgs", LG_F64, LG_CODEC_NONE, LG_FILTER_NONE, 0, 0, 0, 0, 0, 1},
    {"labels_meta.lgs", LG_F32, LG_CODEC_NONE, LG_FILTER_NONE, 1, 0, 0, 0, 0, 1},
    {"appended.lgs", LG_F32, LG_CODEC_NONE, LG_FILTER_NONE, 0, 1, 0, 0, 0, 2},
    {"torn.lgs", LG_F32, LG_CODEC_NONE, LG_FILTER_NONE, 0, 1, 0, 0, 300, 1},
    {"stream.lgsx", LG_F32, LG_CODEC_ZSTD, LG_FILTER_SHUFFLE, 1, 0, 1, 0, 0, 1},
};

static lg_writer_opts opts_of(const vec *v)
{
    lg_writer_opts o;
    lg_writer_opts_default(&o);
    o.dtype = v->dtype;
    o.codec = v->codec;
    o.filter = v->filter;
    o.chunk_rows = 2; /* 5 rows: chunks of 2, 2, 1 */
    o.durable = 0;
    return o;
}

static void add_labels_meta(lg_writer *w)
{
    lg_error err;
    int64_t lab[VN] = {0, 1, 1, 0, 2};
    assert_int_equal(lg_writer_labels(w, "labels", lab, VN, &err), LG_OK);
    assert_int_equal(lg_writer_meta(w, "model", "golden", 6, &err), LG_OK);
}

/* Builds vector v at path with the writer. */
static void build(const vec *v, const char *path)
{
    lg_writer_opts o = opts_of(v);
    lg_writer *w;
    lg_error err;
    unlink(path);
    if (v->stream) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        assert_int_equal(lg_writer_stream(fd, &o, &w, &err), LG_OK);
        add_layer(w, "layer0");
        add_labels_meta(w);
        assert_int_equal(lg_writer_close(w, &err), LG_OK);
        close(fd);
        return;
    }
    assert_int_equal(lg_writer_create(path, &o, &w, &err), LG_OK);
    if (!v->empty)
        add_layer(w, "layer0");
    if (v->labels_meta)
        add_labels_meta(w);
    assert_int_equal(lg_writer_close(w, &err), LG_OK);
    if (v->appended) {
        assert_int_equal(lg_writer_append(path, &o, &w, &err), LG_OK);
        add_layer(w, "layer1");
        assert_int_equal(lg_writer_close(w, &err), LG_OK);
    }
    if (v->torn) {
        size_t len;
        unsigned char *b = tu_read_file(path, &len);
        tu_write_file(path, b, len - v->torn);
        free(b);
    }
}

static void check_contents(const vec *v, const char *path)
{
    lg_store *s;
    lg_error err;
    if (lg_store_open(path, 0, &s, &err) != LG_OK)
        fail_msg("%s: %s", v->file, err.msg);
    assert_int_equal(lg_store_layer_count(s), v->layers);
    assert_int_equal(!!lg_store_recovery(s), v->torn || v->stream);
    for (size_t l = 0; l < v->layers; l++) {
        lg_layer_info L;
        lg_store_layer(s, l, &L);
        assert_int_equal(L.n, VN);
        assert_int_equal(L.d, VD);
        assert_int_equal(L.dtype, v->dtype);
        assert_int_equal(L.codec, v->codec);
        assert_int_equal(L.n_chunks, 3);
        lg_cursor *c;
        float got[VN * VD], want[VN * VD];
        fill(want);
        assert_int_equal(lg_cursor_open(s, l, VN, &c, &err), LG_OK);
        assert_int_equal(lg_cursor_read(c, 0, VN, got, &err), LG_OK);
        assert_memory_equal(got, want, sizeof got);
        lg_cursor_close(c);
    }
    if (v->labels_meta) {
        const int64_t *lab;
        uint64_t n;
        assert_int_equal(lg_store_labels(s, "labels", &lab, &n, &err), LG_OK);
        assert_int_equal(n, VN);
        assert_int_equal(lab[4], 2);
        size_t len;
        assert_non_null(lg_store_meta(s, "model", &len));
        assert_int_equal(len, 6);
    }
    lg_store_close(s);
}

static void v1_0_vectors_read(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof vectors / sizeof vectors[0]; k++) {
        char path[512];
        snprintf(path, sizeof path, "%s/tests/vectors/v1.0/%s", LG_SOURCE_DIR, vectors[k].file);
        check_contents(&vectors[k], path);
    }
}

/* ---- format 1.1: batch by batch ---- */

#define BD 2
static float value_b(int i, int j)
{
    return (float)i + (float)j / 2;
}

typedef struct bvec {
    const char *file;
    int stream, closed;
} bvec;

static const bvec bvectors[] = {
    {"batches.lgs", 0, 0},
    {"batches_closed.lgs", 0, 1},
    {"batches.lgsx", 1, 1},
};

static void build_batches(const bvec *v, const char *path)
{
    lg_writer_opts o;
    lg_writer_opts_default(&o);
    o.chunk_rows = 2;
    o.durable = 0;
    o.commit_seconds = 0; /* commits exactly where this test asks */
    lg_writer *w;
    lg_error err;
    unlink(path);
    int fd = -1;
    if (v->stream) {
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        assert_int_equal(lg_writer_stream(fd, &o, &w, &err), LG_OK);
    } else {
        assert_int_equal(lg_writer_create(path, &o, &w, &err), LG_OK);
    }
    assert_int_equal(lg_writer_meta(w, "model", "golden", 6, &err), LG_OK);
    size_t ha, hb;
    assert_int_equal(lg_writer_layer(w, "a", VD, LG_F32, &ha, &err), LG_OK);
    assert_int_equal(lg_writer_layer(w, "b", BD, LG_F32, &hb, &err), LG_OK);
    int64_t lab[VN] = {0, 1, 1, 0, 2};
    static const int batch[] = {2, 2, 1};
    int row = 0;
    for (int k = 0; k < 3; k++) {
        float xa[2 * VD], xb[2 * BD];
        for (int i = 0; i < batch[k]; i++) {
            for (int j = 0; j < VD; j++)
                xa[i * VD + j] = value(row + i, j);
            for (int j = 0; j < BD; j++)
                xb[i * BD + j] = value_b(row + i, j);
        }
        /* labels first: the layers become level only when the batch is whole */
        assert_int_equal(lg_writer_add_labels(w, "labels", lab + row, batch[k], &err), LG_OK);
        assert_int_equal(lg_writer_add_rows(w, ha, xa, batch[k], &err), LG_OK);
        assert_int_equal(lg_writer_add_rows(w, hb, xb, batch[k], &err), LG_OK);
        if (lg_writer_commit(w, &err) != LG_OK)
            fail_msg("commit after batch %d: %s", k, err.msg);
        row += batch[k];
        if (!v->stream)
            assert_int_equal(lg_writer_rows_committed(w), row);
    }
    if (v->closed)
        assert_int_equal(lg_writer_close(w, &err), LG_OK);
    else
        lg_writer_abort(w); /* the last commit stands, its EXTENDs unfolded */
    if (fd >= 0)
        close(fd);
}

/* Counts the records of each type in a file. */
static void count_types(const char *path, int count[16])
{
    size_t len;
    unsigned char *b = tu_read_file(path, &len);
    assert_non_null(b);
    memset(count, 0, 16 * sizeof *count);
    for (size_t off = 64; off + 64 <= len;) {
        assert_int_equal(b[off], 'L');
        uint64_t stored = 0;
        for (int i = 0; i < 8; i++)
            stored |= (uint64_t)b[off + 8 + i] << (8 * i);
        count[b[off + 4] & 15]++;
        off += 64 + ((stored + 63) & ~63ull);
    }
    free(b);
}

static void check_batches(const bvec *v, const char *path)
{
    lg_store *s;
    lg_error err;
    if (lg_store_open(path, 0, &s, &err) != LG_OK)
        fail_msg("%s: %s", v->file, err.msg);
    assert_int_equal(lg_store_layer_count(s), 2);
    assert_int_equal(lg_store_rows(s), VN);
    assert_int_equal(!!lg_store_recovery(s), v->stream);
    for (size_t l = 0; l < 2; l++) {
        lg_layer_info L;
        lg_store_layer(s, l, &L);
        assert_string_equal(L.name, l ? "b" : "a");
        assert_int_equal(L.n_chunks, 3);
        uint32_t d = l ? BD : VD;
        assert_int_equal(L.d, d);
        float got[VN * VD];
        lg_cursor *c;
        assert_int_equal(lg_cursor_open(s, l, VN, &c, &err), LG_OK);
        assert_int_equal(lg_cursor_read(c, 0, VN, got, &err), LG_OK);
        lg_cursor_close(c);
        for (int i = 0; i < VN; i++)
            for (uint32_t j = 0; j < d; j++)
                assert_true(got[i * d + j] == (l ? value_b(i, (int)j) : value(i, (int)j)));
    }
    const int64_t *lab;
    uint64_t n;
    assert_int_equal(lg_store_labels(s, "labels", &lab, &n, &err), LG_OK);
    assert_int_equal(n, VN);
    assert_int_equal(lab[1], 1);
    assert_int_equal(lab[4], 2);
    lg_store_close(s);
    int count[16];
    count_types(path, count);
    if (v->stream) {
        assert_int_equal(count[10], 2); /* LAYER records */
        assert_int_equal(count[9], 3);  /* a LABELS_EXTEND per batch */
    } else {
        assert_int_equal(count[8], 4); /* two EXTENDs of each layer */
        assert_int_equal(count[2], v->closed ? 4 : 2); /* closing folds them into SEALs */
        assert_int_equal(count[9], 2);
    }
}

/* Rebuilds a vector with the writer, checks the golden file's contents, and
 * that the writer still produces its bytes (LG_REGEN_VECTORS rewrites it). */
static void check_golden(const char *file, const char *tmp, void (*build_fn)(const void *, const char *),
                         void (*check_fn)(const void *, const char *), const void *v)
{
    char golden[512];
    snprintf(golden, sizeof golden, "%s/tests/vectors/%s", LG_SOURCE_DIR, file);
    const char *fresh = tu_path(tmp, file);
    build_fn(v, fresh);
    if (getenv("LG_REGEN_VECTORS")) {
        size_t len;
        unsigned char *b = tu_read_file(fresh, &len);
        assert_int_equal(tu_write_file(golden, b, len), 0);
        free(b);
    }
    check_fn(v, golden);
    size_t la, lb;
    unsigned char *a = tu_read_file(golden, &la), *b = tu_read_file(fresh, &lb);
    assert_non_null(a);
    if (la != lb || memcmp(a, b, la) != 0)
        fail_msg("%s: the writer no longer produces the golden bytes", file);
    free(a);
    free(b);
}

static void build_v(const void *v, const char *path) { build(v, path); }
static void check_v(const void *v, const char *path) { check_contents(v, path); }
static void build_b(const void *v, const char *path) { build_batches(v, path); }
static void check_b(const void *v, const char *path) { check_batches(v, path); }

static void batch_vectors(void **state)
{
    (void)state;
    const char *tmp = tu_tmpdir();
    for (size_t k = 0; k < sizeof bvectors / sizeof bvectors[0]; k++)
        check_golden(bvectors[k].file, tmp, build_b, check_b, &bvectors[k]);
    tu_rmdir(tmp);
}

static void golden_vectors(void **state)
{
    (void)state;
    const char *tmp = tu_tmpdir();
    for (size_t k = 0; k < sizeof vectors / sizeof vectors[0]; k++)
        check_golden(vectors[k].file, tmp, build_v, check_v, &vectors[k]);
    tu_rmdir(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(golden_vectors),
        cmocka_unit_test(v1_0_vectors_read),
        cmocka_unit_test(batch_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

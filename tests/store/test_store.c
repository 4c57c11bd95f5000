/* The store: round trips, append, recovery from truncation, detection of
 * every flipped byte, the stream form, the writer lock. */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec/convert.h"
#include "codec/crc32c.h"
#include "store/format.h"
#include "store/store_int.h"
#include "testutil.h"

#define N 1003
#define D 7

static float *random_rows(uint64_t seed, size_t n, size_t d)
{
    float *x = malloc(n * d * sizeof *x);
    for (size_t i = 0; i < n * d; i++)
        x[i] = (float)tu_normal(&seed);
    return x;
}

/* What reading back a stored type gives for float32 input. */
static void expected(const float *x, size_t n, lg_dtype t, float *out)
{
    void *tmp = malloc(n * 8);
    lgc_convert(LG_F32, x, t, tmp, n);
    lg_to_f32(t, tmp, out, n);
    free(tmp);
}

static void write_layer(lg_writer *w, const char *name, const float *x, size_t n, size_t d)
{
    lg_error err;
    assert_int_equal(lg_writer_begin_layer(w, name, (uint32_t)d, LG_F32, &err), LG_OK);
    /* in uneven pieces, so chunk boundaries fall inside a call */
    size_t done = 0, step = 1;
    while (done < n) {
        size_t m = n - done < step ? n - done : step;
        assert_int_equal(lg_writer_rows(w, x + done * d, m, &err), LG_OK);
        done += m;
        step = step * 3 + 1;
    }
    if (lg_writer_end_layer(w, &err) != LG_OK)
        fail_msg("end_layer: %s", err.msg);
}

static void check_layer(lg_store *s, size_t li, const float *want, size_t n, size_t d)
{
    lg_error err;
    lg_cursor *c;
    assert_int_equal(lg_cursor_open(s, li, 37, &c, &err), LG_OK);
    const float *rows;
    uint64_t r0;
    size_t m, seen = 0;
    for (;;) {
        assert_int_equal(lg_cursor_next(c, &rows, &r0, &m, &err), LG_OK);
        if (!m)
            break;
        assert_int_equal(r0, seen);
        assert_memory_equal(rows, want + seen * d, m * d * sizeof(float));
        seen += m;
    }
    assert_int_equal(seen, n);
    /* random access across chunk boundaries */
    float *buf = malloc(n * d * sizeof *buf);
    size_t from = n / 10, count = n / 2;
    assert_int_equal(lg_cursor_read(c, from, count, buf, &err), LG_OK);
    assert_memory_equal(buf, want + from * d, count * d * sizeof(float));
    assert_int_not_equal(lg_cursor_read(c, n - 5, 6, buf, &err), LG_OK);
    free(buf);
    lg_cursor_close(c);
}

static void round_trip_every_dtype_codec_filter(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    float *x = random_rows(1, N, D), *want = malloc(N * D * sizeof *want);
    lg_dtype types[] = {LG_F32, LG_F16, LG_BF16, LG_F64};
    for (int t = 0; t < 4; t++)
        for (int c = LG_CODEC_NONE; c <= LG_CODEC_ZSTD; c++)
            for (int f = 0; f <= 1; f++) {
                char name[64];
                snprintf(name, sizeof name, "rt-%d-%d-%d.lgs", t, c, f);
                const char *path = tu_path(dir, name);
                lg_writer_opts o;
                lg_writer_opts_default(&o);
                o.dtype = types[t];
                o.codec = (lg_codec)c;
                o.filter = (lg_filter)f;
                o.chunk_rows = 100; /* 1003 rows: 11 chunks, the last partial */
                o.durable = 0;
                lg_writer *w;
                lg_error err;
                assert_int_equal(lg_writer_create(path, &o, &w, &err), LG_OK);
                write_layer(w, "only", x, N, D);
                assert_int_equal(lg_writer_close(w, &err), LG_OK);

                lg_store *s;
                assert_int_equal(lg_store_open(path, 0, &s, &err), LG_OK);
                assert_null(lg_store_recovery(s));
                lg_layer_info L;
                assert_int_equal(lg_store_layer(s, 0, &L), LG_OK);
                assert_int_equal(L.n, N);
                assert_int_equal(L.d, D);
                assert_int_equal(L.dtype, types[t]);
                assert_int_equal(L.codec, c);
                assert_int_equal(L.filter, f);
                assert_int_equal(L.n_chunks, 11);
                expected(x, N * D, types[t], want);
                check_layer(s, 0, want, N, D);
                /* raw reads give the stored elements */
                lg_cursor *cur;
                size_t es = lg_dtype_size(types[t]);
                unsigned char *raw = malloc(N * D * es), *conv = malloc(N * D * es);
                assert_int_equal(lg_cursor_open(s, 0, 10, &cur, &err), LG_OK);
                assert_int_equal(lg_cursor_read_raw(cur, 0, N, raw, &err), LG_OK);
                lgc_convert(LG_F32, x, types[t], conv, N * D);
                assert_memory_equal(raw, conv, N * D * es);
                lg_cursor_close(cur);
                free(raw);
                free(conv);
                lg_store_close(s);
                assert_int_equal(lg_store_verify(path, NULL, NULL, &err), LG_OK);
            }
    free(x);
    free(want);
    tu_rmdir(dir);
}

/* Chunks of many pages, let go of as a cursor passes them: what is read
 * stays exact, pass after pass, and rows handed out in place stay valid. */
static void chunks_let_go_of_read_back_exact(void **state)
{
    (void)state;
    enum { R = 1000, C = 256 };
    const char *dir = tu_tmpdir();
    float *x = random_rows(5, R, C), *got = malloc((size_t)R * C * sizeof *got);
    for (int codec = LG_CODEC_NONE; codec <= LG_CODEC_ZSTD; codec += LG_CODEC_ZSTD) {
        const char *path = tu_path(dir, codec ? "z.lgs" : "n.lgs");
        lg_writer_opts o;
        lg_writer_opts_default(&o);
        o.codec = (lg_codec)codec;
        o.chunk_rows = 64; /* 64 KiB a chunk: 16 pages */
        o.durable = 0;
        lg_writer *w;
        lg_error err;
        assert_int_equal(lg_writer_create(path, &o, &w, &err), LG_OK);
        write_layer(w, "a", x, R, C);
        assert_int_equal(lg_writer_close(w, &err), LG_OK);
        lg_store *s;
        lg_cursor *cur;
        assert_int_equal(lg_store_open(path, 0, &s, &err), LG_OK);
        assert_int_equal(lg_cursor_open(s, 0, 50, &cur, &err), LG_OK);
        lg_cursor_let_go(cur, 1);
        for (int pass = 0; pass < 3; pass++) {
            memset(got, 0, (size_t)R * C * sizeof *got);
            for (uint64_t r = 0; r < R; r += 50)
                assert_int_equal(lg_cursor_read(cur, r, 50, got + r * C, &err), LG_OK);
            assert_memory_equal(got, x, (size_t)R * C * sizeof *got);
        }
        const float *first = NULL, *rows;
        uint64_t r0;
        size_t m;
        assert_int_equal(lg_cursor_seek(cur, 0, &err), LG_OK);
        do {
            assert_int_equal(lg_cursor_next(cur, &rows, &r0, &m, &err), LG_OK);
            if (m)
                assert_memory_equal(rows, x + r0 * C, m * C * sizeof *rows);
            if (!first)
                first = rows;
        } while (m);
        if (codec == LG_CODEC_NONE) /* in the mapping, long passed */
            assert_memory_equal(first, x, 50 * C * sizeof *first);
        lg_cursor_close(cur);
        lg_store_close(s);
    }
    free(x);
    free(got);
    tu_rmdir(dir);
}

static void uncompressed_f32_is_read_in_place(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir(), *path = tu_path(dir, "inplace.lgs");
    float *x = random_rows(2, 64, 16);
    lg_writer *w;
    lg_error err;
    assert_int_equal(lg_writer_create(path, NULL, &w, &err), LG_OK);
    write_layer(w, "a", x, 64, 16);
    assert_int_equal(lg_writer_close(w, &err), LG_OK);
    lg_store *s;
    lg_cursor *c;
    assert_int_equal(lg_store_open(path, 0, &s, &err), LG_OK);
    assert_int_equal(lg_cursor_open(s, 0, 64, &c, &err), LG_OK);
    const float *rows;
    uint64_t r0;
    size_t m;
    assert_int_equal(lg_cursor_next(c, &rows, &r0, &m, &err), LG_OK);
    assert_int_equal(m, 64);
    assert_int_equal((uintptr_t)rows % 64, 0); /* aligned payload, no copy */
    assert_memory_equal(rows, x, sizeof(float) * 64 * 16);
    lg_cursor_close(c);
    lg_store_close(s);
    free(x);
    tu_rmdir(dir);
}

static void append_after_reopen(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir(), *path = tu_path(dir, "app.lgs");
    float *a = random_rows(3, 50, 4), *b = random_rows(4, 50, 9), *c = random_rows(5, 50, 2);
    lg_writer_opts o;
    lg_writer_opts_default(&o);
    o.chunk_rows = 16;
    lg_writer *w;
    lg_error err;
    assert_int_equal(lg_writer_create(path, &o, &w, &err), LG_OK);
    write_layer(w, "a", a, 50, 4);
    write_layer(w, "b", b, 50, 9);
    assert_int_equal(lg_writer_meta(w, "model", "m1", 2, &err), LG_OK);
    assert_int_equal(lg_writer_close(w, &err), LG_OK);

    o.codec = LG_CODEC_ZSTD; /* later layers may use other settings */
    assert_int_equal(lg_writer_append(path, &o, &w, &err), LG_OK);
    assert_int_equal(lg_writer_layer_count(w), 2);
    write_layer(w, "c", c, 50, 2);
    int64_t lab[50];
    for (int i = 0; i < 50; i++)
        lab[i] = i % 3;
    assert_int_equal(lg_writer_labels(w, "labels", lab, 50, &err), LG_OK);
    assert_int_equal(lg_writer_meta(w, "note", "x", 1, &err), LG_OK);
    /* wrong row counts are refused */
    assert_int_equal(lg_writer_labels(w, "bad", lab, 49, &err), LG_EINPUT);
    assert_int_equal(lg_writer_begin_layer(w, "a", 3, LG_F32, &err), LG_EUSAGE); /* same name */
    assert_int_equal(lg_writer_begin_layer(w, "short", 2, LG_F32, &err), LG_OK);
    assert_int_equal(lg_writer_rows(w, c, 10, &err), LG_OK);
    assert_int_equal(lg_writer_end_layer(w, &err), LG_EINPUT);
    assert_non_null(strstr(err.msg, "10 rows"));
    assert_int_equal(lg_writer_close(w, &err), LG_OK);

    lg_store *s;
    assert_int_equal(lg_store_open(path, 0, &s, &err), LG_OK);
    assert_null(lg_store_recovery(s));
    assert_int_equal(lg_store_layer_count(s), 3);
    check_layer(s, 0, a, 50, 4);
    check_layer(s, 1, b, 50, 9);
    check_layer(s, 2, c, 50, 2);
    lg_layer_info L;
    lg_store_layer(s, 2, &L);
    assert_string_equal(L.name, "c");
    assert_int_equal(L.codec, LG_CODEC_ZSTD);
    size_t len;
    const char *v = lg_store_meta(s, "model", &len);
    assert_non_null(v);
    assert_int_equal(len, 2);
    assert_memory_equal(v, "m1", 2);
    assert_non_null(lg_store_meta(s, "note", &len));
    const int64_t *got;
    uint64_t n;
    assert_int_equal(lg_store_labels(s, NULL, &got, &n, &err), LG_OK);
    assert_int_equal(n, 50);
    assert_memory_equal(got, lab, sizeof lab);
    assert_int_equal(lg_store_find_layer(s, "b"), 1);
    assert_int_equal(lg_store_find_layer(s, "2"), 2);
    assert_int_equal(lg_store_find_layer(s, "zz"), -1);
    lg_store_close(s);
    assert_int_equal(lg_store_verify(path, NULL, NULL, &err), LG_OK);
    free(a);
    free(b);
    free(c);
    tu_rmdir(dir);
}

static void create_refuses_existing_file(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir(), *path = tu_path(dir, "x.lgs");
    tu_write_file(path, "precious", 8);
    lg_writer *w;
    lg_error err;
    assert_int_equal(lg_writer_create(path, NULL, &w, &err), LG_EUSAGE);
    size_t len;
    unsigned char *p = tu_read_file(path, &len);
    assert_int_equal(len, 8);
    assert_memory_equal(p, "precious", 8);
    free(p);
    /* and a non-store is not appended to */
    assert_int_equal(lg_writer_append(path, NULL, &w, &err), LG_EINPUT);
    if (!strstr(err.msg, "too short"))
        fail_msg("%s", err.msg);
    tu_rmdir(dir);
}

/* Two layers, the second appended: returns the size after the first commit. */
static size_t two_commit_store(const char *path, const float *a, const float *b)
{
    lg_writer_opts o;
    lg_writer_opts_default(&o);
    o.chunk_rows = 3;
    o.durable = 0;
    lg_writer *w;
    lg_error err;
    assert_int_equal(lg_writer_create(path, &o, &w, &err), LG_OK);
    write_layer(w, "first", a, 8, 3);
    assert_int_equal(lg_writer_close(w, &err), LG_OK);
    struct stat st;
    stat(path, &st);
    o.codec = LG_CODEC_LZ4;
    assert_int_equal(lg_writer_append(path, &o, &w, &err), LG_OK);
    write_layer(w, "second", b, 8, 2);
    assert_int_equal(lg_writer_close(w, &err), LG_OK);
    return (size_t)st.st_size;
}

static void truncation_at_every_byte_is_recovered(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir(), *path = tu_path(dir, "full.lgs"),
               *cut = tu_path(dir, "cut.lgs");
    float *a = random_rows(6, 8, 3), *b = random_rows(7, 8, 2);
    size_t first = two_commit_store(path, a, b), len;
    unsigned char *bytes = tu_read_file(path, &len);
    /* the second layer's records end with the seal: index + trailer follow */
    size_t seal_end = len - 128 - 64; /* index of 2 entries = 64 + 64 bytes, trailer 64 */
    for (size_t k = first; k < len; k++) {
        char msg[64];
        snprintf(msg, sizeof msg, "cut at %zu", k);
        assert_int_equal(tu_write_file(cut, bytes, k), 0);
        lg_store *s;
        lg_error err;
        int rc = lg_store_open(cut, 0, &s, &err);
        if (rc)
            fail_msg("%s: %s", msg, err.msg);
        if (k > first)
            assert_non_null(lg_store_recovery(s));
        size_t want = k >= seal_end ? 2 : 1;
        if (lg_store_layer_count(s) != want)
            fail_msg("%s: %zu layers, expected %zu", msg, lg_store_layer_count(s), want);
        check_layer(s, 0, a, 8, 3);
        if (want == 2)
            check_layer(s, 1, b, 8, 2);
        lg_store_close(s);
        /* repair makes it a clean store holding the same layers */
        char note[512];
        assert_int_equal(lg_store_repair(cut, note, sizeof note, &err), LG_OK);
        if (lg_store_verify(cut, NULL, NULL, &err) != LG_OK)
            fail_msg("%s: after repair: %s", msg, err.msg);
        assert_int_equal(lg_store_open(cut, 0, &s, &err), LG_OK);
        assert_null(lg_store_recovery(s));
        assert_int_equal(lg_store_layer_count(s), want);
        lg_store_close(s);
        char tail[600];
        snprintf(tail, sizeof tail, "%s.tail-", cut);
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -f '%s'*", tail);
        assert_int_equal(system(cmd), 0);
        unlink(cut);
    }
    free(bytes);
    free(a);
    free(b);
    tu_rmdir(dir);
}

/* ---- batch by batch (format 1.1) ---- */

#define BL 3  /* layers */
#define BB 3  /* rows per batch */
#define BN 15 /* rows: 5 batches */
static const size_t bdims[BL] = {3, 2, 4};

/* A store written batch by batch, committed after each batch, chunks of 4
 * rows (so chunks straddle batches); commit_end[b] is the file size after
 * batch b's commit.  x[l] are the layers' rows. */
static void batch_store(const char *path, float *x[BL], size_t commit_end[BN / BB])
{
    lg_writer_opts o;
    lg_writer_opts_default(&o);
    o.chunk_rows = 4;
    o.durable = 0;
    o.commit_seconds = 0;
    lg_writer *w;
    lg_error err;
    unlink(path);
    assert_int_equal(lg_writer_create(path, &o, &w, &err), LG_OK);
    size_t h[BL];
    for (int l = 0; l < BL; l++) {
        char name[8];
        snprintf(name, sizeof name, "L%d", l);
        assert_int_equal(lg_writer_layer(w, name, (uint32_t)bdims[l], LG_F32, &h[l], &err),
                         LG_OK);
    }
    for (int b = 0; b < BN / BB; b++) {
        int64_t lab[BB];
        for (int i = 0; i < BB; i++)
            lab[i] = b * BB + i;
        assert_int_equal(lg_writer_add_labels(w, "labels", lab, BB, &err), LG_OK);
        for (int l = BL - 1; l >= 0; l--) /* any order */
            assert_int_equal(lg_writer_add_rows(w, h[l], x[l] + (size_t)b * BB * bdims[l], BB,
                                                &err),
                             LG_OK);
        assert_int_equal(lg_writer_commit(w, &err), LG_OK);
        struct stat st;
        stat(path, &st);
        commit_end[b] = (size_t)st.st_size;
    }
    lg_writer_abort(w); /* ends at the last commit, EXTEND chains unfolded */
}

static void check_batch_rows(lg_store *s, float *x[BL], uint64_t rows, const char *msg)
{
    if (lg_store_rows(s) != rows || lg_store_layer_count(s) != (rows ? BL : 0))
        fail_msg("%s: %zu layers of %llu rows, expected %d of %llu", msg,
                 lg_store_layer_count(s), (unsigned long long)lg_store_rows(s),
                 rows ? BL : 0, (unsigned long long)rows);
    for (size_t l = 0; rows && l < BL; l++)
        check_layer(s, l, x[l], rows, bdims[l]);
    const int64_t *lab;
    uint64_t n;
    lg_error err;
    if (rows) {
        assert_int_equal(lg_store_labels(s, "labels", &lab, &n, &err), LG_OK);
        assert_int_equal(n, rows);
        assert_int_equal(lab[rows - 1], (int64_t)rows - 1);
    }
}

static void batch_store_cut_at_every_byte_keeps_committed_rows(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir(), *path = tu_path(dir, "batch.lgs"),
               *cut = tu_path(dir, "cut.lgs");
    float *x[BL];
    for (int l = 0; l < BL; l++)
        x[l] = random_rows(40 + (uint64_t)l, BN, bdims[l]);
    size_t ends[BN / BB], len;
    batch_store(path, x, ends);
    unsigned char *bytes = tu_read_file(path, &len);
    assert_int_equal(len, ends[BN / BB - 1]);
    for (size_t k = ends[0]; k <= len; k++) {
        char msg[64];
        snprintf(msg, sizeof msg, "cut at %zu", k);
        assert_int_equal(tu_write_file(cut, bytes, k), 0);
        uint64_t want = 0;
        for (int b = 0; b < BN / BB; b++)
            if (ends[b] <= k)
                want = (uint64_t)(b + 1) * BB;
        lg_store *s;
        lg_error err;
        if (lg_store_open(cut, 0, &s, &err))
            fail_msg("%s: %s", msg, err.msg);
        check_batch_rows(s, x, want, msg);
        lg_store_close(s);
        char note[512];
        if (lg_store_repair(cut, note, sizeof note, &err))
            fail_msg("%s: repair: %s", msg, err.msg);
        if (lg_store_verify(cut, NULL, NULL, &err) != LG_OK)
            fail_msg("%s: after repair: %s", msg, err.msg);
        assert_int_equal(lg_store_open(cut, 0, &s, &err), LG_OK);
        check_batch_rows(s, x, want, msg);
        lg_store_close(s);
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -f '%s'*", cut);
        assert_int_equal(system(cmd), 0);
    }
    /* reopened for appending, the store goes on growing from its N */
    lg_writer *w;
    lg_error err;
    float *more = random_rows(99, 4, bdims[1]);
    assert_int_equal(lg_writer_append(path, NULL, &w, &err), LG_OK);
    size_t h;
    assert_int_equal(lg_writer_layer(w, "L1", (uint32_t)bdims[1], LG_F32, &h, &err), LG_OK);
    assert_int_equal(lg_writer_add_rows(w, h, more, 4, &err), LG_OK);
    /* the other layers did not grow: not level, so close keeps the last commit */
    assert_int_not_equal(lg_writer_close(w, &err), LG_OK);
    assert_non_null(strstr(err.msg, "not kept"));
    lg_store *s;
    assert_int_equal(lg_store_open(path, 0, &s, &err), LG_OK);
    check_batch_rows(s, x, BN, "after a refused growth");
    lg_store_close(s);
    free(more);
    free(bytes);
    for (int l = 0; l < BL; l++)
        free(x[l]);
    tu_rmdir(dir);
}

static void every_flipped_byte_is_detected(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir(), *path = tu_path(dir, "flip.lgs"),
               *bad = tu_path(dir, "bad.lgs");
    float *a = random_rows(8, 8, 3), *b = random_rows(9, 8, 2);
    two_commit_store(path, a, b);
    /* add labels and metadata so every record type is covered */
    lg_writer *w;
    lg_error err;
    assert_int_equal(lg_writer_append(path, NULL, &w, &err), LG_OK);
    int64_t lab[8] = {0, 1, 0, 1, 2, 2, 0, 1};
    assert_int_equal(lg_writer_labels(w, "labels", lab, 8, &err), LG_OK);
    assert_int_equal(lg_writer_meta(w, "model", "tiny", 4, &err), LG_OK);
    assert_int_equal(lg_writer_close(w, &err), LG_OK);
    size_t len;
    unsigned char *bytes = tu_read_file(path, &len);
    assert_int_equal(lg_store_verify(path, NULL, NULL, &err), LG_OK);
    for (size_t k = 0; k < len; k++) {
        for (int bit = 0; bit < 8; bit += 7) {
            bytes[k] ^= (unsigned char)(1u << bit);
            assert_int_equal(tu_write_file(bad, bytes, len), 0);
            int rc = lg_store_verify(bad, NULL, NULL, &err);
            if (rc == LG_OK)
                fail_msg("flipping bit %d of byte %zu went unnoticed", bit, k);
            if (k >= 64 && !strstr(err.msg, "offset"))
                fail_msg("byte %zu: message names no offset: %s", k, err.msg);
            bytes[k] ^= (unsigned char)(1u << bit);
        }
    }
    free(bytes);
    free(a);
    free(b);
    tu_rmdir(dir);
}

static void corrupt_chunk_names_layer_and_offset(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir(), *path = tu_path(dir, "c.lgs");
    float *a = random_rows(10, 8, 3), *b = random_rows(11, 8, 2);
    two_commit_store(path, a, b);
    size_t len;
    unsigned char *bytes = tu_read_file(path, &len);
    /* header, the empty store's index and trailer, then the first chunk */
    bytes[192 + 64 + 5] ^= 0x10; /* inside the first chunk's payload */
    tu_write_file(path, bytes, len);
    lg_store *s;
    lg_error err;
    assert_int_equal(lg_store_open(path, 0, &s, &err), LG_OK); /* headers are fine */
    lg_cursor *c;
    float out[24];
    assert_int_equal(lg_cursor_open(s, 0, 8, &c, &err), LG_OK);
    assert_int_equal(lg_cursor_read(c, 0, 8, out, &err), LG_ECORRUPT);
    assert_non_null(strstr(err.msg, "layer 0 (first)"));
    assert_non_null(strstr(err.msg, "offset 256"));
    /* the other layer still reads */
    lg_cursor_close(c);
    assert_int_equal(lg_cursor_open(s, 1, 8, &c, &err), LG_OK);
    assert_int_equal(lg_cursor_read(c, 0, 8, out, &err), LG_OK);
    lg_cursor_close(c);
    lg_store_close(s);
    free(bytes);
    free(a);
    free(b);
    tu_rmdir(dir);
}

static void repair_refuses_to_cut_good_records(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir(), *path = tu_path(dir, "mid.lgs");
    float *a = random_rows(12, 8, 3), *b = random_rows(13, 8, 2);
    size_t first = two_commit_store(path, a, b), len;
    unsigned char *bytes = tu_read_file(path, &len);
    /* damage the first record after the first commit, drop the final trailer */
    bytes[first + 70] ^= 1;
    tu_write_file(path, bytes, len - 64);
    char note[512];
    lg_error err;
    assert_int_equal(lg_store_repair(path, note, sizeof note, &err), LG_ECORRUPT);
    assert_non_null(strstr(err.msg, "followed by valid records"));
    size_t len2;
    unsigned char *after = tu_read_file(path, &len2);
    assert_int_equal(len2, len - 64); /* untouched */
    free(after);
    free(bytes);
    free(a);
    free(b);
    tu_rmdir(dir);
}

/* A crafted store (#18 item 9): a valid header claiming 1 GB at the first
 * record after the first commit, the second layer's records after it, and
 * a torn end.  It looks like a torn tail but is not: repair refuses to cut
 * away the records that follow. */
static void repair_refuses_a_bogus_torn_record(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir(), *path = tu_path(dir, "bogus.lgs");
    float *a = random_rows(12, 8, 3), *b = random_rows(13, 8, 2);
    size_t first = two_commit_store(path, a, b), len;
    unsigned char *bytes = tu_read_file(path, &len);
    lgs_header h;
    assert_null(lgs_decode_header(bytes + first, &h));
    h.stored_size = 1ull << 30; /* beyond the end of the file */
    lgs_encode_header(&h, bytes + first);
    tu_write_file(path, bytes, len - 40); /* and a torn trailer */
    char note[512];
    lg_error err;
    assert_int_equal(lg_store_repair(path, note, sizeof note, &err), LG_ECORRUPT);
    assert_non_null(strstr(err.msg, "followed by valid records"));
    assert_non_null(strstr(err.msg, "apparently incomplete"));
    size_t len2;
    unsigned char *after = tu_read_file(path, &len2);
    assert_int_equal(len2, len - 40); /* untouched */
    free(after);
    /* a genuine torn end is still cut */
    unlink(path);
    two_commit_store(path, a, b);
    free(bytes);
    bytes = tu_read_file(path, &len);
    tu_write_file(path, bytes, len - 40);
    assert_int_equal(lg_store_repair(path, note, sizeof note, &err), LG_OK);
    free(bytes);
    free(a);
    free(b);
    tu_rmdir(dir);
}

static void second_writer_is_refused_readers_go_on(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir(), *path = tu_path(dir, "lock.lgs");
    float *a = random_rows(14, 8, 3);
    lg_writer *w, *w2;
    lg_error err;
    assert_int_equal(lg_writer_create(path, NULL, &w, &err), LG_OK);
    write_layer(w, "a", a, 8, 3);
    assert_int_equal(lg_writer_append(path, NULL, &w2, &err), LG_EBUSY);
    assert_non_null(strstr(err.msg, "another process is writing"));
    lg_store *s;
    assert_int_equal(lg_store_open(path, 0, &s, &err), LG_OK);
    assert_int_equal(lg_store_layer_count(s), 1);
    lg_store_close(s);
    /* a reader opening while a layer is half written sees the complete ones */
    assert_int_equal(lg_writer_begin_layer(w, "b", 3, LG_F32, &err), LG_OK);
    float *big = random_rows(15, 8, 3);
    assert_int_equal(lg_writer_rows(w, big, 5, &err), LG_OK);
    assert_int_equal(lg_store_open(path, 0, &s, &err), LG_OK);
    assert_int_equal(lg_store_layer_count(s), 1);
    lg_store_close(s);
    assert_int_equal(lg_writer_rows(w, big + 15, 3, &err), LG_OK);
    assert_int_equal(lg_writer_close(w, &err), LG_EUSAGE); /* b was not ended */
    assert_int_equal(lg_store_open(path, 0, &s, &err), LG_OK);
    assert_int_equal(lg_store_layer_count(s), 1);
    lg_store_close(s);
    assert_int_equal(lg_writer_append(path, NULL, &w2, &err), LG_OK);
    lg_writer_abort(w2);
    free(a);
    free(big);
    tu_rmdir(dir);
}

typedef struct memsrc {
    const unsigned char *p;
    size_t len, pos;
} memsrc;

static long mem_read(void *ctx, void *buf, size_t len)
{
    memsrc *m = ctx;
    size_t k = m->len - m->pos < len ? m->len - m->pos : len;
    size_t most = 13 + (m->pos % 7); /* short reads, as from a pipe */
    if (k > most)
        k = most;
    memcpy(buf, m->p + m->pos, k);
    m->pos += k;
    return (long)k;
}

static void stream_form_round_trip_and_cut(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir(), *path = tu_path(dir, "s.lgsx");
    float *a = random_rows(16, 20, 5);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    lg_writer_opts o;
    lg_writer_opts_default(&o);
    o.codec = LG_CODEC_ZSTD;
    o.filter = LG_FILTER_SHUFFLE;
    o.dtype = LG_F16;
    o.chunk_rows = 8;
    lg_writer *w;
    lg_error err;
    assert_int_equal(lg_writer_stream(fd, &o, &w, &err), LG_OK);
    assert_int_equal(lg_writer_meta(w, "model", "s", 1, &err), LG_OK);
    write_layer(w, "h0", a, 20, 5);
    int64_t lab[20] = {0};
    lab[3] = 7;
    assert_int_equal(lg_writer_labels(w, "labels", lab, 20, &err), LG_OK);
    assert_int_equal(lg_writer_close(w, &err), LG_OK);
    close(fd);
    size_t len;
    unsigned char *bytes = tu_read_file(path, &len);
    memsrc m = {bytes, len, 0};
    lg_stream *st;
    assert_int_equal(lg_stream_open(mem_read, &m, &st, &err), LG_OK);
    lg_stream_record rec;
    int chunks = 0, seals = 0, labels = 0, metas = 0;
    float *want = malloc(20 * 5 * sizeof *want), got[40];
    expected(a, 100, LG_F16, want);
    for (;;) {
        if (lg_stream_next(st, &rec, &err) != LG_OK)
            fail_msg("%s", err.msg);
        if (rec.type == 7)
            break;
        if (rec.type == 1) {
            assert_int_equal(rec.dtype, LG_F16);
            lg_to_f32(LG_F16, rec.data, got, rec.rows * rec.d);
            assert_memory_equal(got, want + rec.first_row * 5, rec.rows * 5 * sizeof(float));
            chunks++;
        }
        seals += rec.type == 2;
        if (rec.type == 3) {
            labels++;
            assert_int_equal(rec.rows, 20);
            assert_memory_equal(rec.data, lab, sizeof lab);
        }
        metas += rec.type == 4;
    }
    assert_int_equal(chunks, 3);
    assert_int_equal(seals, 1);
    assert_int_equal(labels, 1);
    assert_int_equal(metas, 1);
    lg_stream_close(st);
    /* a producer that dies mid-record: every cut gives a clear error, never a crash */
    for (size_t k = 64; k < len; k += 5) {
        memsrc c = {bytes, k, 0};
        assert_int_equal(lg_stream_open(mem_read, &c, &st, &err), LG_OK);
        int rc;
        do
            rc = lg_stream_next(st, &rec, &err);
        while (rc == LG_OK && rec.type != 7);
        assert_int_equal(rc, LG_EINPUT);
        assert_non_null(strstr(err.msg, "offset"));
        lg_stream_close(st);
    }
    /* the stream form opens as a (read-only) store too */
    lg_store *s;
    assert_int_equal(lg_store_open(path, 0, &s, &err), LG_OK);
    assert_int_equal(lg_store_layer_count(s), 1);
    check_layer(s, 0, want, 20, 5);
    lg_store_close(s);
    free(bytes);
    free(want);
    free(a);
    tu_rmdir(dir);
}

static void known_crc_is_used_for_whole_chunks(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir(), *path = tu_path(dir, "crc.lgs");
    float *x = random_rows(30, 8, 2);
    lg_writer_opts o;
    lg_writer_opts_default(&o);
    o.chunk_rows = 4;
    lg_writer *w;
    lg_error err;
    assert_int_equal(lg_writer_create(path, &o, &w, &err), LG_OK);
    assert_int_equal(lg_writer_begin_layer(w, "a", 2, LG_F32, &err), LG_OK);
    /* a whole chunk with its CRC given, then one given a wrong CRC (to show it is
     * taken as given), then rows that are not a whole chunk (CRC computed) */
    assert_int_equal(lg_writer_rows_crc(w, x, 4, lgc_crc32c(0, x, 4 * 2 * 4), &err), LG_OK);
    assert_int_equal(lg_writer_rows_crc(w, x + 8, 4, 12345, &err), LG_OK);
    assert_int_equal(lg_writer_end_layer(w, &err), LG_OK);
    assert_int_equal(lg_writer_close(w, &err), LG_OK);
    assert_int_equal(lg_store_verify(path, NULL, NULL, &err), LG_ECORRUPT);
    assert_non_null(strstr(err.msg, "checksum"));
    free(x);
    tu_rmdir(dir);
}

static void open_rejects_non_stores(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir(), *p = tu_path(dir, "junk");
    lg_store *s;
    lg_error err;
    tu_write_file(p, "hello", 5);
    assert_int_equal(lg_store_open(p, 0, &s, &err), LG_EINPUT);
    assert_non_null(strstr(err.msg, "too short"));
    unsigned char z[256] = {0};
    tu_write_file(p, z, sizeof z);
    assert_int_equal(lg_store_open(p, 0, &s, &err), LG_EINPUT);
    assert_non_null(strstr(err.msg, "offset 0"));
    assert_int_equal(lg_store_open(tu_path(dir, "missing"), 0, &s, &err), LG_ENOTFOUND);
    tu_rmdir(dir);
}

/* A store of `layers` layers ("a", "b", ...) of 30 x 4 rows, for crafting. */
static void small_store(const char *path, int layers)
{
    lg_writer *w;
    lg_error err;
    assert_int_equal(lg_writer_create(path, NULL, &w, &err), LG_OK);
    float x[30 * 4];
    for (int l = 0; l < layers; l++) {
        char name[2] = {(char)('a' + l), 0};
        for (int i = 0; i < 120; i++)
            x[i] = (float)(i + 1000 * l);
        assert_int_equal(lg_writer_begin_layer(w, name, 4, LG_F32, &err), LG_OK);
        assert_int_equal(lg_writer_rows(w, x, 30, &err), LG_OK);
        assert_int_equal(lg_writer_end_layer(w, &err), LG_OK);
    }
    assert_int_equal(lg_writer_close(w, &err), LG_OK);
}

/* verify checks each layer's content CRC against its rows (#18 item 8): a
 * SEAL whose CRC is wrong (valid header checksum) is found. */
static void verify_checks_content_crc(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir(), *path = tu_path(dir, "crc.lgs");
    lg_error err;
    small_store(path, 1);
    assert_int_equal(lg_store_verify(path, NULL, NULL, &err), LG_OK);
    lg_store *s;
    assert_int_equal(lg_store_open(path, 0, &s, &err), LG_OK);
    uint64_t seal = s->layers[0].seal_off;
    lg_store_close(s);
    size_t len;
    unsigned char *b = tu_read_file(path, &len);
    lgs_header h;
    assert_null(lgs_decode_header(b + seal, &h));
    lgu_put32(h.e + 4, lgu_get32(h.e + 4) ^ 1); /* a wrong content CRC, a valid record */
    lgs_encode_header(&h, b + seal);
    tu_write_file(path, b, len);
    free(b);
    assert_int_equal(lg_store_open(path, 0, &s, &err), LG_OK); /* opens: the record is sound */
    lg_store_close(s);
    assert_int_equal(lg_store_verify(path, NULL, NULL, &err), LG_ECORRUPT);
    assert_non_null(strstr(err.msg, "content CRC"));
    tu_rmdir(dir);
}

/* A trailer whose generation goes backwards (#18 item 11): verify refuses
 * the file, naming both trailers. */
static void generation_going_backwards_is_refused(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir(), *path = tu_path(dir, "gen.lgs");
    float *a = random_rows(12, 8, 3), *b = random_rows(13, 8, 2);
    size_t first = two_commit_store(path, a, b), len;
    lg_error err;
    assert_int_equal(lg_store_verify(path, NULL, NULL, &err), LG_OK);
    unsigned char *bytes = tu_read_file(path, &len);
    lgs_header h;
    assert_null(lgs_decode_header(bytes + len - 64, &h)); /* the final trailer */
    assert_int_equal(h.type, LGS_TRAILER);
    assert_null(lgs_decode_header(bytes + first - 64, &h)); /* the first commit's */
    assert_int_equal(h.type, LGS_TRAILER);
    h.b += 5; /* the earlier commit now claims a later generation */
    lgs_encode_header(&h, bytes + first - 64);
    tu_write_file(path, bytes, len);
    assert_int_equal(lg_store_verify(path, NULL, NULL, &err), LG_ECORRUPT);
    assert_non_null(strstr(err.msg, "generation"));
    free(bytes);
    free(a);
    free(b);
    tu_rmdir(dir);
}

/* One flipped bit in a small record (#18 item 5): a damaged META or LABELS
 * payload is reported and skipped, the layers read; a damaged final index
 * falls back to the older index and the records after it, every layer
 * kept; repair then writes a fresh index. */
static void damaged_small_records_cost_only_themselves(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s", tu_path(dir, "small.lgs"));
    lg_error err;
    for (int which = 0; which < 4; which++) {
        unlink(path);
        lg_writer *w;
        assert_int_equal(lg_writer_create(path, NULL, &w, &err), LG_OK);
        float x[30 * 4];
        for (int l = 0; l < 2; l++) {
            char name[2] = {(char)('a' + l), 0};
            for (int i = 0; i < 120; i++)
                x[i] = (float)(i + 1000 * l);
            assert_int_equal(lg_writer_begin_layer(w, name, 4, LG_F32, &err), LG_OK);
            assert_int_equal(lg_writer_rows(w, x, 30, &err), LG_OK);
            assert_int_equal(lg_writer_end_layer(w, &err), LG_OK);
        }
        int64_t lab[30];
        for (int i = 0; i < 30; i++)
            lab[i] = i % 3;
        assert_int_equal(lg_writer_labels(w, "y", lab, 30, &err), LG_OK);
        assert_int_equal(lg_writer_meta(w, "model", "m", 1, &err), LG_OK);
        assert_int_equal(lg_writer_close(w, &err), LG_OK);
        lg_store *s;
        assert_int_equal(lg_store_open(path, 0, &s, &err), LG_OK);
        uint64_t at = which == 0   ? s->meta_off
                      : which == 1 ? s->labels[0].off
                      : which == 3 ? s->layers[0].seal_off
                                   : 0;
        lg_store_close(s);
        size_t len;
        unsigned char *b = tu_read_file(path, &len);
        if (which == 2)
            at = len - 64 - 64 - 64; /* the final index: 64 header + its entries, then the trailer */
        b[at + 64 + 3] ^= 0x08; /* in the payload */
        tu_write_file(path, b, len);
        free(b);
        if (lg_store_open(path, 0, &s, &err))
            fail_msg("case %d: %s", which, err.msg);
        assert_int_equal(lg_store_layer_count(s), which == 3 ? 1 : 2);
        const char *note = lg_store_recovery(s);
        assert_non_null(note);
        const char *want[4] = {"meta record", "labels record", "final index was not used",
                               "layer 0 (seal record"};
        if (!strstr(note, want[which]))
            fail_msg("case %d: note '%s'", which, note);
        size_t ml;
        assert_true((lg_store_meta(s, "model", &ml) == NULL) == (which == 0));
        assert_int_equal(lg_store_label_set_count(s), which == 1 ? 0 : 1);
        lg_cursor *c;
        float out[120];
        assert_int_equal(lg_cursor_open(s, which == 3 ? 0 : 1, 30, &c, &err), LG_OK);
        assert_int_equal(lg_cursor_read(c, 0, 30, out, &err), LG_OK);
        assert_true(out[5] == 1005.0f);
        lg_cursor_close(c);
        lg_store_close(s);
        char note2[512];
        assert_int_equal(lg_store_repair(path, note2, sizeof note2, &err), LG_OK);
        /* the damaged record stays in the file, used by nothing: verify still finds
         * it (every flipped bit is found) and says nothing in use depends on it */
        if (which == 2) {
            assert_int_equal(lg_store_verify(path, NULL, NULL, &err), LG_OK);
        } else {
            assert_int_equal(lg_store_verify(path, NULL, NULL, &err), LG_ECORRUPT);
            assert_non_null(strstr(err.msg, "used by nothing"));
        }
        assert_int_equal(lg_store_open(path, 0, &s, &err), LG_OK);
        assert_int_equal(lg_store_layer_count(s), which == 3 ? 1 : 2);
        lg_store_close(s);
    }
    tu_rmdir(dir);
}

/* Damage in the middle (#18 item 5): a salvage gives back every layer whose
 * records are sound, bit for bit, and names what it left out; the damaged
 * bytes stay in the file, which verify names without failing.  Case 0: a
 * chunk's payload (the final index is sound); case 1: a chunk's header and
 * the final index, where a repair refuses to cut. */
static void salvage_gives_back_every_sound_record(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s", tu_path(dir, "salvage.lgs"));
    lg_error err;
    for (int which = 0; which < 2; which++) {
        unlink(path);
        small_store(path, 3);
        lg_store *s;
        assert_int_equal(lg_store_open(path, 0, &s, &err), LG_OK);
        uint64_t chunk = s->chunks[s->layers[1].first_chunk].off;
        lg_store_close(s);
        size_t len;
        unsigned char *b = tu_read_file(path, &len);
        if (which == 0) {
            b[chunk + 64 + 17] ^= 0x10; /* chunk payload */
        } else {
            b[chunk + 9] ^= 0x01;             /* chunk header */
            b[len - 192 + 64 + 2] ^= 0x01;   /* the final index's payload */
        }
        tu_write_file(path, b, len);
        free(b);
        char note[LG_ERROR_MSG_MAX];
        if (which == 1) { /* a repair would cut away layer c: it refuses, naming the salvage */
            assert_int_equal(lg_store_repair(path, note, sizeof note, &err), LG_ECORRUPT);
            assert_non_null(strstr(err.msg, "--salvage"));
        }
        assert_int_equal(lg_store_verify(path, NULL, NULL, &err), LG_ECORRUPT);
        if (lg_store_salvage(path, note, sizeof note, &err))
            fail_msg("case %d: salvage: %s", which, err.msg);
        if (!strstr(note, "layer 1 (b") || !strstr(note, "left out"))
            fail_msg("case %d: note '%s'", which, note);
        if (which == 1 && !strstr(note, "were skipped"))
            fail_msg("case %d: note '%s'", which, note);
        /* every record in use is sound; the damaged ones are named */
        char unused[LG_ERROR_MSG_MAX];
        if (lg_store_verify_note(path, NULL, NULL, unused, sizeof unused, &err))
            fail_msg("case %d: verify after salvage: %s", which, err.msg);
        char at[32];
        snprintf(at, sizeof at, "offset %llu", (unsigned long long)chunk);
        if (!strstr(unused, at))
            fail_msg("case %d: unused '%s'", which, unused);
        assert_int_equal(lg_store_verify(path, NULL, NULL, &err), LG_ECORRUPT); /* strict */
        assert_int_equal(lg_store_open(path, 0, &s, &err), LG_OK);
        assert_null(lg_store_recovery(s)); /* opens from its fresh index */
        assert_int_equal(lg_store_layer_count(s), 2);
        const char *names[2] = {"a", "c"};
        const float base[2] = {0, 2000};
        for (size_t l = 0; l < 2; l++) {
            lg_layer_info L;
            lg_store_layer(s, l, &L);
            assert_string_equal(L.name, names[l]);
            float out[120];
            lg_cursor *c;
            assert_int_equal(lg_cursor_open(s, l, 30, &c, &err), LG_OK);
            assert_int_equal(lg_cursor_read(c, 0, 30, out, &err), LG_OK);
            lg_cursor_close(c);
            for (int i = 0; i < 120; i++)
                assert_true(out[i] == (float)i + base[l]);
        }
        lg_store_close(s);
        /* and it takes more layers as any store does */
        lg_writer *w;
        assert_int_equal(lg_writer_append(path, NULL, &w, &err), LG_OK);
        float x[120] = {0};
        assert_int_equal(lg_writer_begin_layer(w, "d", 4, LG_F32, &err), LG_OK);
        assert_int_equal(lg_writer_rows(w, x, 30, &err), LG_OK);
        assert_int_equal(lg_writer_end_layer(w, &err), LG_OK);
        assert_int_equal(lg_writer_close(w, &err), LG_OK);
        if (lg_store_verify_note(path, NULL, NULL, unused, sizeof unused, &err))
            fail_msg("case %d: verify after append: %s", which, err.msg);
        /* a second salvage finds nothing more to leave out */
        assert_int_equal(lg_store_salvage(path, note, sizeof note, &err), LG_OK);
        if (!strstr(note, "already clean"))
            fail_msg("case %d: second salvage: '%s'", which, note);
    }
    tu_rmdir(dir);
}

/* The same as a golden file (tests/vectors/damaged/middle.lgs:
 * batches_closed.lgs with a bit flipped in the header of layer a's second
 * chunk, offset 1152 + 9, and one in the final index's payload, offset
 * 3200 + 66): repair refuses; a salvage gives back layer b (element (i, j) =
 * i + j / 2), the labels and the metadata. */
static void salvage_golden_damaged_store(void **state)
{
    (void)state;
    char golden[600];
    snprintf(golden, sizeof golden, "%s/tests/vectors/damaged/middle.lgs", LG_SOURCE_DIR);
    size_t len;
    unsigned char *bytes = tu_read_file(golden, &len);
    assert_non_null(bytes);
    const char *dir = tu_tmpdir(), *path = tu_path(dir, "middle.lgs");
    assert_int_equal(tu_write_file(path, bytes, len), 0);
    free(bytes);
    char note[LG_ERROR_MSG_MAX];
    lg_error err;
    assert_int_equal(lg_store_repair(path, note, sizeof note, &err), LG_ECORRUPT);
    assert_int_equal(lg_store_salvage(path, note, sizeof note, &err), LG_OK);
    assert_non_null(strstr(note, "bytes 1152..1280 were skipped"));
    assert_non_null(strstr(note, "layer 0"));
    lg_store *s;
    assert_int_equal(lg_store_open(path, 0, &s, &err), LG_OK);
    assert_null(lg_store_recovery(s));
    assert_int_equal(lg_store_layer_count(s), 1);
    lg_layer_info L;
    lg_store_layer(s, 0, &L);
    assert_string_equal(L.name, "b");
    float out[10];
    lg_cursor *c;
    assert_int_equal(lg_cursor_open(s, 0, 5, &c, &err), LG_OK);
    assert_int_equal(lg_cursor_read(c, 0, 5, out, &err), LG_OK);
    lg_cursor_close(c);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 2; j++)
            assert_true(out[i * 2 + j] == (float)i + (float)j / 2);
    const int64_t *lab;
    uint64_t nl;
    assert_int_equal(lg_store_labels(s, NULL, &lab, &nl, &err), LG_OK);
    assert_int_equal(nl, 5);
    assert_true(lab[0] == 0 && lab[1] == 1 && lab[2] == 1 && lab[3] == 0 && lab[4] == 2);
    size_t ml;
    assert_non_null(lg_store_meta(s, "model", &ml));
    lg_store_close(s);
    char unused[LG_ERROR_MSG_MAX];
    assert_int_equal(lg_store_verify_note(path, NULL, NULL, unused, sizeof unused, &err), LG_OK);
    assert_non_null(strstr(unused, "offset 1152"));
    tu_rmdir(dir);
}

/* A crafted index listing two layers with one id: one layer would vanish
 * without a word; it is refused (#18 item 11). */
static void two_seals_with_one_id_are_refused(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir(), *path = tu_path(dir, "dup.lgs");
    lg_error err;
    small_store(path, 2);
    /* layer b (id 1) relabelled id 0: its seal and chunks, with valid headers */
    size_t len;
    unsigned char *b = tu_read_file(path, &len);
    lgs_header h;
    for (uint64_t off = LGS_FILE_HEADER_SIZE; off + 64 <= len;
         off += lgs_record_span(h.stored_size)) {
        assert_null(lgs_decode_header(b + off, &h));
        if ((h.type == LGS_CHUNK || h.type == LGS_SEAL) && h.b == 1) {
            h.b = 0;
            lgs_encode_header(&h, b + off);
        }
    }
    tu_write_file(path, b, len);
    free(b);
    lg_store *s;
    assert_int_equal(lg_store_open(path, 0, &s, &err), LG_ECORRUPT);
    assert_non_null(strstr(err.msg, "lists layer id 0 twice"));
    tu_rmdir(dir);
}

/* A trailer whose reserved fields are not zero is not a valid trailer: the
 * store is read by scanning, and says so (#18 item 11, part). */
static void trailer_reserved_bytes_are_checked(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir(), *path = tu_path(dir, "tr.lgs");
    lg_error err;
    small_store(path, 1);
    size_t len;
    unsigned char *b = tu_read_file(path, &len);
    lgs_header h;
    assert_null(lgs_decode_header(b + len - 64, &h));
    assert_int_equal(h.type, LGS_TRAILER);
    h.c = 7; /* reserved */
    lgs_encode_header(&h, b + len - 64);
    tu_write_file(path, b, len);
    free(b);
    lg_store *s;
    assert_int_equal(lg_store_open(path, 0, &s, &err), LG_OK);
    assert_non_null(lg_store_recovery(s)); /* not taken as a clean store */
    assert_int_equal(lg_store_layer_count(s), 1);
    lg_store_close(s);
    assert_int_not_equal(lg_store_verify(path, NULL, NULL, &err), LG_OK);
    tu_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_every_dtype_codec_filter),
        cmocka_unit_test(uncompressed_f32_is_read_in_place),
        cmocka_unit_test(chunks_let_go_of_read_back_exact),
        cmocka_unit_test(append_after_reopen),
        cmocka_unit_test(create_refuses_existing_file),
        cmocka_unit_test(truncation_at_every_byte_is_recovered),
        cmocka_unit_test(every_flipped_byte_is_detected),
        cmocka_unit_test(corrupt_chunk_names_layer_and_offset),
        cmocka_unit_test(repair_refuses_to_cut_good_records),
        cmocka_unit_test(repair_refuses_a_bogus_torn_record),
        cmocka_unit_test(generation_going_backwards_is_refused),
        cmocka_unit_test(damaged_small_records_cost_only_themselves),
        cmocka_unit_test(batch_store_cut_at_every_byte_keeps_committed_rows),
        cmocka_unit_test(second_writer_is_refused_readers_go_on),
        cmocka_unit_test(stream_form_round_trip_and_cut),
        cmocka_unit_test(known_crc_is_used_for_whole_chunks),
        cmocka_unit_test(open_rejects_non_stores),
        cmocka_unit_test(verify_checks_content_crc),
        cmocka_unit_test(two_seals_with_one_id_are_refused),
        cmocka_unit_test(salvage_gives_back_every_sound_record),
        cmocka_unit_test(salvage_golden_damaged_store),
        cmocka_unit_test(trailer_reserved_bytes_are_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

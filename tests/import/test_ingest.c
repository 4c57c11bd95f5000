/* Ingest: the stream form and .npy frames, whole and cut at every kind of
 * place; what is kept, what is reported. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"


typedef struct mem {
    const unsigned char *p;
    size_t len, pos;
} mem;

static long mem_read(void *ctx, void *buf, size_t len)
{
    mem *m = ctx;
    size_t k = m->len - m->pos < len ? m->len - m->pos : len;
    if (k > 4000)
        k = 4000; /* pipe-sized reads */
    memcpy(buf, m->p + m->pos, k);
    m->pos += k;
    return (long)k;
}

static float *rows_of(uint64_t seed, size_t n, size_t d)
{
    float *x = malloc(n * d * sizeof *x);
    for (size_t i = 0; i < n * d; i++)
        x[i] = (float)tu_normal(&seed);
    return x;
}

/* A stream of three layers (10 x 4, 10 x 6, 10 x 2), labels and metadata. */
static unsigned char *make_stream(size_t *len)
{
    const char *p = tu_path(tu_dir, "s.lgsx");
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    lg_writer_opts o;
    lg_writer_opts_default(&o);
    o.chunk_rows = 3;
    lg_writer *w;
    lg_error err;
    assert_int_equal(lg_writer_stream(fd, &o, &w, &err), LG_OK);
    assert_int_equal(lg_writer_meta(w, "model", "m", 1, &err), LG_OK);
    size_t dims[3] = {4, 6, 2};
    for (int l = 0; l < 3; l++) {
        float *x = rows_of(10 + l, 10, dims[l]);
        char name[8];
        snprintf(name, sizeof name, "h%d", l);
        assert_int_equal(lg_writer_begin_layer(w, name, (uint32_t)dims[l], LG_F32, &err), LG_OK);
        assert_int_equal(lg_writer_rows(w, x, 10, &err), LG_OK);
        assert_int_equal(lg_writer_end_layer(w, &err), LG_OK);
        free(x);
    }
    int64_t lab[10] = {0, 1, 2, 0, 1, 2, 0, 1, 2, 9};
    assert_int_equal(lg_writer_labels(w, "labels", lab, 10, &err), LG_OK);
    assert_int_equal(lg_writer_close(w, &err), LG_OK);
    close(fd);
    return tu_read_file(p, len);
}

static int ingest(const unsigned char *p, size_t len, const char *store, lg_ingest_stats *st,
                  lg_error *err)
{
    unlink(store);
    lg_writer *w;
    assert_int_equal(lg_writer_create(store, NULL, &w, err), LG_OK);
    mem m = {p, len, 0};
    int rc = lg_ingest(mem_read, &m, w, st, err);
    lg_error e2;
    lg_writer_close(w, &e2);
    return rc;
}

static size_t layers_in(const char *store)
{
    lg_store *s;
    lg_error err;
    if (lg_store_open(store, 0, &s, &err))
        fail_msg("%s", err.msg);
    assert_null(lg_store_recovery(s)); /* what ingest keeps is committed, not recovered */
    size_t n = lg_store_layer_count(s);
    lg_store_close(s);
    return n;
}

static void stream_form_whole(void **state)
{
    (void)state;
    size_t len;
    unsigned char *p = make_stream(&len);
    const char *store = tu_path(tu_dir, "a.lgs");
    lg_ingest_stats st;
    lg_error err;
    if (ingest(p, len, store, &st, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(st.form, 1);
    assert_true(st.clean_end);
    assert_int_equal(st.layers, 3);
    assert_int_equal(st.bytes, len);
    lg_store *s;
    assert_int_equal(lg_store_open(store, 0, &s, &err), LG_OK);
    assert_int_equal(lg_store_layer_count(s), 3);
    lg_layer_info L;
    lg_store_layer(s, 1, &L);
    assert_string_equal(L.name, "h1");
    assert_int_equal(L.d, 6);
    lg_cursor *c;
    float got[60];
    float *want = rows_of(11, 10, 6);
    assert_int_equal(lg_cursor_open(s, 1, 10, &c, &err), LG_OK);
    assert_int_equal(lg_cursor_read(c, 0, 10, got, &err), LG_OK);
    assert_memory_equal(got, want, sizeof got);
    lg_cursor_close(c);
    free(want);
    const int64_t *lab;
    uint64_t n;
    assert_int_equal(lg_store_labels(s, "labels", &lab, &n, &err), LG_OK);
    assert_int_equal(lab[9], 9);
    assert_non_null(lg_store_meta(s, "model", NULL));
    lg_store_close(s);
    free(p);
}

static void stream_form_cut_anywhere(void **state)
{
    (void)state;
    size_t len;
    unsigned char *p = make_stream(&len);
    const char *store = tu_path(tu_dir, "cut.lgs");
    /* offsets where each seal ends: a cut after it keeps that layer */
    for (size_t k = 0; k < len; k += 7) {
        lg_ingest_stats st;
        lg_error err;
        int rc = ingest(p, k, store, &st, &err);
        assert_int_not_equal(rc, LG_OK);
        assert_false(st.clean_end);
        if (k >= 64 && !strstr(err.msg, "offset"))
            fail_msg("cut at %zu: message names no offset: %s", k, err.msg);
        assert_int_equal(layers_in(store), st.layers);
        /* what was lost is said in the input's terms, never an internal name */
        if (strstr(st.lost, "~incoming") || strstr(err.msg, "~incoming"))
            fail_msg("cut at %zu: an internal name in: %s / %s", k, st.lost, err.msg);
        if (st.lost[0] && strstr(st.lost, "incomplete layer") &&
            !strstr(st.lost, "with id"))
            fail_msg("cut at %zu: the lost layer is not identified: %s", k, st.lost);
    }
    free(p);
}

/* A batch-major stream: 3 layers, 4 batches of 5 rows with their labels.
 * The level points, where every layer and the labels hold the same rows:
 * at[i] is the stream offset where the record that made it level ends,
 * rows[i] those rows (*n_level of them). */
static unsigned char *make_batch_stream(size_t *len, float *x[3], size_t at[64],
                                        uint64_t rows[64], int with_labels[64], size_t *n_level)
{
    const char *p = tu_path(tu_dir, "b.lgsx");
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    lg_writer_opts o;
    lg_writer_opts_default(&o);
    o.chunk_rows = 3;
    lg_writer *w;
    lg_error err;
    assert_int_equal(lg_writer_stream(fd, &o, &w, &err), LG_OK);
    static const uint32_t dims[3] = {4, 6, 2};
    size_t h[3];
    for (int l = 0; l < 3; l++) {
        char name[8];
        snprintf(name, sizeof name, "h%d", l);
        x[l] = rows_of(30 + (uint64_t)l, 20, dims[l]);
        assert_int_equal(lg_writer_layer(w, name, dims[l], LG_F32, &h[l], &err), LG_OK);
    }
    for (int b = 0; b < 4; b++) {
        int64_t lab[5];
        for (int i = 0; i < 5; i++)
            lab[i] = 5 * b + i;
        for (int l = 0; l < 3; l++)
            assert_int_equal(lg_writer_add_rows(w, h[l], x[l] + 5 * b * dims[l], 5, &err), LG_OK);
        assert_int_equal(lg_writer_add_labels(w, "labels", lab, 5, &err), LG_OK);
        assert_int_equal(lg_writer_commit(w, &err), LG_OK); /* sends the batch */
    }
    assert_int_equal(lg_writer_close(w, &err), LG_OK);
    close(fd);
    unsigned char *bytes = tu_read_file(p, len);
    /* the level points, from the records as they come */
    mem m = {bytes, *len, 0};
    lg_stream *st;
    assert_int_equal(lg_stream_open(mem_read, &m, &st, &err), LG_OK);
    lg_stream_record r;
    uint64_t got[3] = {0, 0, 0}, labels = 0;
    int have_labels = 0;
    *n_level = 0;
    while (lg_stream_next(st, &r, &err) == LG_OK && r.type != 7) {
        if (r.type == 1)
            got[r.layer_id] += r.rows;
        if (r.type == 9) {
            labels += r.rows;
            have_labels = 1;
        }
        if (got[0] && got[0] == got[1] && got[1] == got[2] &&
            (!have_labels || labels == got[0]) &&
            (*n_level == 0 || rows[*n_level - 1] != got[0] || have_labels)) {
            assert_true(*n_level < 64);
            at[*n_level] = (size_t)lg_stream_offset(st);
            with_labels[*n_level] = have_labels;
            rows[(*n_level)++] = got[0];
        }
    }
    assert_int_equal(labels, 20);
    lg_stream_close(st);
    return bytes;
}

static void batch_stream_cut_anywhere(void **state)
{
    (void)state;
    size_t len, at[64], n_level;
    uint64_t level_rows[64];
    int with_labels[64];
    float *x[3];
    unsigned char *p = make_batch_stream(&len, x, at, level_rows, with_labels, &n_level);
    assert_true(n_level >= 4);
    const char *store = tu_path(tu_dir, "bcut.lgs");
    lg_writer_opts o;
    lg_writer_opts_default(&o);
    o.durable = 0;
    o.commit_seconds = 1e-9; /* at every level point */
    for (size_t k = 0; k <= len; k++) {
        unlink(store);
        lg_writer *w;
        lg_error err, e2;
        assert_int_equal(lg_writer_create(store, &o, &w, &err), LG_OK);
        mem m = {p, k, 0};
        lg_ingest_stats st;
        int rc = lg_ingest(mem_read, &m, w, &st, &err);
        lg_writer_close(w, &e2);
        assert_int_equal(rc == LG_OK, k == len);
        uint64_t want = 0;
        int want_labels = 0;
        for (size_t i = 0; i < n_level; i++)
            if (at[i] <= k) {
                want = level_rows[i];
                want_labels = with_labels[i];
            }
        lg_store *s;
        assert_int_equal(lg_store_open(store, 0, &s, &err), LG_OK);
        assert_null(lg_store_recovery(s));
        if (lg_store_rows(s) != want || lg_store_layer_count(s) != (want ? 3u : 0u))
            fail_msg("cut at %zu: %zu layers of %llu rows, expected %llu rows", k,
                     lg_store_layer_count(s), (unsigned long long)lg_store_rows(s),
                     (unsigned long long)want);
        static const uint32_t dims[3] = {4, 6, 2};
        for (size_t l = 0; want && l < 3; l++) {
            lg_cursor *c;
            float got[20 * 6];
            assert_int_equal(lg_cursor_open(s, l, 20, &c, &err), LG_OK);
            assert_int_equal(lg_cursor_read(c, 0, want, got, &err), LG_OK);
            assert_memory_equal(got, x[l], want * dims[l] * sizeof(float));
            lg_cursor_close(c);
        }
        /* before the first batch's labels came, a level point has none */
        assert_int_equal(lg_store_label_set_count(s) > 0, want_labels);
        if (want_labels) {
            const int64_t *lab;
            uint64_t n;
            assert_int_equal(lg_store_labels(s, "labels", &lab, &n, &err), LG_OK);
            assert_int_equal(n, want);
            assert_int_equal(lab[want - 1], (int64_t)want - 1);
        }
        lg_store_close(s);
    }
    for (int l = 0; l < 3; l++)
        free(x[l]);
    free(p);
}

/* Builds .npy frames in memory. */
typedef struct buf {
    unsigned char *p;
    size_t len, cap;
} buf;

static void put(buf *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void put_npy(buf *b, const char *descr, uint64_t n, uint32_t d, int one_dim,
                    const void *data, size_t bytes)
{
    const char *p = tu_path(tu_dir, "frame.npy");
    uint64_t shape[2] = {n, d};
    tu_write_npy(p, descr, 0, shape, one_dim ? 1 : 2, data, bytes);
    size_t len;
    unsigned char *f = tu_read_file(p, &len);
    put(b, f, len);
    free(f);
}

static void npy_frames(void **state)
{
    (void)state;
    buf b = {0};
    float *x = rows_of(1, 12, 5);
    put(&b, "LGNPY meta model=framed\n", 24);
    put(&b, "LGNPY layer=first\n", 18);
    put_npy(&b, "<f4", 7, 5, 0, x, 7 * 5 * 4);
    put(&b, "LGNPY layer=first\n", 18);
    put_npy(&b, "<f4", 5, 5, 0, x + 35, 5 * 5 * 4);
    put(&b, "LGNPY layer=second\n", 19); /* completes 'first' */
    double y[12];
    for (int i = 0; i < 12; i++)
        y[i] = i * 0.5;
    put_npy(&b, "<f8", 12, 1, 1, y, sizeof y);
    put(&b, "LGNPY end=second\n", 17);
    int32_t lab[12] = {1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, -3};
    put(&b, "LGNPY labels=labels\n", 20);
    put_npy(&b, "<i4", 12, 1, 1, lab, sizeof lab);
    size_t before_close = b.len;
    put(&b, "LGNPY close\n", 12);
    const char *store = tu_path(tu_dir, "f.lgs");
    lg_ingest_stats st;
    lg_error err;
    if (ingest(b.p, b.len, store, &st, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(st.form, 2);
    assert_true(st.clean_end);
    assert_int_equal(st.layers, 2);
    lg_store *s;
    assert_int_equal(lg_store_open(store, 0, &s, &err), LG_OK);
    lg_layer_info L;
    lg_store_layer(s, 0, &L);
    assert_string_equal(L.name, "first");
    assert_int_equal(L.n, 12);
    lg_cursor *c;
    float got[60];
    assert_int_equal(lg_cursor_open(s, 0, 12, &c, &err), LG_OK);
    assert_int_equal(lg_cursor_read(c, 0, 12, got, &err), LG_OK);
    assert_memory_equal(got, x, sizeof got);
    lg_cursor_close(c);
    lg_store_layer(s, 1, &L);
    assert_int_equal(L.dtype, LG_F64);
    const int64_t *l2;
    uint64_t n;
    assert_int_equal(lg_store_labels(s, "labels", &l2, &n, &err), LG_OK);
    assert_int_equal(l2[11], -3);
    size_t ml;
    assert_non_null(lg_store_meta(s, "model", &ml));
    assert_int_equal(ml, 6);
    lg_store_close(s);
    /* no close: both layers were completed, the input is reported as cut */
    assert_int_not_equal(ingest(b.p, before_close, store, &st, &err), LG_OK);
    assert_non_null(strstr(err.msg, "without 'LGNPY close'"));
    assert_int_equal(layers_in(store), 2);
    /* cut inside the first array: nothing kept, the loss is named */
    assert_int_not_equal(ingest(b.p, 100, store, &st, &err), LG_OK);
    assert_int_equal(layers_in(store), 0);
    /* a bad frame line */
    buf bad = {0};
    put(&bad, "LGNPY dance\n", 12);
    assert_int_equal(ingest(bad.p, bad.len, store, &st, &err), LG_EINPUT);
    assert_non_null(strstr(err.msg, "unknown frame"));
    /* rows of another width for the same layer */
    bad.len = 0;
    put(&bad, "LGNPY layer=a\n", 14);
    put_npy(&bad, "<f4", 2, 5, 0, x, 40);
    put(&bad, "LGNPY layer=a\n", 14);
    put_npy(&bad, "<f4", 2, 4, 0, x, 32);
    assert_int_equal(ingest(bad.p, bad.len, store, &st, &err), LG_EINPUT);
    assert_non_null(strstr(err.msg, "columns"));
    /* neither form */
    assert_int_equal(ingest((const unsigned char *)"hello world", 11, store, &st, &err),
                     LG_EINPUT);
    assert_non_null(strstr(err.msg, "neither"));
    free(bad.p);
    free(b.p);
    free(x);
}

/* The layers' content checksums in an 'info --json' text, concatenated. */
static void crcs_of(const char *json, char *out, size_t cap)
{
    for (const char *p = strstr(json, "\"content_crc32c\""); p;
         p = strstr(p + 1, "\"content_crc32c\""))
        snprintf(out + strlen(out), cap - strlen(out), "%.29s;", p);
}

static void cli_ingest_and_lock(void **state)
{
    (void)state;
    size_t len;
    unsigned char *p = make_stream(&len);
    const char *in = tu_path(tu_dir, "in.lgsx"), *store = tu_path(tu_dir, "cli.lgs");
    tu_write_file(in, p, len);
    unlink(store);
    assert_int_equal(tu_cli("ingest -o %s - < %s", store, in), 0);
    assert_non_null(strstr(tu_stdout(), "ingested 3 layers"));
    /* appending the same layers again: refused by name, the store intact */
    assert_int_equal(tu_cli("ingest --append -o %s %s", store, in), 2);
    assert_non_null(strstr(tu_stderr(), "keeps 3 layers of"));
    assert_int_equal(layers_in(store), 3);
    /* a cut input: the message says what is kept */
    tu_write_file(in, p, len - 200);
    const char *st2 = tu_path(tu_dir, "cut2.lgs");
    unlink(st2);
    assert_int_equal(tu_cli("ingest -o %s < %s", st2, in), 1);
    assert_non_null(strstr(tu_stderr(), "keeps 3 layers of"));
    /* a second writer is refused while one is at work */
    lg_writer *w;
    lg_error err;
    assert_int_equal(lg_writer_append(store, NULL, &w, &err), LG_OK);
    tu_write_file(in, p, len);
    assert_int_equal(tu_cli("ingest --append -o %s %s", store, in), 5);
    assert_non_null(strstr(tu_stderr(), "another process is writing"));
    lg_writer_abort(w);
    /* the stream form written by export --stream ingests to the same contents */
    const char *re = tu_path(tu_dir, "re.lgsx"), *back = tu_path(tu_dir, "back.lgs");
    unlink(back);
    assert_int_equal(tu_cli("export %s --stream -o %s", store, re), 0);
    assert_int_equal(tu_cli("ingest -q -o %s %s", back, re), 0);
    char a[4096] = "", b[4096] = "";
    assert_int_equal(tu_cli("info --json %s", store), 0);
    crcs_of(tu_stdout(), a, sizeof a);
    assert_int_equal(tu_cli("info --json %s", back), 0);
    crcs_of(tu_stdout(), b, sizeof b);
    assert_true(strlen(a) > 20);
    assert_string_equal(a, b); /* the same contents, however they were chunked */
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stream_form_whole),
        cmocka_unit_test(stream_form_cut_anywhere),
        cmocka_unit_test(batch_stream_cut_anywhere),
        cmocka_unit_test(npy_frames),
        cmocka_unit_test(cli_ingest_and_lock),
    };
    return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}

/* Writes that fail (ENOSPC, EIO, short writes) at every write or sync call
 * of an append, an ingest and a pack: the store afterwards opens with every
 * layer committed before the failure, the layers that were there before are
 * never damaged, and the error says what failed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "util/io.h"

#define N 40

static float *rows_of(uint64_t seed, size_t d)
{
    float *x = malloc(N * d * sizeof *x);
    for (size_t i = 0; i < N * d; i++)
        x[i] = (float)tu_normal(&seed);
    return x;
}

static void check_layer(lg_store *s, const char *name, const float *want, size_t d)
{
    long li = lg_store_find_layer(s, name);
    if (li < 0)
        fail_msg("layer %s missing", name);
    lg_cursor *c;
    lg_error err;
    float got[N * 8];
    assert_int_equal(lg_cursor_open(s, (size_t)li, N, &c, &err), LG_OK);
    if (lg_cursor_read(c, 0, N, got, &err) != LG_OK)
        fail_msg("layer %s unreadable: %s", name, err.msg);
    assert_memory_equal(got, want, N * d * sizeof(float));
    lg_cursor_close(c);
}

static int write_layer(lg_writer *w, const char *name, const float *x, size_t d, lg_error *err)
{
    int rc = lg_writer_begin_layer(w, name, (uint32_t)d, LG_F32, err);
    for (int part = 0; !rc && part < 4; part++)
        rc = lg_writer_rows(w, x + part * (N / 4) * d, N / 4, err);
    if (!rc)
        rc = lg_writer_end_layer(w, err);
    return rc;
}

static const int kinds[3][2] = {{ENOSPC, 0}, {EIO, 0}, {ENOSPC, 1}};

static void append_fails_anywhere(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir(), *path = tu_path(dir, "f.lgs");
    float *a = rows_of(1, 3), *b = rows_of(2, 5), *c = rows_of(3, 4), *d2 = rows_of(4, 2);
    lg_writer_opts o;
    lg_writer_opts_default(&o);
    o.chunk_rows = 7; /* several chunk records per layer */
    lg_writer *w;
    lg_error err;
    assert_int_equal(lg_writer_create(path, &o, &w, &err), LG_OK);
    assert_int_equal(write_layer(w, "a", a, 3, &err), LG_OK);
    assert_int_equal(write_layer(w, "b", b, 5, &err), LG_OK);
    assert_int_equal(lg_writer_close(w, &err), LG_OK);
    size_t base_len;
    unsigned char *base = tu_read_file(path, &base_len);
    for (int k = 0; k < 3; k++) {
        int failures = 0;
        for (uint64_t n = 1;; n++) {
            assert_int_equal(tu_write_file(path, base, base_len), 0);
            lgu_io_fail_at(n, kinds[k][0], kinds[k][1]);
            int rc = lg_writer_append(path, &o, &w, &err);
            int committed = 0; /* layers committed by this append */
            if (!rc) {
                rc = write_layer(w, "c", c, 4, &err);
                committed += !rc;
                int64_t lab[N];
                for (int i = 0; i < N; i++)
                    lab[i] = i % 3;
                if (!rc)
                    rc = lg_writer_labels(w, "labels", lab, N, &err);
                if (!rc)
                    rc = lg_writer_meta(w, "model", "m", 1, &err);
                if (!rc) {
                    rc = write_layer(w, "d", d2, 2, &err);
                    committed += !rc;
                }
                lg_error e2;
                int crc = lg_writer_close(w, rc ? &e2 : &err);
                if (!rc)
                    rc = crc;
            }
            uint64_t calls = lgu_io_calls();
            lgu_io_fail_at(0, 0, 0);
            if (!rc && calls < n)
                break; /* the whole run fitted before the n-th call: done */
            if (rc) {
                failures++;
                if (!strstr(err.msg, path) || !strstr(err.msg, strerror(kinds[k][0])))
                    fail_msg("call %llu: the message does not say what failed: %s",
                             (unsigned long long)n, err.msg);
            }
            lg_store *s;
            if (lg_store_open(path, 0, &s, &err) != LG_OK)
                fail_msg("call %llu (%s%s): the store no longer opens: %s",
                         (unsigned long long)n, strerror(kinds[k][0]),
                         kinds[k][1] ? ", short" : "", err.msg);
            check_layer(s, "a", a, 3);
            check_layer(s, "b", b, 5);
            if (lg_store_layer_count(s) < 2 + (size_t)committed)
                fail_msg("call %llu: a committed layer was lost", (unsigned long long)n);
            if (lg_store_find_layer(s, "c") >= 0)
                check_layer(s, "c", c, 4);
            if (lg_store_find_layer(s, "d") >= 0)
                check_layer(s, "d", d2, 2);
            /* the writer cut the file back to its last commit: the store is
             * clean, with no repair (#18 item 15) */
            if (rc && lg_store_recovery(s))
                fail_msg("call %llu: after the failure the store needs a repair: %s",
                         (unsigned long long)n, lg_store_recovery(s));
            lg_store_close(s);
            if (rc && lg_store_verify(path, NULL, NULL, &err))
                fail_msg("call %llu: after the failure the store does not verify: %s",
                         (unsigned long long)n, err.msg);
            /* and the next writer can carry on from there */
            assert_int_equal(lg_writer_append(path, &o, &w, &err), LG_OK);
            lg_writer_abort(w);
            char cmd[600];
            snprintf(cmd, sizeof cmd, "rm -f '%s'.tail-*", path);
            assert_int_equal(system(cmd), 0);
        }
        assert_true(failures > 10); /* every write and sync of the run was tried */
    }
    free(base);
    free(a);
    free(b);
    free(c);
    free(d2);
    tu_rmdir(dir);
}

typedef struct mem {
    const unsigned char *p;
    size_t len, pos;
} mem;

static long mem_read(void *ctx, void *buf, size_t len)
{
    mem *m = ctx;
    size_t k = m->len - m->pos < len ? m->len - m->pos : len;
    memcpy(buf, m->p + m->pos, k);
    m->pos += k;
    return (long)k;
}

static void ingest_and_pack_fail_anywhere(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir(), *path = tu_path(dir, "i.lgs"), *sp = tu_path(dir, "s.lgsx");
    float *a = rows_of(5, 3), *b = rows_of(6, 6);
    /* a stream of two layers */
    int fd = open(sp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    lg_writer_opts o;
    lg_writer_opts_default(&o);
    o.chunk_rows = 9;
    lg_writer *w;
    lg_error err;
    assert_int_equal(lg_writer_stream(fd, &o, &w, &err), LG_OK);
    assert_int_equal(write_layer(w, "a", a, 3, &err), LG_OK);
    assert_int_equal(write_layer(w, "b", b, 6, &err), LG_OK);
    assert_int_equal(lg_writer_close(w, &err), LG_OK);
    close(fd);
    size_t len;
    unsigned char *stream = tu_read_file(sp, &len);
    for (uint64_t n = 1;; n++) {
        unlink(path);
        lgu_io_fail_at(n, EIO, n % 2);
        int rc = lg_writer_create(path, &o, &w, &err);
        lg_ingest_stats st = {0};
        if (!rc) {
            mem m = {stream, len, 0};
            rc = lg_ingest(mem_read, &m, w, &st, &err);
            lg_error e2;
            int crc = lg_writer_close(w, rc ? &e2 : &err);
            if (!rc)
                rc = crc;
        }
        uint64_t calls = lgu_io_calls();
        lgu_io_fail_at(0, 0, 0);
        if (!rc && calls < n)
            break;
        if (access(path, F_OK) != 0) {
            assert_int_not_equal(rc, LG_OK); /* a create that failed leaves no file */
            continue;
        }
        lg_store *s;
        if (lg_store_open(path, 0, &s, &err) != LG_OK)
            fail_msg("ingest, call %llu: the store no longer opens: %s", (unsigned long long)n,
                     err.msg);
        if (lg_store_layer_count(s) < st.layers)
            fail_msg("ingest, call %llu: %llu layers committed, %zu found",
                     (unsigned long long)n, (unsigned long long)st.layers,
                     lg_store_layer_count(s));
        if (lg_store_find_layer(s, "a") >= 0)
            check_layer(s, "a", a, 3);
        if (lg_store_find_layer(s, "b") >= 0)
            check_layer(s, "b", b, 6);
        if (rc && lg_store_recovery(s))
            fail_msg("ingest, call %llu: after the failure the store needs a repair: %s",
                     (unsigned long long)n, lg_store_recovery(s));
        lg_store_close(s);
    }
    /* pack: import a .npy into a new store */
    const char *npy = tu_path(dir, "a.npy");
    uint64_t shape[2] = {N, 3};
    tu_write_npy(npy, "<f4", 0, shape, 2, a, N * 3 * sizeof(float));
    lg_source *src;
    assert_int_equal(lg_source_open_npy(npy, &src, &err), LG_OK);
    for (uint64_t n = 1;; n++) {
        unlink(path);
        lgu_io_fail_at(n, ENOSPC, 0);
        int rc = lg_writer_create(path, &o, &w, &err);
        if (!rc) {
            rc = lg_import_source(w, src, &err);
            lg_error e2;
            int crc = lg_writer_close(w, rc ? &e2 : &err);
            if (!rc)
                rc = crc;
        }
        uint64_t calls = lgu_io_calls();
        lgu_io_fail_at(0, 0, 0);
        if (!rc && calls < n)
            break;
        if (access(path, F_OK) != 0)
            continue;
        lg_store *s;
        if (lg_store_open(path, 0, &s, &err) != LG_OK)
            fail_msg("pack, call %llu: the store no longer opens: %s", (unsigned long long)n,
                     err.msg);
        if (lg_store_layer_count(s))
            check_layer(s, "a", a, 3);
        lg_store_close(s);
    }
    lg_source_close(src);
    free(stream);
    free(a);
    free(b);
    tu_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(append_fails_anywhere),
        cmocka_unit_test(ingest_and_pack_fail_anywhere),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Exact kNN shared by a team: members simulated by threads (the same calls
 * the MPI team makes, without MPI), so this runs in every build, under the
 * sanitizers too.  The lists of member 0 must equal one process's bit for
 * bit, with panels, odd tile sizes, ties and duplicates. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define MAX_P 4

typedef struct fake {
    int size;
    pthread_barrier_t bar;
    void *bufs[MAX_P];
} fake;

typedef struct matrix {
    const float *x;
    uint32_t d;
} matrix;

/* Rows through a callback, as from a store: then the budget makes panels. */
static int read_rows(void *ctx, uint64_t r0, size_t n, float *out, lg_error *err)
{
    (void)err;
    const matrix *m = ctx;
    memcpy(out, m->x + r0 * m->d, n * m->d * sizeof *out);
    return LG_OK;
}

typedef struct member {
    fake *f;
    lg_team team;
    const float *x;
    uint64_t n;
    uint32_t d;
    lg_knn_opts o;
    int via_rows;
    lg_knn out;
    int rc;
} member;

static int search(const float *x, uint64_t n, uint32_t d, int via_rows, const lg_knn_opts *o,
                  lg_knn *out, lg_error *err)
{
    matrix mx = {x, d};
    return via_rows ? lg_knn_exact(n, d, read_rows, &mx, o, out, err)
                    : lg_knn_exact_matrix(x, n, d, o, out, err);
}

static int f_merge(void *ctx, void *rows, size_t n, uint32_t kc, lg_error *err)
{
    (void)err;
    member *m = ctx;
    fake *f = m->f;
    f->bufs[m->team.rank] = rows;
    pthread_barrier_wait(&f->bar);
    /* member 0 reduces, in a scrambled order: the merge must not care */
    for (int r = f->size - 1; m->team.rank == 0 && r >= 1; r--)
        lg_knn_merge_rows(f->bufs[r], rows, n, kc);
    pthread_barrier_wait(&f->bar);
    return LG_OK;
}

static void *run_member(void *arg)
{
    member *m = arg;
    lg_error err;
    m->o.team = &m->team;
    m->rc = search(m->x, m->n, m->d, m->via_rows, &m->o, &m->out, &err);
    if (m->rc)
        print_error("member %d: %s\n", m->team.rank, err.msg);
    return NULL;
}

/* Runs a team of p on x and checks member 0 against one process. */
static void check_team(const float *x, uint64_t n, uint32_t d, lg_knn_opts o, int p,
                       int via_rows)
{
    lg_error err;
    lg_knn one;
    assert_int_equal(search(x, n, d, via_rows, &o, &one, &err), LG_OK);
    fake f = {.size = p};
    pthread_barrier_init(&f.bar, NULL, (unsigned)p);
    member m[MAX_P];
    pthread_t th[MAX_P];
    for (int r = 0; r < p; r++) {
        memset(&m[r], 0, sizeof m[r]);
        m[r].f = &f;
        m[r].team = (lg_team){.rank = r, .size = p, .ctx = &m[r], .merge = f_merge};
        m[r].x = x;
        m[r].n = n;
        m[r].d = d;
        m[r].o = o;
        m[r].via_rows = via_rows;
        assert_int_equal(pthread_create(&th[r], NULL, run_member, &m[r]), 0);
    }
    for (int r = 0; r < p; r++)
        pthread_join(th[r], NULL);
    pthread_barrier_destroy(&f.bar);
    for (int r = 0; r < p; r++)
        assert_int_equal(m[r].rc, LG_OK);
    for (int r = 1; r < p; r++)
        assert_null(m[r].out.idx); /* only member 0 gets the lists */
    lg_knn *t = &m[0].out;
    assert_non_null(t->idx);
    assert_memory_equal(t->idx, one.idx, n * o.k * sizeof *one.idx);
    assert_memory_equal(t->dist, one.dist, n * o.k * sizeof *one.dist);
    assert_int_equal(t->n_rescanned, one.n_rescanned);
    assert_int_equal(t->n_zero, one.n_zero);
    assert_int_equal(t->panels, one.panels);
    lg_knn_free(t);
    lg_knn_free(&one);
}

/* Points on a coarse integer grid (many exactly tied distances) with some
 * rows repeated (distance 0). */
static float *grid_data(uint64_t n, uint32_t d, uint64_t seed)
{
    float *x = malloc(n * d * sizeof *x);
    for (uint64_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < d; j++)
            x[i * d + j] = (float)(tu_rand(&seed) % 5);
    for (uint64_t i = 7; i < n; i += 13)
        memcpy(x + i * d, x + (i - 7) * d, d * sizeof *x);
    return x;
}

static float *gauss_data(uint64_t n, uint32_t d, uint64_t seed)
{
    float *x = malloc(n * d * sizeof *x);
    for (uint64_t i = 0; i < n * d; i++)
        x[i] = (float)tu_normal(&seed);
    return x;
}

static void test_team_equals_one_process(void **state)
{
    (void)state;
    uint64_t n = 900;
    uint32_t d = 6;
    float *g = grid_data(n, d, 3), *h = gauss_data(n, 40, 4);
    uint32_t tiles[] = {7, 64, 0};
    for (int p = 2; p <= MAX_P; p++)
        for (size_t t = 0; t < sizeof tiles / sizeof *tiles; t++) {
            lg_knn_opts o = {.k = 10, .threads = 2, .tile = tiles[t]};
            check_team(g, n, d, o, p, 0);
            o.k = 3;
            o.threads = 1;
            check_team(h, n, 40, o, p, 1);
        }
    free(g);
    free(h);
}

/* A budget far below the layer: several panels, each pair of panels split
 * over the team. */
static void test_team_with_panels(void **state)
{
    (void)state;
    uint64_t n = 3000;
    uint32_t d = 64;
    float *x = gauss_data(n, d, 9);
    lg_knn_opts o = {.k = 8, .threads = 2, .tile = 100, .memory = 1400u << 10};
    lg_knn probe;
    lg_error err;
    assert_int_equal(search(x, n, d, 1, &o, &probe, &err), LG_OK);
    assert_true(probe.panels >= 3);
    lg_knn_free(&probe);
    for (int p = 2; p <= 3; p++)
        check_team(x, n, d, o, p, 1);
    free(x);
}

/* The reduction keeps the kc smallest (value, row) in any order of merging. */
static void test_merge_any_order(void **state)
{
    (void)state;
    enum { KC = 6, ROWS = 50, P = 3 };
    typedef struct {
        float v;
        uint32_t j;
        double ed;
    } entry;
    entry in[P][ROWS * KC];
    uint64_t seed = 11;
    uint32_t next = 0;
    for (int p = 0; p < P; p++)
        for (int r = 0; r < ROWS; r++) {
            entry *e = in[p] + r * KC;
            int m = (int)(tu_rand(&seed) % (KC + 1)); /* some rows not full */
            for (int q = 0; q < KC; q++)
                e[q] = q < m ? (entry){(float)(tu_rand(&seed) % 4), next++, 1.0}
                             : (entry){INFINITY, 0xffffffffu, INFINITY};
            for (int a = 1; a < m; a++) /* sort by (v, j) */
                for (int b = a; b > 0 && (e[b].v < e[b - 1].v ||
                                          (e[b].v == e[b - 1].v && e[b].j < e[b - 1].j));
                     b--) {
                    entry s = e[b];
                    e[b] = e[b - 1];
                    e[b - 1] = s;
                }
        }
    entry a[ROWS * KC], b[ROWS * KC];
    memcpy(a, in[0], sizeof a); /* (0 + 1) + 2 */
    lg_knn_merge_rows(in[1], a, ROWS, KC);
    lg_knn_merge_rows(in[2], a, ROWS, KC);
    memcpy(b, in[2], sizeof b); /* (2 + 0) + 1 */
    lg_knn_merge_rows(in[0], b, ROWS, KC);
    lg_knn_merge_rows(in[1], b, ROWS, KC);
    assert_memory_equal(a, b, sizeof a);
    for (int r = 0; r < ROWS; r++) {
        /* the kept are the smallest of all three */
        for (int q = 1; q < KC; q++)
            assert_true(a[r * KC + q - 1].v <= a[r * KC + q].v);
        for (int p = 0; p < P; p++)
            for (int q = 0; q < KC; q++) {
                const entry *e = &in[p][r * KC + q];
                const entry *w = &a[r * KC + KC - 1];
                int kept = 0;
                for (int s = 0; s < KC; s++)
                    kept |= a[r * KC + s].j == e->j && e->j != 0xffffffffu;
                if (!kept && e->j != 0xffffffffu)
                    assert_true(e->v > w->v || (e->v == w->v && e->j > w->j));
            }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_team_equals_one_process),
        cmocka_unit_test(test_team_with_panels),
        cmocka_unit_test(test_merge_any_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

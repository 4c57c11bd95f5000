/* The ID of every group's own rows, per layer: per class (the labels), or
 * per cloud (a group per prompt: its tokens).  Rows are sorted by group
 * once per layer; each group is searched exactly on its own rows, read
 * through a cursor in runs of consecutive rows (the tokens of one prompt
 * usually are), so memory is one group's search, sized by the budget. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "layergeom/profile.h"
#include "profile/profile_int.h"
#include "util/error.h"

typedef struct keyed {
    int64_t key;
    uint64_t row;
} keyed;

static int cmp_keyed(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct group_rows {
    lg_cursor *cur;
    const keyed *rows; /* the group's rows, ascending */
    uint32_t d;
} group_rows;

/* Rows [r0, r0 + n) of the group, in runs of consecutive store rows. */
static int read_group(void *ctx, uint64_t r0, size_t n, float *out, lg_error *err)
{
    group_rows *g = ctx;
    size_t q = 0;
    while (q < n) {
        size_t run = 1;
        while (q + run < n && g->rows[r0 + q + run].row == g->rows[r0 + q].row + run)
            run++;
        int rc = lg_cursor_read(g->cur, g->rows[r0 + q].row, run, out, err);
        if (rc)
            return rc;
        out += run * g->d;
        q += run;
    }
    return LG_OK;
}

/* One group: its lists, TwoNN and GRIDE at the rank asked. */
static int one_group(lg_cursor *cur, const keyed *rows, uint64_t m, uint32_t d,
                     const lg_profile_opts *o, lg_group_result *g, int *ok, lg_error *err)
{
    uint32_t rank = o->group_rank;
    uint32_t k = rank > 2 ? rank : 2;
    g->key = rows[0].key;
    g->n = m;
    g->id = g->err = g->gride = g->gride_err = NAN;
    *ok = 0;
    if (m < (uint64_t)k + 1 || m < 3)
        return LG_OK; /* too small: counted as skipped */
    group_rows gr = {cur, rows, d};
    lg_knn_opts ko = {.k = k, .threads = o->threads, .memory = o->memory, .tile = o->tile,
                      .exclude_nonfinite = !o->nonfinite_fail, .stop = o->stop};
    lg_knn nn;
    int rc = lg_knn_exact(m, d, read_group, &gr, &ko, &nn, err);
    if (rc)
        return rc;
    lg_twonn_result t;
    lg_error e;
    if (lg_twonn(&nn, &o->twonn, &t, &e) == LG_OK) {
        g->id = t.id;
        g->err = t.bayes_std;
        *ok = 1;
    } else if (e.code != LG_EINPUT) {
        lg_knn_free(&nn);
        return lgu_fail(err, e.code, "%s", e.msg);
    }
    if (rank >= 2) {
        lg_gride_result gr2;
        if (lg_gride(&nn, rank, o->twonn.duplicates, &gr2, &e) == LG_OK) {
            for (int s = 0; s < gr2.scales; s++)
                if (gr2.n2[s] == rank) {
                    g->gride = gr2.id[s];
                    g->gride_err = gr2.err[s];
                }
        } else if (e.code != LG_EINPUT) {
            lg_knn_free(&nn);
            return lgu_fail(err, e.code, "%s", e.msg);
        }
    }
    lg_knn_free(&nn);
    return LG_OK;
}

/* numpy's default (linear) percentile of sorted values */
static double quantile(const double *s, uint64_t n, double q)
{
    if (!n)
        return NAN;
    double pos = q * (double)(n - 1);
    uint64_t lo = (uint64_t)floor(pos);
    if (lo + 1 >= n)
        return s[n - 1];
    return s[lo] + (pos - (double)lo) * (s[lo + 1] - s[lo]);
}

/* The quartiles of the finite values of one field of the groups (v: room
 * for every group). */
static void quartiles(const lg_layer_result *r, size_t field, double *v, double *q1,
                      double *median, double *q3)
{
    uint64_t m = 0;
    for (size_t q = 0; q < r->n_groups; q++) {
        double x = *(const double *)((const char *)&r->groups[q] + field);
        if (isfinite(x))
            v[m++] = x;
    }
    qsort(v, m, sizeof *v, cmp_double);
    *q1 = quantile(v, m, 0.25);
    *median = quantile(v, m, 0.5);
    *q3 = quantile(v, m, 0.75);
}

static void summarise(lg_layer_result *r)
{
    lg_groups_summary *S = &r->group_summary;
    double *v = malloc((r->n_groups ? r->n_groups : 1) * sizeof *v);
    if (!v) {
        S->q1 = S->median = S->q3 = S->gride_q1 = S->gride_median = S->gride_q3 = NAN;
        return;
    }
    quartiles(r, offsetof(lg_group_result, id), v, &S->q1, &S->median, &S->q3);
    quartiles(r, offsetof(lg_group_result, gride), v, &S->gride_q1, &S->gride_median,
              &S->gride_q3);
    free(v);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int lgp_groups(lg_store *s, size_t layer, const lg_profile_opts *o, lg_layer_result *r,
               lg_error *err)
{
    const int64_t *key = o->per_class ? o->labels : o->groups;
    if (!key)
        return o->per_class ? lgu_fail(err, LG_EUSAGE, "per-class ID needs labels") : LG_OK;
    double t0 = now();
    uint64_t n = r->n;
    keyed *rows = malloc((n ? n : 1) * sizeof *rows);
    if (!rows)
        return lgu_fail(err, LG_ENOMEM, "out of memory for the groups of %llu rows",
                        (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++)
        rows[i] = (keyed){key[i], i};
    qsort(rows, n, sizeof *rows, cmp_keyed);
    size_t count = 0;
    for (uint64_t i = 0; i < n; i++)
        count += i == 0 || rows[i].key != rows[i - 1].key;
    r->groups = calloc(count ? count : 1, sizeof *r->groups);
    lg_cursor *cur = NULL;
    int rc = r->groups ? lg_cursor_open(s, layer, 1, &cur, err)
                       : lgu_fail(err, LG_ENOMEM, "out of memory for %zu groups", count);
    memset(&r->group_summary, 0, sizeof r->group_summary);
    for (uint64_t i = 0; !rc && i < n;) {
        uint64_t j = i + 1;
        while (j < n && rows[j].key == rows[i].key)
            j++;
        lg_group_result *g = &r->groups[r->n_groups++];
        int ok;
        rc = one_group(cur, rows + i, j - i, r->d, o, g, &ok, err);
        if (ok) {
            r->group_summary.groups++;
            r->group_summary.rows += j - i;
        } else {
            r->group_summary.skipped++;
        }
        i = j;
    }
    lg_cursor_close(cur);
    free(rows);
    if (rc)
        return rc;
    summarise(r);
    r->group_summary.seconds = now() - t0;
    if (r->group_summary.skipped)
        lgp_note(r, "%llu of %zu %s had too few rows for an ID (fewer than %u) or only "
                    "duplicates",
                 (unsigned long long)r->group_summary.skipped, r->n_groups,
                 o->per_class ? "classes" : "groups",
                 o->group_rank > 2 ? o->group_rank + 1 : 3);
    return LG_OK;
}

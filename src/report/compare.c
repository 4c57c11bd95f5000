/*
 * Comparing profiles (any number: models, checkpoints, exact against
 * approximate) and stores (every layer of one against every layer of the
 * other): the text, JSON and HTML of `layergeom compare`.  Layers of
 * profiles with different depths are matched by relative depth; parameters
 * that make numbers incomparable are warned about.
 */
#include <math.h>
#include <string.h>

#include "layergeom/report.h"
#include "report/figures.h"
#include "report/plot.h"
#include "report/text.h"

/* The profile with the most layers: its depths head the table. */
static size_t reference(const lg_compare *c)
{
    size_t best = 0;
    for (size_t k = 1; k < c->n; k++)
        if (c->profiles[k]->n_layers > c->profiles[best]->n_layers)
            best = k;
    return best;
}

/* The spacing of a profile's layers in relative depth. */
static double spacing(const lg_profile *p)
{
    size_t L = p->store_layers > 1 ? p->store_layers : p->n_layers;
    return L > 1 ? 1.0 / (double)(L - 1) : 1;
}

/* The layer of p nearest to relative depth x of R, or -1 when p has none
 * within half a layer of either (a profile of fewer layers, or of a part of
 * its store, has no match there). */
int lgr_nearest_layer(const lg_profile *p, const lg_profile *R, double x)
{
    int best = -1;
    double gap = INFINITY;
    for (size_t q = 0; q < p->n_layers; q++) {
        double g = fabs(lgr_fig_depth(p, q) - x);
        if (g < gap - 1e-12) {
            gap = g;
            best = (int)q;
        }
    }
    double tol = 0.5 * fmax(spacing(p), spacing(R)) + 1e-9;
    return gap <= tol ? best : -1;
}

static const char *id_name(const lg_profile_opts *o)
{
    return o->paper ? "paper" : lg_id_kind_name(o->id_kind);
}

size_t lg_compare_warnings(const lg_compare *c, char (*out)[256], size_t cap)
{
    size_t n = 0;
    for (size_t k = 1; k < c->n && n < cap; k++) {
        const lg_profile *a = c->profiles[0], *b = c->profiles[k];
        const lg_profile_opts *x = &a->opts, *y = &b->opts;
        char A = 'A', B = (char)('A' + k);
        if (x->k != y->k && n < cap)
            snprintf(out[n++], 256, "%c has k = %u and %c k = %u: their overlaps are not "
                                    "comparable",
                     A, x->k, B, y->k);
        if ((x->paper != y->paper || x->id_kind != y->id_kind) && n < cap)
            snprintf(out[n++], 256, "%c uses the estimator %s and %c %s: their IDs are not "
                                    "the same quantity",
                     A, id_name(x), B, id_name(y));
        if (x->twonn.duplicates != y->twonn.duplicates && n < cap)
            snprintf(out[n++], 256, "%c %s duplicates and %c %s them", A,
                     x->twonn.duplicates == LG_DUP_DROP ? "drops" : "keeps", B,
                     y->twonn.duplicates == LG_DUP_DROP ? "drops" : "keeps");
        if (x->twonn.discard != y->twonn.discard && !x->paper && !y->paper && n < cap)
            snprintf(out[n++], 256, "%c discards %g of TwoNN's mu and %c %g", A,
                     x->twonn.discard, B, y->twonn.discard);
        uint64_t na = a->n_layers ? a->layers[0].n : 0, nb = b->n_layers ? b->layers[0].n : 0;
        if (na != nb && n < cap)
            snprintf(out[n++], 256, "%c has N = %llu and %c N = %llu: not the same inputs", A,
                     (unsigned long long)na, B, (unsigned long long)nb);
    }
    return n;
}

static void matrix_text(FILE *f, const char *title, const double *m, size_t la, size_t lb,
                        const char *na, const char *nb)
{
    fprintf(f, "  %s\n  %6s", title, "");
    for (size_t j = 0; j < lb; j++)
        fprintf(f, " %5s%-2zu", nb, j);
    fputc('\n', f);
    for (size_t i = 0; i < la; i++) {
        fprintf(f, "  %4s%-2zu", na, i);
        for (size_t j = 0; j < lb; j++) {
            double v = m[i * lb + j];
            if (isfinite(v))
                fprintf(f, " %7.3f", v);
            else
                fprintf(f, " %7s", "-");
        }
        fputc('\n', f);
    }
}

int lg_report_compare_text(FILE *f, const lg_compare *c)
{
    for (size_t k = 0; k < c->n; k++) {
        const lg_profile *p = c->profiles[k];
        fprintf(f, "%c: %s (%s): %zu layers, N = %llu, ID %s, k = %u\n", (char)('A' + k),
                c->names[k], c->sources[k], p->n_layers,
                p->n_layers ? (unsigned long long)p->layers[0].n : 0ULL, id_name(&p->opts),
                p->opts.k);
    }
    char warn[32][256];
    size_t nw = lg_compare_warnings(c, warn, 32);
    for (size_t w = 0; w < nw; w++)
        fprintf(f, "warning: %s\n", warn[w]);
    size_t ref = reference(c);
    const lg_profile *R = c->profiles[ref];
    fprintf(f, "\nID by relative depth (each profile's layer nearest to the depth of %c's):\n"
               "%6s",
            (char)('A' + ref), "depth");
    for (size_t k = 0; k < c->n; k++)
        fprintf(f, "   %c: layer      ID", (char)('A' + k));
    fputc('\n', f);
    for (size_t q = 0; q < R->n_layers; q++) {
        double x = lgr_fig_depth(R, q);
        fprintf(f, "%6.2f", x);
        for (size_t k = 0; k < c->n; k++) {
            int l = lgr_nearest_layer(c->profiles[k], R, x);
            if (l < 0) {
                fprintf(f, " %19s", "-");
                continue;
            }
            const lg_layer_result *r = &c->profiles[k]->layers[l];
            char safe[4 * LG_MAX_NAME + 8];
            fprintf(f, "   %-8.8s", lg_report_safe_name(r->name, safe, sizeof safe));
            if (isfinite(r->id))
                fprintf(f, " %7.2f", r->id);
            else
                fprintf(f, " %7s", "-");
        }
        fputc('\n', f);
    }
    fputc('\n', f);
    for (size_t k = 0; k < c->n; k++) {
        const lg_profile *p = c->profiles[k];
        if (p->rec.index >= 0)
            fprintf(f, "%c recommends layer %zu (%s) at depth %.2f\n", (char)('A' + k),
                    p->layers[p->rec.index].index, p->layers[p->rec.index].name,
                    lgr_fig_depth(p, (size_t)p->rec.index));
    }
    for (size_t x = 0; x < c->n_cross; x++) {
        const lg_cross *m = &c->cross[x];
        char na[4] = {(char)('A' + c->cross_a[x]), 0}, nb[4] = {(char)('A' + c->cross_b[x]), 0};
        fprintf(f, "\n%s against %s, every layer with every layer: %s\n", na, nb, m->identity);
        if (m->lb <= 12) {
            char t[160];
            snprintf(t, sizeof t, "overlap chi_%u(%s_i, %s_j):", m->k, na, nb);
            matrix_text(f, t, m->overlap, m->la, m->lb, na, nb);
            if (m->ii_ab) {
                snprintf(t, sizeof t, "information imbalance Delta(%s_i -> %s_j), k = %u:", na,
                         nb, m->ii_k);
                matrix_text(f, t, m->ii_ab, m->la, m->lb, na, nb);
                snprintf(t, sizeof t, "Delta(%s_j -> %s_i):", nb, na);
                matrix_text(f, t, m->ii_ba, m->la, m->lb, na, nb);
            }
        }
        fprintf(f, "  the layer of %s closest to each layer of %s (the highest overlap):\n", nb,
                na);
        for (size_t i = 0; i < m->la; i++) {
            size_t bj = 0;
            for (size_t j = 1; j < m->lb; j++)
                if (m->overlap[i * m->lb + j] > m->overlap[i * m->lb + bj])
                    bj = j;
            fprintf(f, "    %s%zu -> %s%zu: chi %.3f", na, i, nb, bj, m->overlap[i * m->lb + bj]);
            if (m->ii_ab)
                fprintf(f, ", Delta(->) %.3f, Delta(<-) %.3f", m->ii_ab[i * m->lb + bj],
                        m->ii_ba[i * m->lb + bj]);
            fputc('\n', f);
        }
    }
    return ferror(f) ? LG_EIO : LG_OK;
}

int lg_report_compare_json(FILE *f, const lg_compare *c)
{
    fprintf(f, "{\n  \"layergeom\": \"%s\",\n  \"profiles\": [", LG_VERSION_STRING);
    for (size_t k = 0; k < c->n; k++) {
        const lg_profile *p = c->profiles[k];
        fputs(k ? ",\n    {\"name\": " : "\n    {\"name\": ", f);
        lgr_text_json_string(f, c->names[k]);
        fputs(", \"source\": ", f);
        lgr_text_json_string(f, c->sources[k]);
        fprintf(f, ", \"n\": %llu, \"id\": \"%s\", \"k\": %u, \"layers\": [",
                p->n_layers ? (unsigned long long)p->layers[0].n : 0ULL, id_name(&p->opts),
                p->opts.k);
        for (size_t q = 0; q < p->n_layers; q++) {
            const lg_layer_result *r = &p->layers[q];
            fprintf(f, "%s{\"index\": %zu, \"name\": ", q ? ", " : "", r->index);
            lgr_text_json_string(f, r->name);
            fprintf(f, ", \"depth\": %.6g, \"id\": ", lgr_fig_depth(p, q));
            lgr_text_json_num(f, r->id);
            fputs(", \"err\": ", f);
            lgr_text_json_num(f, r->id_err);
            fputs("}", f);
        }
        fputs("], \"recommended_index\": ", f);
        if (p->rec.index >= 0)
            fprintf(f, "%zu", p->layers[p->rec.index].index);
        else
            fputs("null", f);
        fputs("}", f);
    }
    fputs("],\n  \"warnings\": [", f);
    char warn[32][256];
    size_t nw = lg_compare_warnings(c, warn, 32);
    for (size_t w = 0; w < nw; w++) {
        fputs(w ? ", " : "", f);
        lgr_text_json_string(f, warn[w]);
    }
    fputs("],\n  \"cross\": [", f);
    for (size_t x = 0; x < c->n_cross; x++) {
        const lg_cross *m = &c->cross[x];
        fprintf(f, "%s{\"a\": %zu, \"b\": %zu, \"identity\": ", x ? ",\n    " : "\n    ",
                c->cross_a[x], c->cross_b[x]);
        lgr_text_json_string(f, m->identity);
        fprintf(f, ", \"identity_checked\": %s, \"k\": %u, \"ii_k\": %u",
                m->identity_checked ? "true" : "false", m->k, m->ii_k);
        lgr_text_json_matrix(f, ", ", "overlap", m->overlap, m->la, m->lb, NULL);
        if (m->ii_ab) {
            lgr_text_json_matrix(f, ", ", "imbalance_ab", m->ii_ab, m->la, m->lb, NULL);
            lgr_text_json_matrix(f, ", ", "imbalance_ba", m->ii_ba, m->la, m->lb, NULL);
        }
        fputs("}", f);
    }
    fputs("]\n}\n", f);
    return ferror(f) ? LG_EIO : LG_OK;
}

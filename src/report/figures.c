/*
 * The figures of a profile, as SVG: the ID profile against relative depth,
 * the overlaps, GRIDE's ID across scales, and the layer-by-layer overlap
 * matrix.  Up to two profiles can be overlaid (layergeom compare).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report/figures.h"
#include "report/plot.h"

/* one colour per profile overlaid (up to 8) */
static const char *const colors[8] = {"#1f5fa8", "#d4600f", "#2a9d4b", "#7d3c98",
                                      "#8c564b", "#17becf", "#555555", "#bcbd22"};
#define MAX_OVERLAID 8

double lgr_fig_depth(const lg_profile *p, size_t q)
{
    size_t L = p->store_layers > 1 ? p->store_layers : p->n_layers;
    return L > 1 ? (double)p->layers[q].index / (double)(L - 1) : 0;
}

static void svg_open(FILE *f, double w, double h, const char *title)
{
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
            "viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Helvetica, Arial, "
            "sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
            "<text x=\"%.0f\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" "
            "font-weight=\"bold\">",
            w, h, w, h, w / 2);
    lgr_xml_text(f, title);
    fputs("</text>\n", f);
}

/* Layer indices along the top edge of a panel, when few enough to read:
 * which layer a point is, without a label over the data. */
static void layer_indices(FILE *f, const lgr_plot *pl, const lg_profile *p)
{
    if (p->n_layers > 32)
        return;
    int every = p->n_layers > 16 ? 2 : 1;
    for (size_t q = 0; q < p->n_layers; q += (size_t)every)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"9\" "
                   "fill=\"#777\">%zu</text>\n",
                lgr_plot_x(pl, lgr_fig_depth(p, q)), pl->top - 4, p->layers[q].index);
}

/* The ID panel: one curve per profile, error bars; the recommended layer
 * ringed, the first peak a triangle, the plateau a band (one profile); the
 * words in the legend, never over the data. */
static void id_panel(FILE *f, const lg_profile *const *ps, const char *const *names, int np,
                     double top, double w, double h)
{
    double ymin = INFINITY, ymax = -INFINITY;
    for (int k = 0; k < np; k++)
        for (size_t q = 0; q < ps[k]->n_layers; q++) {
            const lg_layer_result *r = &ps[k]->layers[q];
            double e = isfinite(r->id_err) ? r->id_err : 0;
            ymin = fmin(ymin, r->id - e);
            ymax = fmax(ymax, r->id + e);
        }
    if (!isfinite(ymin)) {
        ymin = 0;
        ymax = 1;
    }
    lgr_plot pl;
    /* a margin on both sides: markers of the first and last layer stay inside the frame */
    lgr_plot_begin(&pl, f, 70, top, w - 100, h, -0.04, 1.04, fmin(0, ymin), ymax * 1.08);
    lgr_plot_axes(&pl, "relative depth (layer index / last layer index)",
                 "intrinsic dimension");
    if (np == 1)
        layer_indices(f, &pl, ps[0]);
    const char *labels[MAX_OVERLAID];
    char text[MAX_OVERLAID][400];
    for (int k = 0; k < np; k++) {
        const lg_profile *p = ps[k];
        int n = (int)p->n_layers;
        double *x = malloc((n + 1) * sizeof *x), *y = malloc((n + 1) * sizeof *y),
               *e = malloc((n + 1) * sizeof *e);
        if (!x || !y || !e) {
            free(x);
            free(y);
            free(e);
            return;
        }
        for (int q = 0; q < n; q++) {
            x[q] = lgr_fig_depth(p, (size_t)q);
            y[q] = p->layers[q].id;
            e[q] = p->layers[q].id_err;
        }
        int rec = p->rec.index >= 0 && p->rec.index < n ? p->rec.index : -1;
        if (np == 1 && rec >= 0 && p->rec.plateau_first < p->rec.plateau_last) {
            double a = lgr_plot_x(&pl, x[p->rec.plateau_first]) - 6,
                   b = lgr_plot_x(&pl, x[p->rec.plateau_last]) + 6;
            fprintf(f, "<rect class=\"plateau\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                       "height=\"%.1f\" fill=\"#c0172b\" fill-opacity=\"0.07\"/>\n",
                    a, pl.top, b - a, pl.height);
        }
        lgr_plot_line(&pl, x, y, n, colors[k], 0);
        lgr_plot_errorbars(&pl, x, y, e, n, colors[k]);
        lgr_plot_points(&pl, x, y, n, colors[k]);
        if (p->rec.peak >= 0 && p->rec.peak < n && isfinite(y[p->rec.peak])) {
            double X = lgr_plot_x(&pl, x[p->rec.peak]), Y = lgr_plot_y(&pl, y[p->rec.peak]);
            fprintf(f, "<path class=\"peak\" d=\"M%.1f %.1fl7 -12h-14z\" fill=\"none\" "
                       "stroke=\"%s\" stroke-width=\"2\"/>\n",
                    X, Y - 8, colors[k]);
        }
        /* several profiles: "A: <name>", the name cut to fit a legend */
        size_t at = np > 1 ? (size_t)snprintf(text[k], sizeof text[k], "%c: %.40s%s",
                                              (char)('A' + k), names[k],
                                              strlen(names[k]) > 40 ? "..." : "")
                           : (size_t)snprintf(text[k], sizeof text[k], "%s", names[k]);
        if (rec >= 0 && isfinite(y[rec])) {
            double X = lgr_plot_x(&pl, x[rec]), Y = lgr_plot_y(&pl, y[rec]);
            fprintf(f,
                    "<circle class=\"recommended\" cx=\"%.1f\" cy=\"%.1f\" r=\"8\" "
                    "fill=\"none\" stroke=\"#c0172b\" stroke-width=\"2.5\"/>\n"
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#c0172b\" "
                    "stroke-dasharray=\"4 3\"/>\n",
                    X, Y, X, Y + 8, X, pl.top + pl.height);
            if (at < sizeof text[k]) /* one profile: its recommendation in words */
                snprintf(text[k] + at, sizeof text[k] - at,
                         np > 1 ? ", recommends layer %zu" : "; recommended: layer %zu (%s), ID %.1f",
                         p->layers[rec].index, p->layers[rec].name, y[rec]);
        }
        labels[k] = text[k];
        free(x);
        free(y);
        free(e);
    }
    lgr_plot_legend(&pl, labels, colors, NULL, np);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"#555\" "
               "text-anchor=\"end\">ring: recommended layer; triangle: first ID peak%s</text>\n",
            pl.left + pl.width, pl.top + pl.height + 48, np == 1 ? "; band: plateau" : "");
}

/* The overlap panel: chi with the previous layer (solid) and with the labels
 * (dashed), for each profile. */
static void overlap_panel(FILE *f, const lg_profile *const *ps, const char *const *names, int np,
                          double top, double w, double h)
{
    lgr_plot pl;
    lgr_plot_begin(&pl, f, 70, top, w - 100, h, -0.04, 1.04, 0, 1);
    char ylabel[64];
    snprintf(ylabel, sizeof ylabel, "neighbourhood overlap chi (k = %u)", ps[0]->opts.k);
    lgr_plot_axes(&pl, "relative depth (layer index / last layer index)", ylabel);
    const char *labels[3 * MAX_OVERLAID], *cols[3 * MAX_OVERLAID];
    int dashed[3 * MAX_OVERLAID], nl = 0;
    char text[3 * MAX_OVERLAID][160];
    for (int k = 0; k < np; k++) {
        const lg_profile *p = ps[k];
        int n = (int)p->n_layers, any_lab = 0;
        double *x = malloc((n + 1) * sizeof *x), *a = malloc((n + 1) * sizeof *a),
               *b = malloc((n + 1) * sizeof *b);
        if (!x || !a || !b) {
            free(x);
            free(a);
            free(b);
            return;
        }
        for (int q = 0; q < n; q++) {
            const lg_layer_result *r = &p->layers[q];
            x[q] = lgr_fig_depth(p, (size_t)q);
            a[q] = r->has_prev ? r->overlap_prev : NAN;
            b[q] = r->has_labels ? r->overlap_labels.unweighted : NAN;
            any_lab |= r->has_labels;
        }
        lgr_plot_line(&pl, x, a, n, colors[k], 0);
        lgr_plot_points(&pl, x, a, n, colors[k]);
        char who[4] = {(char)('A' + k), ':', ' ', 0};
        snprintf(text[nl], sizeof text[nl], "%schi(layer, previous layer)", np > 1 ? who : "");
        labels[nl] = text[nl];
        cols[nl] = colors[k];
        dashed[nl++] = 0;
        if (any_lab) {
            lgr_plot_line(&pl, x, b, n, colors[k], 1);
            lgr_plot_points(&pl, x, b, n, colors[k]);
            snprintf(text[nl], sizeof text[nl], "%schi(layer, labels)", np > 1 ? who : "");
            labels[nl] = text[nl];
            cols[nl] = colors[k];
            dashed[nl++] = 1;
        }
        if (p->matrix && n > 1) { /* chi with the last layer, from the matrix */
            for (int q = 0; q < n; q++)
                a[q] = p->matrix[(size_t)q * (size_t)n + (size_t)(n - 1)];
            lgr_plot_line(&pl, x, a, n, colors[k], 2);
            snprintf(text[nl], sizeof text[nl], "%schi(layer, last layer)", np > 1 ? who : "");
            labels[nl] = text[nl];
            cols[nl] = colors[k];
            dashed[nl++] = 2;
        }
        free(x);
        free(a);
        free(b);
    }
    lgr_plot_legend(&pl, labels, cols, dashed, nl);
}

void lgr_fig_main(FILE *f, const lg_profile *const *ps, const char *const *names, int np,
                 const char *caption)
{
    double w = 780, h = 700;
    char title[80];
    snprintf(title, sizeof title, np > 1 ? "Intrinsic dimension and overlaps: %d profiles"
                                         : "Intrinsic dimension and overlaps across layers",
             np);
    svg_open(f, w, h, title);
    id_panel(f, ps, names, np, 40, w, 300);
    overlap_panel(f, ps, names, np, 395, w, 230);
    /* the caption, wrapped at "; " into lines of at most 130 characters */
    char line[1400];
    size_t at = 0, n = 0;
    double y = h - 30;
    const char *c = caption;
    while (*c) {
        const char *semi = strstr(c, "; ");
        size_t piece = semi ? (size_t)(semi - c) + 2 : strlen(c);
        if (n && n + piece > 130) {
            line[n] = 0;
            fprintf(f, "<text x=\"20\" y=\"%.0f\" font-size=\"10\" fill=\"#555\">", y);
            lgr_xml_text(f, line);
            fputs("</text>\n", f);
            y += 13;
            n = 0;
        }
        if (n + piece < sizeof line) {
            memcpy(line + n, c, piece);
            n += piece;
        }
        c += piece;
        at++;
    }
    line[n] = 0;
    fprintf(f, "<text x=\"20\" y=\"%.0f\" font-size=\"10\" fill=\"#555\">", y);
    lgr_xml_text(f, line);
    fputs("</text>\n</svg>\n", f);
    (void)at;
}

/* A few layers to draw curves for: the first, the peak, the recommended
 * one, the last (distinct, in that order). */
static int pick_layers(const lg_profile *p, int pick[4])
{
    int np = 0, n = (int)p->n_layers;
    int cand[4] = {0, p->rec.peak, p->rec.index, n - 1};
    for (int c = 0; c < 4; c++) {
        int dup = cand[c] < 0 || cand[c] >= n;
        for (int q = 0; q < np && !dup; q++)
            dup = pick[q] == cand[c];
        if (!dup)
            pick[np++] = cand[c];
    }
    return np;
}

static const char *const pal[4] = {"#1f5fa8", "#2a9d4b", "#c0172b", "#7d3c98"};

static void pick_label(const lg_profile *p, int q, char *out, size_t cap)
{
    snprintf(out, cap, "layer %zu (%s)%s", p->layers[q].index, p->layers[q].name,
             q == p->rec.index ? ", recommended" : q == p->rec.peak ? ", peak" : "");
}

/* GRIDE's ID across scales for a few layers: against the neighbour rank n2
 * (with k*-GRIDE's diamonds), or against the distance scale rs. */
static void gride_figure(FILE *f, const lg_profile *p, int by_distance)
{
    int pick[4], np = pick_layers(p, pick);
    double xmin = INFINITY, xmax = -INFINITY, ymax = -INFINITY;
    for (int c = 0; c < np; c++) {
        const lg_layer_result *r = &p->layers[pick[c]];
        for (int s = 0; s < r->gride.scales; s++) {
            double x = by_distance ? log2(r->gride.rs[s]) : log2(r->gride.n2[s]);
            if (!isfinite(x) || (by_distance && !isfinite(r->gride.id[s])))
                continue;
            xmin = fmin(xmin, x);
            xmax = fmax(xmax, x);
            ymax = fmax(ymax, r->gride.id[s]);
        }
        if (!by_distance && r->has_kstar && isfinite(r->kstar.id)) {
            xmax = fmax(xmax, log2(r->kstar.kstar_mean));
            ymax = fmax(ymax, r->kstar.id);
        }
    }
    double w = 780, h = by_distance ? 380 : 400;
    svg_open(f, w, h,
             by_distance ? "ID against the distance scale (GRIDE)" : "ID across scales (GRIDE)");
    lgr_plot pl;
    if (by_distance && isfinite(xmin)) {
        xmin = floor(xmin);
        xmax = ceil(xmax);
    }
    lgr_plot_begin(&pl, f, 70, 40, w - 100, 280, isfinite(xmin) ? xmin : 0,
                  isfinite(xmax) ? xmax : 1, 0, isfinite(ymax) ? ymax * 1.1 : 1);
    pl.log2x = 1;
    lgr_plot_axes(&pl,
                  by_distance ? "distance scale: mean (r_n1 + r_n2) / 2 (log scale)"
                              : "neighbour rank n2 (log scale; the distance grows with it)",
                  "intrinsic dimension");
    const char *labels[4], *cols[4];
    char text[4][200];
    int any_kstar = 0;
    for (int c = 0; c < np; c++) {
        const lg_layer_result *r = &p->layers[pick[c]];
        const lg_gride_result *g = &r->gride;
        double x[LG_GRIDE_MAX_SCALES], y[LG_GRIDE_MAX_SCALES], e[LG_GRIDE_MAX_SCALES];
        for (int s = 0; s < g->scales; s++) {
            x[s] = by_distance ? (g->rs[s] > 0 ? log2(g->rs[s]) : NAN) : log2(g->n2[s]);
            y[s] = g->id[s];
            e[s] = g->err[s];
        }
        lgr_plot_line(&pl, x, y, g->scales, pal[c], 0);
        lgr_plot_errorbars(&pl, x, y, e, g->scales, pal[c]);
        lgr_plot_points(&pl, x, y, g->scales, pal[c]);
        if (!by_distance && r->has_kstar) { /* k*-GRIDE at the mean scale the rows chose */
            double kx = log2(r->kstar.kstar_mean), ky = r->kstar.id;
            lgr_plot_diamonds(&pl, &kx, &ky, 1, pal[c]);
            any_kstar = 1;
        }
        pick_label(p, pick[c], text[c], sizeof text[c]);
        labels[c] = text[c];
        cols[c] = pal[c];
    }
    lgr_plot_legend(&pl, labels, cols, NULL, np);
    fprintf(f, "<text x=\"20\" y=\"%.0f\" font-size=\"10\" fill=\"#555\">%s</text>\n",
            by_distance ? h - 12 : h - 24,
            by_distance ? "The same estimates placed at the distances they refer to: layers of "
                          "different scale side by side."
                        : "A flat curve: the ID does not depend on the scale; a falling one: "
                          "noise inflates the small-scale values.");
    if (any_kstar)
        fprintf(f, "<text x=\"20\" y=\"%.0f\" font-size=\"10\" fill=\"#555\">Diamonds: "
                   "k*-GRIDE, drawn at the mean scale k* its rows chose.</text>\n",
                h - 10);
    fputs("</svg>\n", f);
}

void lgr_fig_gride(FILE *f, const lg_profile *p)
{
    gride_figure(f, p, 0);
}

void lgr_fig_gride_scale(FILE *f, const lg_profile *p)
{
    gride_figure(f, p, 1);
}

void lgr_fig_decimation(FILE *f, const lg_profile *p)
{
    int pick[4], np = pick_layers(p, pick);
    double xmin = INFINITY, xmax = -INFINITY, ymax = -INFINITY;
    for (int c = 0; c < np; c++) {
        const lg_layer_result *r = &p->layers[pick[c]];
        for (int l = 0; l < r->n_dec; l++) {
            xmin = fmin(xmin, log2((double)r->dec_rows[l]));
            xmax = fmax(xmax, log2((double)r->dec_rows[l]));
            ymax = fmax(ymax, r->dec_id[l] + (isfinite(r->dec_err[l]) ? r->dec_err[l] : 0));
        }
    }
    double w = 780, h = 380;
    svg_open(f, w, h, "ID against the rows used (decimation)");
    lgr_plot pl;
    lgr_plot_begin(&pl, f, 70, 40, w - 100, 280, isfinite(xmin) ? xmin : 0,
                  isfinite(xmax) ? xmax : 1, 0, isfinite(ymax) ? ymax * 1.1 : 1);
    pl.log2x = 1;
    double ticks[LG_MAX_DECIMATION];
    const lg_layer_result *r0 = &p->layers[pick[0]];
    for (int l = 0; l < r0->n_dec; l++)
        ticks[l] = log2((double)r0->dec_rows[l]);
    pl.xticks = ticks;
    pl.n_xticks = r0->n_dec;
    lgr_plot_axes(&pl, "rows in each random subset (log scale)", "TwoNN intrinsic dimension");
    const char *labels[4], *cols[4];
    char text[4][200];
    for (int c = 0; c < np; c++) {
        const lg_layer_result *r = &p->layers[pick[c]];
        double x[LG_MAX_DECIMATION], y[LG_MAX_DECIMATION], e[LG_MAX_DECIMATION];
        for (int l = 0; l < r->n_dec; l++) {
            x[l] = log2((double)r->dec_rows[l]);
            y[l] = r->dec_id[l];
            e[l] = r->dec_err[l];
        }
        lgr_plot_line(&pl, x, y, r->n_dec, pal[c], 0);
        lgr_plot_errorbars(&pl, x, y, e, r->n_dec, pal[c]);
        lgr_plot_points(&pl, x, y, r->n_dec, pal[c]);
        pick_label(p, pick[c], text[c], sizeof text[c]);
        labels[c] = text[c];
        cols[c] = pal[c];
    }
    lgr_plot_legend(&pl, labels, cols, NULL, np);
    fprintf(f, "<text x=\"20\" y=\"%.0f\" font-size=\"10\" fill=\"#555\">Mean +- sem over up "
               "to 4 disjoint subsets. Flat: the estimate does not depend on the sample size; "
               "rising: more rows resolve more directions.</text>\n</svg>\n",
            h - 12);
}

/* Overlap 0..1 as a colour from pale to dark blue. */
static void ramp(double v, char *out, size_t cap)
{
    v = v < 0 ? 0 : v > 1 ? 1 : v;
    int r = (int)(247 - v * (247 - 8)), g = (int)(251 - v * (251 - 48)),
        b = (int)(255 - v * (255 - 107));
    snprintf(out, cap, "#%02x%02x%02x", r, g, b);
}

/* A layer-by-layer matrix as a heat map.  The colours span the
 * off-diagonal range (the diagonal, 1 for overlaps, would flatten them);
 * the bar has ticks; cells show their values when there are few.  dark_low:
 * small values are the similar ones (information imbalance), drawn dark like
 * large overlaps. */
static void heatmap(FILE *f, const lg_profile *pa, const lg_profile *pb, const double *m,
                    const char *title, const char *what, int dark_low)
{
    size_t L = pa->n_layers, LB = pb->n_layers, side_n = L > LB ? L : LB;
    int square = pa == pb;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t a = 0; a < L; a++)
        for (size_t b = 0; b < LB; b++)
            if ((!square || a != b) && isfinite(m[a * LB + b])) {
                lo = fmin(lo, m[a * LB + b]);
                hi = fmax(hi, m[a * LB + b]);
            }
    if (!(hi > lo)) {
        lo = isfinite(lo) ? lo - 0.5 : 0;
        hi = lo + 1;
    }
    double cell = side_n > 40 ? 12 : side_n > 20 ? 18 : side_n > 16 ? 28 : 40;
    double side = cell * (double)L, width = cell * (double)LB;
    double w = width + 230, h = side + 130;
    svg_open(f, w < 400 ? 400 : w, h, title);
    double x0 = 120, y0 = 40;
    char col[16];
    for (size_t a = 0; a < L; a++)
        for (size_t b = 0; b < LB; b++) {
            double v = m[a * LB + b], t = (v - lo) / (hi - lo);
            t = t < 0 ? 0 : t > 1 ? 1 : t;
            if (dark_low)
                t = 1 - t;
            if (isfinite(v))
                ramp(t, col, sizeof col);
            else
                snprintf(col, sizeof col, "#eeeeee");
            fprintf(f,
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
                    "<title>layers %zu and %zu: %.3f</title></rect>\n",
                    x0 + cell * (double)b, y0 + cell * (double)a, cell, cell, col,
                    pa->layers[a].index, pb->layers[b].index, v);
            if (side_n <= 16 && isfinite(v))
                fprintf(f,
                        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"10\" "
                        "fill=\"%s\">%.2f</text>\n",
                        x0 + cell * ((double)b + 0.5), y0 + cell * ((double)a + 0.5) + 3.5,
                        t > 0.55 ? "white" : "#222", v);
        }
    for (size_t a = 0; a < L; a++) {
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"10\">", x0 - 4,
                y0 + cell * ((double)a + 0.5) + 3);
        lgr_xml_text(f, pa->layers[a].name);
        fputs("</text>\n", f);
    }
    for (size_t b = 0; b < LB; b++)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"10\">%zu</text>\n",
                x0 + cell * ((double)b + 0.5), y0 + side + 14, pb->layers[b].index);
    /* the colour bar, with the values of five ticks */
    double bx = x0 + width + 20;
    for (int q = 0; q < 20; q++) {
        double t = (q + 0.5) / 20.0;
        ramp(dark_low ? 1 - t : t, col, sizeof col);
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"%.2f\" fill=\"%s\"/>\n",
                bx, y0 + side - side * (q + 1) / 20.0, side / 20.0 + 0.3, col);
    }
    for (int q = 0; q <= 4; q++) {
        double y = y0 + side - side * q / 4.0;
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>"
                "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\">%.3g</text>\n",
                bx + 14, y, bx + 18, y, bx + 21, y + 3.5, lo + (hi - lo) * q / 4.0);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">",
            x0 + width / 2, y0 + side + 34);
    lgr_xml_text(f, what);
    fputs("</text>\n</svg>\n", f);
}

void lgr_fig_heatmap(FILE *f, const lg_profile *p)
{
    if (!p->matrix || !p->n_layers)
        return;
    char what[160];
    snprintf(what, sizeof what, "layer index (chi at k = %u; colours span the off-diagonal range)",
             p->opts.k);
    heatmap(f, p, p, p->matrix, "Neighbourhood overlap between layers", what, 0);
}

void lgr_fig_ii_heatmap(FILE *f, const lg_profile *p)
{
    if (!p->ii_matrix || !p->n_layers)
        return;
    char what[200];
    snprintf(what, sizeof what,
             "row a, column b: Delta(a -> b), small when b predicts a's neighbours (k = %u)",
             p->opts.ii_k);
    heatmap(f, p, p, p->ii_matrix, "Information imbalance between layers", what, 1);
}

void lgr_fig_groups(FILE *f, const lg_profile *p)
{
    int per_class = p->opts.per_class;
    size_t L = p->n_layers, G = L ? p->layers[0].n_groups : 0;
    int curves = per_class && G <= 10; /* else the median and the quartile band */
    double ymax = 0;
    for (size_t q = 0; q < L; q++) {
        const lg_layer_result *r = &p->layers[q];
        for (size_t g = 0; curves && g < r->n_groups; g++)
            ymax = fmax(ymax, r->groups[g].id);
        if (!curves)
            ymax = fmax(ymax, r->group_summary.q3);
    }
    double w = 780, h = 380;
    svg_open(f, w, h, per_class ? "ID of each class's own rows" : "ID of each group's own rows");
    lgr_plot pl;
    lgr_plot_begin(&pl, f, 70, 40, w - 100, 280, 0, 1, 0, ymax > 0 ? ymax * 1.1 : 1);
    lgr_plot_axes(&pl, "relative depth (layer index / last layer index)", "intrinsic dimension");
    double *x = malloc((L ? L : 1) * 2 * sizeof *x);
    if (!x) {
        fputs("</svg>\n", f);
        return;
    }
    double *y = x + L;
    for (size_t q = 0; q < L; q++)
        x[q] = lgr_fig_depth(p, q);
    static const char *const many[10] = {"#1f5fa8", "#d4600f", "#2a9d4b", "#c0172b", "#7d3c98",
                                         "#8c564b", "#e377c2", "#555555", "#bcbd22", "#17becf"};
    if (curves) {
        const char *labels[10], *cols[10];
        char text[10][64];
        for (size_t g = 0; g < G; g++) {
            for (size_t q = 0; q < L; q++)
                y[q] = g < p->layers[q].n_groups ? p->layers[q].groups[g].id : NAN;
            lgr_plot_line(&pl, x, y, (int)L, many[g], 0);
            lgr_plot_points(&pl, x, y, (int)L, many[g]);
            snprintf(text[g], sizeof text[g], "class %lld", (long long)p->layers[0].groups[g].key);
            labels[g] = text[g];
            cols[g] = many[g];
        }
        lgr_plot_legend(&pl, labels, cols, NULL, (int)G);
    } else {
        /* the band between the quartiles, then the median over it */
        fputs("<polygon fill=\"#1f5fa8\" fill-opacity=\"0.18\" stroke=\"none\" points=\"", f);
        for (size_t q = 0; q < L; q++)
            if (isfinite(p->layers[q].group_summary.q3))
                fprintf(f, "%.1f,%.1f ", lgr_plot_x(&pl, x[q]),
                        lgr_plot_y(&pl, p->layers[q].group_summary.q3));
        for (size_t q = L; q-- > 0;)
            if (isfinite(p->layers[q].group_summary.q1))
                fprintf(f, "%.1f,%.1f ", lgr_plot_x(&pl, x[q]),
                        lgr_plot_y(&pl, p->layers[q].group_summary.q1));
        fputs("\"/>\n", f);
        for (size_t q = 0; q < L; q++)
            y[q] = p->layers[q].group_summary.median;
        lgr_plot_line(&pl, x, y, (int)L, many[0], 0);
        lgr_plot_points(&pl, x, y, (int)L, many[0]);
        const char *labels[1] = {per_class ? "median over classes (band: quartiles)"
                                           : "median over groups (band: quartiles)"};
        const char *cols[1] = {many[0]};
        lgr_plot_legend(&pl, labels, cols, NULL, 1);
    }
    free(x);
    fprintf(f, "<text x=\"20\" y=\"%.0f\" font-size=\"10\" fill=\"#555\">TwoNN on each %s's "
               "own rows, searched apart from the others (%zu %s).</text>\n</svg>\n",
            h - 12, per_class ? "class" : "group", G, per_class ? "classes" : "groups");
}

void lgr_fig_imbalance(FILE *f, const lg_profile *p)
{
    size_t L = p->n_layers;
    double ymax = 0;
    for (size_t q = 0; q < L; q++)
        if (p->layers[q].has_ii)
            ymax = fmax(ymax, fmax(p->layers[q].ii_from_prev.value, p->layers[q].ii_to_prev.value));
    double w = 780, h = 380;
    svg_open(f, w, h, "Information imbalance with the previous layer");
    lgr_plot pl;
    lgr_plot_begin(&pl, f, 70, 40, w - 100, 280, 0, 1, 0, ymax > 0 ? ymax * 1.15 : 1);
    lgr_plot_axes(&pl, "relative depth (layer index / last layer index)",
                 "information imbalance");
    double *x = malloc((L ? L : 1) * 3 * sizeof *x);
    if (x) {
        double *a = x + L, *b = a + L;
        for (size_t q = 0; q < L; q++) {
            const lg_layer_result *r = &p->layers[q];
            x[q] = lgr_fig_depth(p, q);
            a[q] = r->has_ii ? r->ii_from_prev.value : NAN;
            b[q] = r->has_ii ? r->ii_to_prev.value : NAN;
        }
        lgr_plot_line(&pl, x, a, (int)L, colors[0], 0);
        lgr_plot_points(&pl, x, a, (int)L, colors[0]);
        lgr_plot_line(&pl, x, b, (int)L, colors[1], 1);
        lgr_plot_points(&pl, x, b, (int)L, colors[1]);
        free(x);
    }
    const char *labels[2] = {"Delta(l-1 -> l): layer l predicts l-1's neighbours",
                             "Delta(l -> l-1): layer l-1 predicts l's"};
    const char *cols[2] = {colors[0], colors[1]};
    int dashed[2] = {0, 1};
    lgr_plot_legend(&pl, labels, cols, dashed, 2);
    fprintf(f, "<text x=\"20\" y=\"%.0f\" font-size=\"10\" fill=\"#555\">Glielmo et al. 2022, "
               "exact over all rows, k = %u. 0: the neighbourhoods are predicted perfectly; "
               "about 1: not at all.</text>\n</svg>\n",
            h - 12, p->opts.ii_k);
}

void lgr_fig_cross(FILE *f, const lg_cross *c, const lg_profile *pa, const lg_profile *pb,
                   const char *na, const char *nb, int which)
{
    if (pa->n_layers != c->la || pb->n_layers != c->lb)
        return; /* the profiles cover other layers than the matrices */
    char title[300], what[300];
    const double *m = which == 0 ? c->overlap : which == 1 ? c->ii_ab : c->ii_ba;
    if (!m)
        return;
    if (which == 0) {
        snprintf(title, sizeof title, "Overlap: %s (rows) against %s (columns)", na, nb);
        snprintf(what, sizeof what, "layer of %s (chi at k = %u)", nb, c->k);
    } else {
        snprintf(title, sizeof title, which == 1 ? "Delta(%s -> %s)" : "Delta(%s <- %s)", na, nb);
        snprintf(what, sizeof what,
                 which == 1 ? "layer of %s: small when it predicts the row layer's neighbours"
                            : "layer of %s: small when the row layer predicts its neighbours",
                 nb);
    }
    heatmap(f, pa, pb, m, title, what, which != 0);
}

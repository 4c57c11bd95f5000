/* The report a person reads: one self-contained HTML page (inline SVG, inline
 * style, no scripts, nothing fetched), and the main figure alone as SVG.
 * The page is well-formed XML, so tools can check it. */
#include <math.h>
#include <string.h>
#include <time.h>

#include "layergeom/report.h"
#include "report/figures.h"
#include "report/plot.h"

static void caption(const lg_profile *p, const lg_report_info *info, char *out, size_t cap)
{
    char date[32] = "";
    time_t t = time(NULL);
    struct tm tm;
    if (gmtime_r(&t, &tm))
        strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", &tm);
    const lg_profile_opts *o = &p->opts;
    char extra[64] = "";
    if (o->paper)
        ;
    else if (o->id_kind == LG_ID_GRIDE)
        snprintf(extra, sizeof extra, " at rank %u", o->gride_rank);
    else if (o->id_kind == LG_ID_TWONN)
        snprintf(extra, sizeof extra, ", discard %.2f", o->twonn.discard);
    else if (o->id_kind == LG_ID_KSTAR)
        snprintf(extra, sizeof extra, " (maxk %u, mean k* in the table)", o->kstar.maxk);
    snprintf(out, cap,
             "%s; %zu layers, N = %llu; ID: %s%s; k = %u; duplicates: %s; labels: %s; "
             "layergeom %s, %s",
             info && info->store_path ? info->store_path : "?", p->n_layers,
             p->n_layers ? (unsigned long long)p->layers[0].n : 0ULL,
             o->paper ? "TwoNN, paper protocol" : lg_id_kind_name(o->id_kind), extra, o->k,
             o->twonn.duplicates == LG_DUP_DROP ? "dropped" : "kept",
             info && info->labels_from ? info->labels_from : "none", LG_VERSION_STRING, date);
}

int lg_report_svg(FILE *f, const lg_profile *p, const lg_report_info *info)
{
    char cap[1024];
    caption(p, info, cap, sizeof cap);
    const lg_profile *ps[1] = {p};
    const char *names[1] = {"intrinsic dimension +- error"};
    lgr_fig_main(f, ps, names, 1, cap);
    return ferror(f) ? LG_EIO : LG_OK;
}

static void cell(FILE *f, int has, double v, const char *fmt)
{
    fputs("<td>", f);
    if (has && isfinite(v))
        fprintf(f, fmt, v);
    else
        fputs("&#8211;", f);
    fputs("</td>", f);
}

static void table(FILE *f, const lg_profile *p)
{
    int kstar = p->opts.id_kind == LG_ID_KSTAR && !p->opts.paper;
    fputs("<table>\n<tr><th>layer</th><th>name</th><th>D</th><th>ID</th><th>&#177;</th>", f);
    fputs(kstar ? "<th>mean k*</th><th>TwoNN ML</th>" : "<th>TwoNN ML</th>", f);
    const lg_gride_result *g0 = p->n_layers ? &p->layers[0].gride : NULL;
    for (int s = 0; g0 && s < g0->scales; s++)
        fprintf(f, "<th>GRIDE@%u</th>", g0->n2[s]);
    fputs("<th>&#967;(l, l&#8722;1)</th>", f);
    if (p->opts.ii_k)
        fputs("<th>&#916;(l&#8722;1 &#8594; l)</th><th>&#916;(l &#8594; l&#8722;1)</th>", f);
    fputs("<th>&#967;(l, labels)</th><th>duplicates</th>"
          "<th>seconds</th></tr>\n",
          f);
    for (size_t q = 0; q < p->n_layers; q++) {
        const lg_layer_result *r = &p->layers[q];
        fprintf(f, "<tr%s><td>%zu</td><td>", p->rec.index == (int)q ? " class=\"rec\"" : "",
                r->index);
        lgr_xml_text(f, r->name);
        fprintf(f, "</td><td>%u</td>", r->d);
        cell(f, 1, r->id, r->suspect ? "%.2f !" : "%.2f");
        cell(f, 1, r->id_err, "%.2f");
        if (kstar)
            cell(f, r->has_kstar, r->kstar.kstar_mean, "%.1f");
        cell(f, 1, r->twonn.id_ml, "%.2f");
        for (int s = 0; g0 && s < g0->scales; s++)
            cell(f, s < r->gride.scales, s < r->gride.scales ? r->gride.id[s] : NAN, "%.2f");
        cell(f, r->has_prev, r->overlap_prev, "%.3f");
        if (p->opts.ii_k) {
            cell(f, r->has_ii, r->ii_from_prev.value, "%.3f");
            cell(f, r->has_ii, r->ii_to_prev.value, "%.3f");
        }
        cell(f, r->has_labels, r->overlap_labels.unweighted, "%.3f");
        fprintf(f, "<td>%llu</td>", (unsigned long long)r->duplicates);
        cell(f, 1, r->seconds, "%.2f");
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

/* Every layer's note: why a number is missing or not to be trusted. */
static void notes(FILE *f, const lg_profile *p)
{
    int any = 0;
    for (size_t q = 0; q < p->n_layers; q++) {
        const lg_layer_result *r = &p->layers[q];
        if (!r->note[0])
            continue;
        if (!any)
            fputs("<h2>Notes</h2>\n<ul class=\"notes\">\n", f);
        any = 1;
        fprintf(f, "<li>layer %zu (", r->index);
        lgr_xml_text(f, r->name);
        fputs("): ", f);
        lgr_xml_text(f, r->note);
        fputs("</li>\n", f);
    }
    if (any)
        fputs("</ul>\n", f);
}

static void head(FILE *f, const char *title)
{
    fputs("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n"
          "<meta charset=\"utf-8\"/>\n<title>",
          f);
    lgr_xml_text(f, title);
    fputs("</title>\n<style>\n"
          "body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;max-width:1040px;"
          "margin:24px auto;color:#222;line-height:1.45}\n"
          "h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}\n"
          ".caption{color:#555;font-size:13px}.rec-box{background:#fdf1f2;border-left:4px solid "
          "#c0172b;padding:8px 12px}.warning{background:#fff6dd;border-left:4px solid "
          "#d4a00f;padding:8px 12px}.notes{font-size:13px}\n"
          "table{border-collapse:collapse;font-size:12px}td,th{padding:3px 7px;text-align:right;"
          "border-bottom:1px solid #eee}td:nth-child(2){text-align:left}tr.rec{background:#fdf1f2;"
          "font-weight:bold}\ntd.recl{font-weight:bold;color:#c0172b}\nsvg{max-width:100%;height:auto}\n"
          "</style>\n</head>\n<body>\n",
          f);
}

int lg_report_html(FILE *f, const lg_profile *p, const lg_report_info *info)
{
    char cap[1024], title[600];
    caption(p, info, cap, sizeof cap);
    snprintf(title, sizeof title, "layergeom profile: %s",
             info && info->store_path ? info->store_path : "");
    head(f, title);
    fputs("<h1>", f);
    lgr_xml_text(f, title);
    fputs("</h1>\n<p class=\"caption\">", f);
    if (info && info->model) {
        fputs("Model: ", f);
        lgr_xml_text(f, info->model);
        fputs(". ", f);
    }
    lgr_xml_text(f, cap);
    fputs("</p>\n", f);
    if (p->warning[0]) {
        fputs("<p class=\"warning\"><b>Warning:</b> ", f);
        lgr_xml_text(f, p->warning);
        fputs("</p>\n", f);
    }
    if (p->rec.index >= 0 && (size_t)p->rec.index < p->n_layers) {
        const lg_layer_result *r = &p->layers[p->rec.index];
        fprintf(f, "<p class=\"rec-box\"><b>Recommended layer: %zu (", r->index);
        lgr_xml_text(f, r->name);
        fputs(")</b>: ", f);
        lgr_xml_text(f, p->rec.reason);
        fputs(".", f);
        if (p->best_label_layer >= 0) {
            const lg_layer_result *b = &p->layers[p->best_label_layer];
            fprintf(f, " The highest overlap with the labels is at layer %zu (", b->index);
            lgr_xml_text(f, b->name);
            fprintf(f, ", &#967; = %.3f).", b->overlap_labels.unweighted);
        }
        fputs("</p>\n", f);
    }
    fputs("<h2>Intrinsic dimension and overlaps</h2>\n", f);
    const lg_profile *ps[1] = {p};
    const char *names[1] = {"intrinsic dimension +- error"};
    lgr_fig_main(f, ps, names, 1, cap);
    fputs("<h2>Across scales</h2>\n", f);
    lgr_fig_gride(f, p);
    lgr_fig_gride_scale(f, p);
    if (p->opts.ii_k && p->n_layers > 1) {
        fputs("<h2>Information imbalance between consecutive layers</h2>\n", f);
        lgr_fig_imbalance(f, p);
    }
    if (p->n_layers && p->layers[0].n_groups) {
        fputs(p->opts.per_class ? "<h2>Per class</h2>\n" : "<h2>Per group</h2>\n", f);
        lgr_fig_groups(f, p);
    }
    if (p->n_layers && p->layers[0].n_dec) {
        fputs("<h2>Against the number of rows</h2>\n", f);
        lgr_fig_decimation(f, p);
    }
    if (p->matrix) {
        fputs("<h2>Overlap between every pair of layers</h2>\n", f);
        lgr_fig_heatmap(f, p);
    }
    if (p->ii_matrix) {
        fputs("<h2>Information imbalance between every pair of layers</h2>\n", f);
        lgr_fig_ii_heatmap(f, p);
    }
    fputs("<h2>Numbers</h2>\n<div style=\"overflow-x:auto\">\n", f);
    table(f, p);
    fputs("</div>\n", f);
    notes(f, p);
    fputs("<h2>How to read this</h2>\n<p>The <b>intrinsic dimension</b> (ID) counts the "
          "directions in which the representations really vary, seen from each input's nearest "
          "neighbours. Across a transformer it typically rises, peaks, and falls to a low "
          "plateau; the layers at the minimum after the first peak carry the most abstract, "
          "semantic information, and are the recommended choice for downstream use "
          "(Valeriani et al. 2023). <b>&#967;(l, l&#8722;1)</b> is the fraction of each "
          "input's nearest neighbours kept from one layer to the next; <b>&#967;(l, "
          "labels)</b> the fraction that share its label. See docs/estimators.md for the "
          "exact definitions.</p>\n</body>\n</html>\n",
          f);
    return ferror(f) ? LG_EIO : LG_OK;
}

static void depth_table(FILE *f, const lg_compare *c)
{
    size_t ref = 0;
    for (size_t k = 1; k < c->n; k++)
        if (c->profiles[k]->n_layers > c->profiles[ref]->n_layers)
            ref = k;
    const lg_profile *R = c->profiles[ref];
    fputs("<table>\n<tr><th>depth</th>", f);
    for (size_t k = 0; k < c->n; k++) {
        fputs("<th>", f);
        lgr_xml_text(f, c->names[k]);
        fputs("</th><th>ID</th>", f);
    }
    fputs("</tr>\n", f);
    for (size_t q = 0; q < R->n_layers; q++) {
        double x = lgr_fig_depth(R, q);
        fprintf(f, "<tr><td>%.2f</td>", x);
        for (size_t k = 0; k < c->n; k++) {
            const lg_profile *p = c->profiles[k];
            int best = lgr_nearest_layer(p, R, x);
            if (best < 0) {
                fputs("<td>&#8211;</td><td>&#8211;</td>", f);
                continue;
            }
            const lg_layer_result *r = &p->layers[best];
            fprintf(f, "<td%s>", p->rec.index == best ? " class=\"recl\"" : "");
            lgr_xml_text(f, r->name);
            fputs("</td>", f);
            cell(f, 1, r->id, "%.2f");
        }
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

int lg_report_compare_page(FILE *f, const lg_compare *c, int html)
{
    char cap[1400];
    size_t at = 0;
    for (size_t k = 0; k < c->n && at < sizeof cap; k++)
        at += (size_t)snprintf(cap + at, sizeof cap - at, "%s%c: %s (%s)", k ? "; " : "",
                               (char)('A' + k), c->names[k], c->sources[k]);
    if (!html) {
        lgr_fig_main(f, c->profiles, c->names, (int)c->n, cap);
        return ferror(f) ? LG_EIO : LG_OK;
    }
    char title[300];
    snprintf(title, sizeof title, "layergeom: %zu profiles compared", c->n);
    head(f, title);
    fputs("<h1>", f);
    lgr_xml_text(f, title);
    fputs("</h1>\n<p class=\"caption\">", f);
    lgr_xml_text(f, cap);
    fputs(".</p>\n", f);
    char warn[32][256];
    size_t nw = lg_compare_warnings(c, warn, 32);
    for (size_t w = 0; w < nw; w++) {
        fputs("<p class=\"warning\"><b>Warning:</b> ", f);
        lgr_xml_text(f, warn[w]);
        fputs(".</p>\n", f);
    }
    for (size_t k = 0; k < c->n; k++) {
        const lg_profile *p = c->profiles[k];
        if (p->rec.index >= 0 && (size_t)p->rec.index < p->n_layers) {
            fputs("<p class=\"rec-box\"><b>", f);
            lgr_xml_text(f, c->names[k]);
            fprintf(f, " recommends layer %zu (", p->layers[p->rec.index].index);
            lgr_xml_text(f, p->layers[p->rec.index].name);
            fputs(")</b>: ", f);
            lgr_xml_text(f, p->rec.reason);
            fputs(".</p>\n", f);
        }
    }
    lgr_fig_main(f, c->profiles, c->names, (int)c->n, cap);
    fputs("<h2>Layers matched by relative depth</h2>\n<div style=\"overflow-x:auto\">\n", f);
    depth_table(f, c);
    fputs("</div>\n", f);
    for (size_t x = 0; x < c->n_cross; x++) {
        const lg_profile *pa = c->profiles[c->cross_a[x]], *pb = c->profiles[c->cross_b[x]];
        const char *na = c->names[c->cross_a[x]], *nb = c->names[c->cross_b[x]];
        fputs("<h2>", f);
        lgr_xml_text(f, na);
        fputs(" against ", f);
        lgr_xml_text(f, nb);
        fputs(", every layer with every layer</h2>\n<p class=\"caption\">", f);
        lgr_xml_text(f, c->cross[x].identity);
        fputs(".</p>\n", f);
        for (int w = 0; w < 3; w++)
            lgr_fig_cross(f, &c->cross[x], pa, pb, na, nb, w);
    }
    for (size_t k = 0; k < c->n; k++) {
        fputs("<h2>", f);
        lgr_xml_text(f, c->names[k]);
        fputs(": numbers</h2>\n<div style=\"overflow-x:auto\">\n", f);
        table(f, c->profiles[k]);
        fputs("</div>\n", f);
    }
    fputs("</body>\n</html>\n", f);
    return ferror(f) ? LG_EIO : LG_OK;
}

static int two(FILE *f, const lg_profile *a, const lg_profile *b, const char *name_a,
               const char *name_b, int html)
{
    const lg_profile *ps[2] = {a, b};
    const char *names[2] = {name_a, name_b};
    lg_compare c = {2, ps, names, names, NULL, NULL, NULL, 0};
    return lg_report_compare_page(f, &c, html);
}

int lg_report_compare_html(FILE *f, const lg_profile *a, const lg_profile *b,
                           const char *name_a, const char *name_b)
{
    return two(f, a, b, name_a, name_b, 1);
}

int lg_report_compare_svg(FILE *f, const lg_profile *a, const lg_profile *b, const char *name_a,
                          const char *name_b)
{
    return two(f, a, b, name_a, name_b, 0);
}

/* The profile as an aligned table for a terminal. */
#include <math.h>
#include <string.h>

#include "layergeom/report.h"

static void cell(FILE *f, int has, double v, const char *fmt, int width)
{
    if (has && isfinite(v))
        fprintf(f, fmt, width, v);
    else
        fprintf(f, "%*s", width, "-");
}

/* GRIDE scales a row has: from the first layer, or from the options. */
static int scales_of(const lg_profile *p, uint32_t *n2)
{
    if (p->n_layers) {
        for (int q = 0; q < p->layers[0].gride.scales; q++)
            n2[q] = p->layers[0].gride.n2[q];
        return p->layers[0].gride.scales;
    }
    uint32_t top = p->opts.gride_max_rank < p->k_lists ? p->opts.gride_max_rank : p->k_lists;
    int s = 0;
    for (uint32_t n1 = 1; 2 * n1 <= top && s < LG_GRIDE_MAX_SCALES; n1 *= 2)
        n2[s++] = 2 * n1;
    return s;
}

int lg_report_table_head(FILE *f, const lg_profile *p, const lg_report_info *info)
{
    const lg_profile_opts *o = &p->opts;
    fprintf(f, "%s%s%s\n", info && info->store_path ? info->store_path : "",
            info && info->model ? ", model: " : "", info && info->model ? info->model : "");
    const char *est = o->paper ? "TwoNN, paper protocol (discard 0.02, 4 subsets of N/32)"
                      : o->id_kind == LG_ID_ML    ? "TwoNN maximum likelihood"
                      : o->id_kind == LG_ID_GRIDE ? "GRIDE"
                                                  : "TwoNN (least squares)";
    fprintf(f, "ID: %s", est);
    if (o->id_kind == LG_ID_GRIDE && !o->paper)
        fprintf(f, " at rank %u", o->gride_rank);
    else if (!o->paper)
        fprintf(f, ", discard %.2f", o->twonn.discard);
    fprintf(f, "; overlaps at k = %u%s%s\n\n", o->k, info && info->labels_from ? "; labels: " : "",
            info && info->labels_from ? info->labels_from : "");
    uint32_t n2[LG_GRIDE_MAX_SCALES];
    int ns = scales_of(p, n2);
    fprintf(f, "%5s  %-16s %8s %6s %15s %7s", "layer", "name", "N", "D", "ID +- err", "ML");
    for (int q = 0; q < ns; q++) {
        char h[16];
        snprintf(h, sizeof h, "G@%u", n2[q]);
        fprintf(f, " %6s", h);
    }
    fprintf(f, " %9s %9s %6s %8s\n", "chi(l-1)", "chi(lab)", "dup", "seconds");
    return ferror(f) ? LG_EIO : LG_OK;
}

int lg_report_table_row(FILE *f, const lg_profile *p, size_t q)
{
    const lg_layer_result *r = &p->layers[q];
    uint32_t n2[LG_GRIDE_MAX_SCALES];
    int ns = scales_of(p, n2);
    char idbuf[40];
    if (isfinite(r->id))
        snprintf(idbuf, sizeof idbuf, "%.2f +- %.2f", r->id, r->id_err);
    else
        snprintf(idbuf, sizeof idbuf, "- (note)");
    fprintf(f, "%5zu  %-16.16s %8llu %6u %15s", r->index, r->name, (unsigned long long)r->n, r->d,
            idbuf);
    cell(f, 1, r->twonn.id_ml, " %*.2f", 7);
    for (int s = 0; s < ns; s++)
        cell(f, s < r->gride.scales, s < r->gride.scales ? r->gride.id[s] : NAN, " %*.2f", 6);
    cell(f, r->has_prev, r->overlap_prev, " %*.3f", 9);
    cell(f, r->has_labels, r->overlap_labels.unweighted, " %*.3f", 9);
    fprintf(f, " %6llu %8.2f", (unsigned long long)r->duplicates, r->seconds);
    fputs(p->rec.index == (int)q ? "  <- recommended\n" : "\n", f);
    fflush(f);
    return ferror(f) ? LG_EIO : LG_OK;
}

int lg_report_table_tail(FILE *f, const lg_profile *p)
{
    const lg_profile_opts *o = &p->opts;
    if (p->rec.index >= 0 && (size_t)p->rec.index < p->n_layers) {
        const lg_layer_result *r = &p->layers[p->rec.index];
        fprintf(f, "\nrecommended layer: %zu (%s): %s", r->index, r->name, p->rec.reason);
        if (p->rec.peak >= 0) /* name the peak layer by its store index */
            fprintf(f, " [peak: layer %zu (%s)]", p->layers[p->rec.peak].index,
                    p->layers[p->rec.peak].name);
        if (p->rec.plateau_first != p->rec.plateau_last)
            fprintf(f, " [plateau: layers %zu..%zu]", p->layers[p->rec.plateau_first].index,
                    p->layers[p->rec.plateau_last].index);
        fputc('\n', f);
    }
    if (p->best_label_layer >= 0) {
        const lg_layer_result *r = &p->layers[p->best_label_layer];
        fprintf(f, "highest label overlap: layer %zu (%s), chi = %.3f\n", r->index, r->name,
                r->overlap_labels.unweighted);
    }
    if (p->cache_hits)
        fprintf(f, "neighbour lists: %llu layers from the cache, %llu computed\n",
                (unsigned long long)p->cache_hits, (unsigned long long)p->knn_runs);
    for (size_t q = 0; q < p->n_layers; q++) {
        const lg_layer_result *r = &p->layers[q];
        if (r->nonfinite_rows)
            fprintf(f, "layer %zu (%s): %llu rows hold NaN or inf (the first: row %llu); they "
                       "were left out of this layer\n",
                    r->index, r->name, (unsigned long long)r->nonfinite_rows,
                    (unsigned long long)r->first_nonfinite);
        if (r->note[0])
            fprintf(f, "layer %zu (%s): %s\n", r->index, r->name, r->note);
        if (r->approx)
            fprintf(f, "layer %zu (%s): approximate kNN: recall@%u %.3f on %llu sampled rows; "
                       "TwoNN (ML, sample) off by %.1f%%; overlaps within %.3f\n",
                    r->index, r->name, p->k_lists, r->check.recall,
                    (unsigned long long)r->check.rows, 100 * r->check.twonn_rel_err,
                    r->check.overlap_err_bound);
    }
    uint64_t dups = 0;
    for (size_t q = 0; q < p->n_layers; q++)
        dups += p->layers[q].duplicates;
    if (dups)
        fprintf(f, "note: some rows have exact duplicates (column dup); they were %s the ID "
                   "estimates\n",
                o->twonn.duplicates == LG_DUP_DROP ? "left out of" : "kept in");
    return ferror(f) ? LG_EIO : LG_OK;
}

int lg_report_table(FILE *f, const lg_profile *p, const lg_report_info *info)
{
    int rc = lg_report_table_head(f, p, info);
    for (size_t q = 0; !rc && q < p->n_layers; q++)
        rc = lg_report_table_row(f, p, q);
    return rc ? rc : lg_report_table_tail(f, p);
}

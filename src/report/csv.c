/* The profile as CSV: one row per layer, fixed columns, then one column per
 * GRIDE scale. */
#include <math.h>

#include "layergeom/report.h"
#include "report/text.h"

static void num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, ",%.10g", v);
    else
        fputs(",", f);
}

int lg_report_csv(FILE *f, const lg_profile *p)
{
    fputs("index,name,n,d,depth,id,id_err,twonn,twonn_ml,twonn_bayes_mean,twonn_bayes_std,"
          "twonn_scale,overlap_prev,overlap_labels,overlap_labels_class_weighted,duplicates,"
          "recommended,seconds",
          f);
    const lg_gride_result *g0 = p->n_layers ? &p->layers[0].gride : NULL;
    for (int s = 0; g0 && s < g0->scales; s++)
        fprintf(f, ",gride_%u_%u", g0->n1[s], g0->n2[s]);
    const lg_profile_opts *o = &p->opts;
    for (size_t i = 0; i < o->n_more_k; i++)
        fprintf(f, ",overlap_prev_k%u,overlap_labels_k%u,overlap_labels_class_weighted_k%u",
                o->more_k[i], o->more_k[i], o->more_k[i]);
    /* decimation: the ID on subsets of N / 2^level rows, one pair per level */
    int levels = 0;
    for (size_t q = 0; q < p->n_layers; q++)
        levels = p->layers[q].n_dec > levels ? p->layers[q].n_dec : levels;
    for (int l = 0; l < levels; l++)
        fprintf(f, ",dec%d_rows,dec%d_id,dec%d_err", l, l, l);
    fputc('\n', f);
    size_t total = p->store_layers ? p->store_layers : p->n_layers;
    for (size_t q = 0; q < p->n_layers; q++) {
        const lg_layer_result *r = &p->layers[q];
        fprintf(f, "%zu,", r->index);
        lgr_text_csv_field(f, r->name);
        fprintf(f, ",%llu,%u", (unsigned long long)r->n, r->d);
        num(f, total > 1 ? (double)r->index / (double)(total - 1) : 0);
        num(f, r->id);
        num(f, r->id_err);
        num(f, r->twonn.id);
        num(f, r->twonn.id_ml);
        num(f, r->twonn.bayes_mean);
        num(f, r->twonn.bayes_std);
        num(f, r->twonn.scale);
        num(f, r->has_prev ? r->overlap_prev : NAN);
        num(f, r->has_labels ? r->overlap_labels.unweighted : NAN);
        num(f, r->has_labels ? r->overlap_labels.class_weighted : NAN);
        fprintf(f, ",%llu,%d", (unsigned long long)r->duplicates, p->rec.index == (int)q);
        num(f, r->seconds);
        for (int s = 0; g0 && s < g0->scales; s++)
            num(f, s < r->gride.scales ? r->gride.id[s] : NAN);
        for (size_t i = 0; i < o->n_more_k; i++) {
            num(f, r->has_prev ? r->overlap_prev_more[i] : NAN);
            num(f, r->has_labels ? r->overlap_labels_more[i].unweighted : NAN);
            num(f, r->has_labels ? r->overlap_labels_more[i].class_weighted : NAN);
        }
        for (int l = 0; l < levels; l++) {
            if (l < r->n_dec)
                fprintf(f, ",%llu", (unsigned long long)r->dec_rows[l]);
            else
                fputc(',', f);
            num(f, l < r->n_dec ? r->dec_id[l] : NAN);
            num(f, l < r->n_dec ? r->dec_err[l] : NAN);
        }
        fputc('\n', f);
    }
    return ferror(f) ? LG_EIO : LG_OK;
}

int lg_report_groups_csv(FILE *f, const lg_profile *p)
{
    fputs("layer,name,group,rows,id,err,gride,gride_err\n", f);
    for (size_t q = 0; q < p->n_layers; q++) {
        const lg_layer_result *r = &p->layers[q];
        for (size_t g = 0; g < r->n_groups; g++) {
            const lg_group_result *G = &r->groups[g];
            fprintf(f, "%zu,", r->index);
            lgr_text_csv_field(f, r->name);
            fprintf(f, ",%lld,%llu", (long long)G->key, (unsigned long long)G->n);
            num(f, G->id);
            num(f, G->err);
            num(f, G->gride);
            num(f, G->gride_err);
            fputc('\n', f);
        }
    }
    return ferror(f) ? LG_EIO : LG_OK;
}

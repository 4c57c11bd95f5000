/* The profile as JSON (docs/json-schema.md).  Numbers are printed with 17
 * significant digits so that two runs can be compared exactly. */
#include <math.h>
#include <string.h>

#include "layergeom/report.h"
#include "report/text.h"

static void num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.17g", v);
    else
        fputs("null", f);
}

/* `, "key": {"k": v}` -- how every overlap is keyed by its k. */
static void at_k(FILE *f, const char *key, unsigned k, double v)
{
    fprintf(f, "\"%s\": {\"%u\": ", key, k);
    num(f, v);
    fputs("}", f);
}

/* {"k": v, "k2": v2, ...}: k first (readers that take one value take it) */
static void at_ks(FILE *f, const char *key, const lg_profile_opts *o, double v,
                  const double *more, size_t stride)
{
    fprintf(f, "\"%s\": {\"%u\": ", key, o->k);
    num(f, v);
    for (size_t i = 0; i < o->n_more_k; i++) {
        fprintf(f, ", \"%u\": ", o->more_k[i]);
        num(f, *(const double *)((const char *)more + i * stride));
    }
    fputs("}", f);
}

static void gride_json(FILE *f, const lg_gride_result *g)
{
    const char *keys[3] = {"id", "err", "rs"};
    const double *vals[3] = {g->id, g->err, g->rs};
    fputs("{\"n1\": [", f);
    for (int s = 0; s < g->scales; s++)
        fprintf(f, "%s%u", s ? ", " : "", g->n1[s]);
    fputs("], \"n2\": [", f);
    for (int s = 0; s < g->scales; s++)
        fprintf(f, "%s%u", s ? ", " : "", g->n2[s]);
    fputs("]", f);
    for (int q = 0; q < 3; q++) {
        fprintf(f, ", \"%s\": [", keys[q]);
        for (int s = 0; s < g->scales; s++) {
            fputs(s ? ", " : "", f);
            num(f, vals[q][s]);
        }
        fputs("]", f);
    }
    fputs("}", f);
}

static void kstar_json(FILE *f, const lg_kstar_result *k)
{
    fputs(",\n     \"kstar\": {\"id\": ", f);
    num(f, k->id);
    fputs(", \"err\": ", f);
    num(f, k->err);
    fputs(", \"mean_kstar\": ", f);
    num(f, k->kstar_mean);
    fputs(", \"scale\": ", f);
    num(f, k->scale);
    fprintf(f, ", \"rounds\": %d, \"rows_used\": %llu, \"ids_by_round\": [", k->rounds,
            (unsigned long long)k->n_used);
    for (int q = 0; q <= k->rounds; q++) {
        fputs(q ? ", " : "", f);
        num(f, k->ids[q]);
    }
    fputs("]}", f);
}

/* The twins (near-duplicates) of a layer: counts and the widest pair. */
static void twins_json(FILE *f, const lg_layer_result *r)
{
    const lg_twins *t = &r->twins;
    fprintf(f, ",\n     \"twins\": {\"rows\": %llu, \"exact\": %llu, \"merged\": %llu, "
               "\"example\": ",
            (unsigned long long)t->rows, (unsigned long long)t->exact,
            (unsigned long long)t->removed);
    if (t->rows) {
        fprintf(f, "{\"rows\": [%u, %u], \"distance\": ", t->example[0], t->example[1]);
        num(f, t->example_dist);
        fputs("}", f);
    } else {
        fputs("null", f);
    }
    fprintf(f, "}, \"small_scale_rows\": %llu, \"median_r1\": ",
            (unsigned long long)r->small_scale_rows);
    num(f, r->median_r1);
}

/* Per class / per group: the distribution, and each group when they are
 * few (classes always; many clouds go to --groups-out). */
static void groups_json(FILE *f, const lg_profile *p, const lg_layer_result *r)
{
    const lg_groups_summary *S = &r->group_summary;
    fprintf(f, ",\n     \"groups\": {\"of\": \"%s\", \"count\": %zu, \"with_id\": %llu, "
               "\"skipped\": %llu, \"rows\": %llu, \"id\": {\"q1\": ",
            p->opts.per_class ? "class" : "group", r->n_groups, (unsigned long long)S->groups,
            (unsigned long long)S->skipped, (unsigned long long)S->rows);
    num(f, S->q1);
    fputs(", \"median\": ", f);
    num(f, S->median);
    fputs(", \"q3\": ", f);
    num(f, S->q3);
    fputs("}, \"gride\": ", f);
    if (p->opts.group_rank) {
        fprintf(f, "{\"n2\": %u, \"q1\": ", p->opts.group_rank);
        num(f, S->gride_q1);
        fputs(", \"median\": ", f);
        num(f, S->gride_median);
        fputs(", \"q3\": ", f);
        num(f, S->gride_q3);
        fputs("}", f);
    } else {
        fputs("null", f);
    }
    fputs(", \"seconds\": ", f);
    num(f, S->seconds);
    fputs(", \"each\": ", f);
    if (p->opts.per_class || r->n_groups <= 64) {
        fputs("[", f);
        for (size_t g = 0; g < r->n_groups; g++) {
            const lg_group_result *G = &r->groups[g];
            fprintf(f, "%s{\"key\": %lld, \"rows\": %llu, \"id\": ", g ? ", " : "",
                    (long long)G->key, (unsigned long long)G->n);
            num(f, G->id);
            fputs(", \"err\": ", f);
            num(f, G->err);
            fputs(", \"gride\": ", f);
            num(f, G->gride);
            fputs("}", f);
        }
        fputs("]}", f);
    } else {
        fputs("null}", f); /* see --groups-out */
    }
}

static void layer_json(FILE *f, const lg_profile *p, const lg_layer_result *r)
{
    unsigned k = p->opts.k;
    fprintf(f, "    {\"index\": %zu, \"id\": %u, \"name\": ", r->index, r->layer_id);
    lgr_text_json_string(f, r->name);
    fprintf(f, ", \"n\": %llu, \"d\": %u,\n     \"intrinsic_dimension\": {\"value\": ",
            (unsigned long long)r->n, r->d);
    num(f, r->id);
    fputs(", \"err\": ", f);
    num(f, r->id_err);
    fprintf(f, ", \"estimator\": \"%s\", \"suspect\": %s},\n     \"twonn\": {\"id\": ",
            p->opts.groups_only ? "median of the groups"
            : p->opts.paper     ? "paper"
                                : lg_id_kind_name(p->opts.id_kind),
            r->suspect ? "true" : "false");
    num(f, r->twonn.id);
    fputs(", \"err\": ", f);
    num(f, r->twonn.bayes_std);
    fputs(", \"bayes_mean\": ", f);
    num(f, r->twonn.bayes_mean);
    fputs(", \"scale\": ", f);
    num(f, r->twonn.scale);
    fprintf(f, ", \"rows_used\": %llu},\n     \"twonn_ml\": ",
            (unsigned long long)r->twonn.n_used);
    num(f, r->twonn.id_ml);
    fputs(",\n     \"gride\": ", f);
    gride_json(f, &r->gride);
    if (r->has_kstar)
        kstar_json(f, &r->kstar);
    fputs(",\n     ", f);
    const lg_profile_opts *o = &p->opts;
    if (r->has_prev)
        at_ks(f, "overlap_prev", o, r->overlap_prev, r->overlap_prev_more, sizeof(double));
    else
        fputs("\"overlap_prev\": null", f);
    if (o->ii_k) {
        fputs(",\n     \"imbalance_prev\": ", f);
        if (r->has_ii) {
            fprintf(f, "{\"k\": %u, \"from_prev\": ", o->ii_k);
            num(f, r->ii_from_prev.value);
            fputs(", \"to_prev\": ", f);
            num(f, r->ii_to_prev.value);
            static const char *by[] = {"rows", "search", "cache"};
            fprintf(f, ", \"ranks_counted\": %llu, \"from_prev_by\": \"%s\", "
                       "\"to_prev_by\": \"%s\", \"seconds\": ",
                    (unsigned long long)(r->ii_from_prev.counted + r->ii_to_prev.counted),
                    by[r->ii_from_by], by[r->ii_to_by]);
            num(f, r->ii_seconds);
            if (r->ii_sub_count) {
                fprintf(f, ", \"subsets\": {\"count\": %d, \"rows\": %llu, \"from_prev\": [",
                        r->ii_sub_count, (unsigned long long)r->ii_sub_rows);
                num(f, r->ii_sub_from_prev[0]);
                fputs(", ", f);
                num(f, r->ii_sub_from_prev[1]);
                fputs("], \"to_prev\": [", f);
                num(f, r->ii_sub_to_prev[0]);
                fputs(", ", f);
                num(f, r->ii_sub_to_prev[1]);
                fputs("]}", f);
            }
            fputs("}", f);
        } else {
            fputs("null", f);
        }
    }
    fputs(",\n     ", f);
    if (r->has_labels) {
        at_ks(f, "overlap_labels", o, r->overlap_labels.unweighted,
              &r->overlap_labels_more[0].unweighted, sizeof(lg_label_overlap));
        fputs(", ", f);
        at_ks(f, "overlap_labels_class_weighted", o, r->overlap_labels.class_weighted,
              &r->overlap_labels_more[0].class_weighted, sizeof(lg_label_overlap));
    } else {
        fputs("\"overlap_labels\": null", f);
    }
    if (p->matrix) {
        /* against the first and the last profiled layer, from the matrix */
        size_t q = (size_t)(r - p->layers), L = p->n_layers;
        fputs(",\n     ", f);
        at_k(f, "overlap_first", k, p->matrix[q * L]);
        fputs(", ", f);
        at_k(f, "overlap_last", k, p->matrix[q * L + L - 1]);
    }
    if (r->approx) {
        fprintf(f, ",\n     \"approx\": {\"check_rows\": %llu, \"recall\": ",
                (unsigned long long)r->check.rows);
        num(f, r->check.recall);
        fputs(", \"twonn_ml_sample_exact\": ", f);
        num(f, r->check.twonn_exact);
        fputs(", \"twonn_ml_sample_approx\": ", f);
        num(f, r->check.twonn_approx);
        fputs(", \"twonn_rel_err\": ", f);
        num(f, r->check.twonn_rel_err);
        fputs(", \"recall_se\": ", f);
        num(f, r->check.recall_se);
        fputs(", \"overlap_err_bound\": ", f);
        num(f, r->check.overlap_err_bound);
        if (r->check.rounds) {
            fputs(", \"recall_target\": ", f);
            num(f, r->check.target);
            fprintf(f, ", \"rounds\": %u, \"nprobe_first\": %u, \"nprobe\": %u, \"cells\": %u",
                    r->check.rounds, r->check.nprobe_first, r->check.nprobe, r->check.cells);
            fputs(", \"target_met\": ", f);
            fputs(r->check.note[0] ? "false" : "true", f);
        }
        fputs("}", f);
    }
    if (r->n_dec) {
        fputs(",\n     \"decimation\": [", f);
        for (int q = 0; q < r->n_dec; q++) {
            fprintf(f, "%s{\"rows\": %llu, \"subsets\": %d, \"id\": ", q ? ", " : "",
                    (unsigned long long)r->dec_rows[q], r->dec_repeats[q]);
            num(f, r->dec_id[q]);
            fputs(", \"err\": ", f);
            num(f, r->dec_err[q]);
            fputs("}", f);
        }
        fputs("]", f);
    }
    fprintf(f, ",\n     \"nonfinite_rows\": %llu", (unsigned long long)r->nonfinite_rows);
    if (r->nonfinite_rows)
        fprintf(f, ", \"first_nonfinite_row\": %llu", (unsigned long long)r->first_nonfinite);
    fputs(", \"note\": ", f);
    if (r->note[0])
        lgr_text_json_string(f, r->note);
    else
        fputs("null", f);
    fprintf(f, ",\n     \"duplicates\": %llu, \"knn\": {\"k\": %u, \"cached\": %s, "
               "\"incremental\": %s, \"grown_from\": %llu, \"rescanned_rows\": %llu, "
               "\"panels\": %llu, \"seconds\": ",
            (unsigned long long)r->duplicates, p->k_lists, r->cached ? "true" : "false",
            r->incremental ? "true" : "false", (unsigned long long)r->grown_from,
            (unsigned long long)r->rescanned,
            (unsigned long long)r->panels);
    num(f, r->knn_seconds);
    fputs("}", f);
    twins_json(f, r);
    if (p->opts.per_class || p->opts.groups)
        groups_json(f, p, r);
    fputs(", \"seconds\": ", f);
    num(f, r->seconds);
    fputs("}", f);
}

int lg_report_json(FILE *f, const lg_profile *p, const lg_report_info *info)
{
    const lg_profile_opts *o = &p->opts;
    fprintf(f, "{\n  \"layergeom\": \"%s\",\n  \"store\": ", LG_VERSION_STRING);
    lgr_text_json_string(f, info && info->store_path ? info->store_path : "");
    if (info && info->model) {
        fputs(",\n  \"model\": ", f);
        lgr_text_json_string(f, info->model);
    }
    fprintf(f, ",\n  \"store_layers\": %zu", p->store_layers);
    fprintf(f, ",\n  \"parameters\": {\"k\": %u, \"id\": \"%s\", \"twonn_discard\": %g", o->k,
            o->paper ? "paper" : lg_id_kind_name(o->id_kind), o->paper ? 0.02 : o->twonn.discard);
    if (o->n_more_k) { /* every k the overlaps are reported at, k first */
        fprintf(f, ", \"k_all\": [%u", o->k);
        for (size_t i = 0; i < o->n_more_k; i++)
            fprintf(f, ", %u", o->more_k[i]);
        fputs("]", f);
    }
    fprintf(f, ", \"gride_max_rank\": %u, \"gride_rank\": %u, \"duplicates\": \"%s\", "
               "\"labels\": ",
            o->gride_max_rank, o->gride_rank,
            o->twonn.duplicates == LG_DUP_DROP ? "drop" : "keep");
    if (info && info->labels_from)
        lgr_text_json_string(f, info->labels_from);
    else
        fputs("null", f);
    fprintf(f, ", \"class_fraction\": %g, \"recommend_tolerance\": %g", o->class_fraction, o->tol);
    fprintf(f, ", \"ii_k\": %u, \"ii_subsets\": %u", o->ii_k, o->ii_subsets);
    if (o->dup_tol_median > 0)
        fprintf(f, ", \"dup_tol\": \"%gx\"", o->dup_tol_median);
    else if (o->dup_tol >= 0)
        fprintf(f, ", \"dup_tol\": %g", o->dup_tol);
    else
        fputs(", \"dup_tol\": \"auto\"", f);
    if (o->per_class || o->groups)
        fprintf(f, ", \"groups\": \"%s\", \"group_rank\": %u, \"groups_only\": %s",
                o->per_class ? "per-class" : "given", o->group_rank,
                o->groups_only ? "true" : "false");
    if (o->id_kind == LG_ID_KSTAR)
        fprintf(f, ", \"kstar\": {\"maxk\": %u, \"rounds\": %d, \"alpha\": %g}", o->kstar.maxk,
                o->kstar.rounds, o->kstar.alpha);
    fprintf(f, ", \"decimation\": %s, \"min_subset\": %u, \"seed\": %llu},\n  \"warnings\": [",
            o->decimation ? "true" : "false", o->min_subset, (unsigned long long)o->seed);
    if (p->warning[0])
        lgr_text_json_string(f, p->warning);
    fputs("],\n  \"layers\": [\n", f);
    for (size_t q = 0; q < p->n_layers; q++) {
        layer_json(f, p, &p->layers[q]);
        fputs(q + 1 < p->n_layers ? ",\n" : "\n", f);
    }
    fputs("  ],\n  \"recommended_layer\": ", f);
    if (p->rec.index >= 0) {
        const lg_layer_result *r = &p->layers[p->rec.index];
        fprintf(f, "{\"index\": %zu, \"name\": ", r->index);
        lgr_text_json_string(f, r->name);
        fputs(", \"reason\": ", f);
        lgr_text_json_string(f, p->rec.reason);
        fprintf(f, ", \"peak_index\": ");
        if (p->rec.peak >= 0)
            fprintf(f, "%zu", p->layers[p->rec.peak].index);
        else
            fputs("null", f);
        fputs(", \"plateau\": [", f);
        for (int q = p->rec.plateau_first; q <= p->rec.plateau_last; q++)
            fprintf(f, "%s%zu", q > p->rec.plateau_first ? ", " : "", p->layers[q].index);
        fputs("]}", f);
    } else {
        fputs("null", f);
    }
    fputs(",\n  \"best_label_overlap_layer\": ", f);
    if (p->best_label_layer >= 0) {
        const lg_layer_result *r = &p->layers[p->best_label_layer];
        fprintf(f, "{\"index\": %zu, \"name\": ", r->index);
        lgr_text_json_string(f, r->name);
        fputs(", \"overlap\": ", f);
        num(f, r->overlap_labels.unweighted);
        fputs("}", f);
    } else {
        fputs("null", f);
    }
    if (p->matrix)
        lgr_text_json_matrix(f, ",\n  ", "overlap_matrix", p->matrix, p->n_layers, p->n_layers,
                             "    ");
    if (p->ii_matrix)
        lgr_text_json_matrix(f, ",\n  ", "imbalance_matrix", p->ii_matrix, p->n_layers,
                             p->n_layers, "    ");
    fprintf(f, ",\n  \"cache\": {\"knn_runs\": %llu, \"hits\": %llu},\n  \"seconds\": ",
            (unsigned long long)p->knn_runs, (unsigned long long)p->cache_hits);
    num(f, p->seconds);
    fputs("\n}\n", f);
    return ferror(f) ? LG_EIO : LG_OK;
}

const char *lg_id_kind_name(lg_id_kind k)
{
    switch (k) {
    case LG_ID_ML: return "ml";
    case LG_ID_GRIDE: return "gride";
    case LG_ID_KSTAR: return "kstar";
    default: return "twonn";
    }
}

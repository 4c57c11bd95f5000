/* The profile as an aligned table for a terminal. */
#include <math.h>
#include <string.h>

#include "layergeom/report.h"

static void cell(FILE *f, int has, double v, const char *fmt, int width)
{
    if (has && isfinite(v))
        fprintf(f, fmt, width, v);
    else
        fprintf(f, " %*s", width, "-"); /* every format starts with its space */
}

/* GRIDE scales a row has: from the first layer, or from the options. */
static int all_scales(const lg_profile *p, uint32_t *n2)
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

static int is_wide(const lg_report_info *info)
{
    return info && info->wide;
}

/* The GRIDE columns shown: every scale when wide, else n2 = 4, 16, 64 (n2
 * = 2 is TwoNN's ML estimate, the ID column's neighbour); pos[] says which
 * of the row's scales each column is. */
static int scales_of(const lg_profile *p, const lg_report_info *info, uint32_t *n2, int *pos)
{
    uint32_t all[LG_GRIDE_MAX_SCALES];
    int ns = all_scales(p, all), m = 0;
    for (int q = 0; q < ns; q++)
        if (is_wide(info) || all[q] == 16 || all[q] == 64) {
            n2[m] = all[q];
            pos[m++] = q;
        }
    return m;
}

/* A sentence wrapped to 100 columns, continuation lines indented. */
static void wrapped(FILE *f, const char *text)
{
    size_t col = 0, len = strlen(text);
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && text[j] != ' ')
            j++;
        size_t w = j - i;
        if (col && col + 1 + w > 100) {
            fputs("\n    ", f);
            col = 4;
        } else if (col) {
            fputc(' ', f);
            col++;
        }
        fwrite(text + i, 1, w, f);
        col += w;
        i = j;
        while (i < len && text[i] == ' ')
            i++;
    }
    fputc('\n', f);
}

int lg_report_table_head(FILE *f, const lg_profile *p, const lg_report_info *info)
{
    const lg_profile_opts *o = &p->opts;
    fprintf(f, "%s%s%s\n", info && info->store_path ? info->store_path : "",
            info && info->model ? ", model: " : "", info && info->model ? info->model : "");
    const char *est = o->groups_only ? "the median over the groups of TwoNN on each group's own "
                                       "rows (--groups-only: no search over the whole layer)"
                      : o->paper ? "TwoNN, paper protocol (discard 0.02, 4 subsets of N/32)"
                      : o->id_kind == LG_ID_ML    ? "TwoNN maximum likelihood"
                      : o->id_kind == LG_ID_GRIDE ? "GRIDE"
                      : o->id_kind == LG_ID_KSTAR ? "k*-GRIDE (a scale per row, chosen by the data)"
                                                  : "TwoNN (least squares)";
    char line[1400];
    size_t n = (size_t)snprintf(line, sizeof line, "ID: %s", est);
#define ADD(...)                                                                                   \
    do {                                                                                           \
        if (n < sizeof line)                                                                       \
            n += (size_t)snprintf(line + n, sizeof line - n, __VA_ARGS__);                         \
    } while (0)
    if (o->id_kind == LG_ID_GRIDE && !o->paper)
        ADD(" at rank %u", o->gride_rank);
    else if (o->id_kind == LG_ID_KSTAR && !o->paper)
        ADD(", maxk %u, %d rounds", o->kstar.maxk, o->kstar.rounds);
    else if (!o->paper)
        ADD(", discard %.2f", o->twonn.discard);
    ADD("; overlaps at k = %u", o->k);
    if (o->n_more_k) {
        ADD(" (also at k =");
        for (size_t i = 0; i < o->n_more_k; i++)
            ADD("%s %u", i ? "," : "", o->more_k[i]);
        ADD(" in the JSON and CSV)");
    }
    if (info && info->labels_from)
        ADD("; labels: %s", info->labels_from);
#undef ADD
    wrapped(f, line);
    fputc('\n', f);
    uint32_t n2[LG_GRIDE_MAX_SCALES];
    int pos[LG_GRIDE_MAX_SCALES];
    int ns = scales_of(p, info, n2, pos);
    fprintf(f, "%5s  %-16s %8s %5s %14s", "layer", "name", "N", "D", "ID +- err");
    if (o->id_kind == LG_ID_KSTAR && !o->paper)
        fprintf(f, " %5s", "k*");
    if (is_wide(info))
        fprintf(f, " %7s", "ML");
    for (int q = 0; q < ns; q++) {
        char h[16];
        snprintf(h, sizeof h, "G@%u", n2[q]);
        fprintf(f, " %6s", h);
    }
    fprintf(f, " %8s", "chi(l-1)");
    if (o->ii_k)
        fprintf(f, " %6s %6s", "II->", "II<-");
    fprintf(f, " %8s %5s", "chi(lab)", "dup");
    if (is_wide(info))
        fprintf(f, " %8s", "seconds");
    fputc('\n', f);
    return ferror(f) ? LG_EIO : LG_OK;
}

int lg_report_table_row(FILE *f, const lg_profile *p, const lg_report_info *info, size_t q)
{
    const lg_layer_result *r = &p->layers[q];
    uint32_t n2[LG_GRIDE_MAX_SCALES];
    int pos[LG_GRIDE_MAX_SCALES];
    int ns = scales_of(p, info, n2, pos);
    char idbuf[40];
    if (isfinite(r->id) && !isfinite(r->id_err)) /* a median of groups has no error bar */
        snprintf(idbuf, sizeof idbuf, "%.2f", r->id);
    else if (isfinite(r->id)) /* "!": a number the note says not to trust */
        snprintf(idbuf, sizeof idbuf, "%.2f +- %.2f%s", r->id, r->id_err, r->suspect ? " !" : "");
    else
        snprintf(idbuf, sizeof idbuf, "- (note)");
    char safe[4 * LG_MAX_NAME + 8];
    fprintf(f, "%5zu  %-16.16s %8llu %5u %14s", r->index,
            lg_report_safe_name(r->name, safe, sizeof safe), (unsigned long long)r->n, r->d, idbuf);
    if (p->opts.id_kind == LG_ID_KSTAR && !p->opts.paper)
        cell(f, r->has_kstar, r->kstar.kstar_mean, " %*.1f", 5);
    if (is_wide(info))
        cell(f, 1, r->twonn.id_ml, " %*.2f", 7);
    for (int c = 0; c < ns; c++) {
        int s = pos[c];
        cell(f, s < r->gride.scales, s < r->gride.scales ? r->gride.id[s] : NAN, " %*.2f", 6);
    }
    cell(f, r->has_prev, r->overlap_prev, " %*.3f", 8);
    if (p->opts.ii_k) {
        cell(f, r->has_ii, r->ii_from_prev.value, " %*.3f", 6);
        cell(f, r->has_ii, r->ii_to_prev.value, " %*.3f", 6);
    }
    cell(f, r->has_labels, r->overlap_labels.unweighted, " %*.3f", 8);
    fprintf(f, " %5llu", (unsigned long long)r->duplicates);
    if (is_wide(info))
        fprintf(f, " %8.2f", r->seconds);
    fputs(p->rec.index == (int)q ? " <- recommended\n" : "\n", f);
    fflush(f);
    return ferror(f) ? LG_EIO : LG_OK;
}

/* With --decimation: the ID on each subset size, one line per layer (the
 * sizes of the first layer head the columns; every layer has the same N). */
static void decimation_block(FILE *f, const lg_profile *p)
{
    int most = 0;
    for (size_t q = 0; q < p->n_layers; q++)
        most = p->layers[q].n_dec > most ? p->layers[q].n_dec : most;
    if (!most)
        return;
    const lg_layer_result *r0 = &p->layers[0];
    fprintf(f, "\ndecimation: TwoNN (mean +- sem over subsets) against the rows used\n%5s  %-16s",
            "layer", "name");
    for (int l = 0; l < most && l < r0->n_dec; l++) {
        char h[32];
        snprintf(h, sizeof h, "N=%llu", (unsigned long long)r0->dec_rows[l]);
        fprintf(f, " %13s", h);
    }
    fputc('\n', f);
    for (size_t q = 0; q < p->n_layers; q++) {
        const lg_layer_result *r = &p->layers[q];
        char safe[4 * LG_MAX_NAME + 8];
        fprintf(f, "%5zu  %-16.16s", r->index, lg_report_safe_name(r->name, safe, sizeof safe));
        for (int l = 0; l < r->n_dec; l++) {
            char c[40];
            if (isfinite(r->dec_id[l]))
                snprintf(c, sizeof c, "%.2f+-%.2f", r->dec_id[l], r->dec_err[l]);
            else
                snprintf(c, sizeof c, "-");
            fprintf(f, " %13s", c);
        }
        fputc('\n', f);
    }
}

/* Per class: a column per class (up to 8, else the quartiles); per group:
 * the distribution over groups. */
static void groups_block(FILE *f, const lg_profile *p)
{
    const lg_profile_opts *o = &p->opts;
    if (!(o->per_class || o->groups) || !p->n_layers)
        return;
    const lg_layer_result *r0 = &p->layers[0];
    int columns = o->per_class && r0->n_groups <= 8;
    fprintf(f, "\n%s: TwoNN on each %s's own rows\n%5s  %-16s", o->per_class ? "per class" : "groups",
            o->per_class ? "class" : "group", "layer", "name");
    if (columns) {
        for (size_t g = 0; g < r0->n_groups; g++) {
            char h[32];
            snprintf(h, sizeof h, "class %lld", (long long)r0->groups[g].key);
            fprintf(f, " %10s", h);
        }
    } else {
        fprintf(f, " %7s %7s %7s %7s %7s", "groups", "q1", "median", "q3", "skipped");
        if (o->group_rank)
            fprintf(f, "  G@%-4u %7s", o->group_rank, "median");
    }
    fputc('\n', f);
    for (size_t q = 0; q < p->n_layers; q++) {
        const lg_layer_result *r = &p->layers[q];
        const lg_groups_summary *S = &r->group_summary;
        char safe[4 * LG_MAX_NAME + 8];
        fprintf(f, "%5zu  %-16.16s", r->index, lg_report_safe_name(r->name, safe, sizeof safe));
        if (columns) {
            for (size_t g = 0; g < r->n_groups; g++)
                cell(f, 1, r->groups[g].id, " %*.2f", 10);
        } else {
            fprintf(f, " %7llu", (unsigned long long)S->groups);
            cell(f, 1, S->q1, " %*.2f", 7);
            cell(f, 1, S->median, " %*.2f", 7);
            cell(f, 1, S->q3, " %*.2f", 7);
            fprintf(f, " %7llu", (unsigned long long)S->skipped);
            if (o->group_rank)
                cell(f, 1, S->gride_median, " %*.2f", 14);
        }
        fputc('\n', f);
    }
}

int lg_report_table_tail(FILE *f, const lg_profile *p)
{
    if (p->opts.ii_k && p->n_layers > 1) {
        char line[300];
        snprintf(line, sizeof line,
                 "II-> = information imbalance Delta(l-1 -> l), II<- = Delta(l -> l-1), at k = "
                 "%u: near 0, one layer's neighbourhoods predict the other's",
                 p->opts.ii_k);
        fputc('\n', f);
        wrapped(f, line);
    }
    decimation_block(f, p);
    groups_block(f, p);
    if (p->warning[0]) {
        char line[600];
        snprintf(line, sizeof line, "warning: %s", p->warning);
        fputc('\n', f);
        wrapped(f, line);
    }
    char sn[4 * LG_MAX_NAME + 8], sp[4 * LG_MAX_NAME + 8];
#define SAFE(name) lg_report_safe_name((name), sn, sizeof sn)
    const lg_profile_opts *o = &p->opts;
    if (p->rec.index >= 0 && (size_t)p->rec.index < p->n_layers) {
        const lg_layer_result *r = &p->layers[p->rec.index];
        char line[1200];
        size_t n = (size_t)snprintf(line, sizeof line, "recommended layer: %zu (%s): %s",
                                    r->index, SAFE(r->name), p->rec.reason);
        if (p->rec.peak >= 0 && n < sizeof line) /* name the peak layer by its store index */
            n += (size_t)snprintf(line + n, sizeof line - n, " [peak: layer %zu (%s)]",
                                  p->layers[p->rec.peak].index, lg_report_safe_name(p->layers[p->rec.peak].name, sp, sizeof sp));
        if (p->rec.plateau_first != p->rec.plateau_last && n < sizeof line)
            snprintf(line + n, sizeof line - n, " [plateau: layers %zu..%zu]",
                     p->layers[p->rec.plateau_first].index, p->layers[p->rec.plateau_last].index);
        fputc('\n', f);
        wrapped(f, line);
    }
    if (p->best_label_layer >= 0) {
        const lg_layer_result *r = &p->layers[p->best_label_layer];
        fprintf(f, "highest label overlap: layer %zu (%s), chi = %.3f\n", r->index, SAFE(r->name),
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
                    r->index, SAFE(r->name), (unsigned long long)r->nonfinite_rows,
                    (unsigned long long)r->first_nonfinite);
        if (r->note[0])
            fprintf(f, "layer %zu (%s): %s\n", r->index, SAFE(r->name), r->note);
        if (r->approx) {
            char tuned[160] = "";
            if (r->check.rounds)
                snprintf(tuned, sizeof tuned, " (target %.2f: %u of %u cells probed, %u at first)",
                         r->check.target, r->check.nprobe, r->check.cells,
                         r->check.nprobe_first);
            fprintf(f, "layer %zu (%s): approximate kNN: recall@%u %.3f +- %.3f on %llu sampled "
                       "rows%s; TwoNN (ML, sample) off by %.1f%%; overlaps within %.3f\n",
                    r->index, SAFE(r->name), p->k_lists, r->check.recall, r->check.recall_se,
                    (unsigned long long)r->check.rows, tuned, 100 * r->check.twonn_rel_err,
                    r->check.overlap_err_bound);
        }
    }
    uint64_t dups = 0;
    for (size_t q = 0; q < p->n_layers; q++)
        dups += p->layers[q].duplicates;
    if (dups)
        fprintf(f, "note: some rows have twins (column dup: a neighbour within the duplicate "
                   "tolerance, --dup-tol); %s\n",
                o->twonn.duplicates == LG_DUP_DROP
                    ? "each group of twins counts as one row in the ID estimates"
                    : "they were kept in the ID estimates (--duplicates keep)");
#undef SAFE
    return ferror(f) ? LG_EIO : LG_OK;
}

int lg_report_table(FILE *f, const lg_profile *p, const lg_report_info *info)
{
    int rc = lg_report_table_head(f, p, info);
    for (size_t q = 0; !rc && q < p->n_layers; q++)
        rc = lg_report_table_row(f, p, info, q);
    return rc ? rc : lg_report_table_tail(f, p);
}

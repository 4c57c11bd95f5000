/*
 * layergeom/report.h -- a profile as text: an aligned table for people, JSON
 * and CSV for programs (docs/json-schema.md describes the JSON).  These write
 * only to the stream the caller gives them.
 */
#ifndef LAYERGEOM_REPORT_H
#define LAYERGEOM_REPORT_H

#include <stdio.h>

#include "layergeom/profile.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where the profile came from, for the reports' headers. */
typedef struct lg_report_info {
    const char *store_path;
    const char *labels_from; /* file or label set, or NULL */
    const char *model;       /* from the store's metadata, or NULL */
    int wide;                /* the table: every column (else it fits 120 columns: no ML,
                                which equals G@2, GRIDE at n2 = 4, 16, 64, no seconds) */
} lg_report_info;

LG_API int lg_report_table(FILE *f, const lg_profile *p, const lg_report_info *info);
/* The same table in three parts, for printing rows as layers complete. */
LG_API int lg_report_table_head(FILE *f, const lg_profile *p, const lg_report_info *info);
LG_API int lg_report_table_row(FILE *f, const lg_profile *p, const lg_report_info *info,
                               size_t q);
LG_API int lg_report_table_tail(FILE *f, const lg_profile *p);
LG_API int lg_report_json(FILE *f, const lg_profile *p, const lg_report_info *info);
LG_API int lg_report_csv(FILE *f, const lg_profile *p);
/* With per-class or groups: one CSV row per layer and group (layer, name,
 * group, rows, TwoNN id and err, GRIDE at the group rank and err). */
LG_API int lg_report_groups_csv(FILE *f, const lg_profile *p);

/* A self-contained HTML page (inline SVG figures: ID against relative depth
 * with error bars and the recommended layer, overlaps, GRIDE across scales,
 * the overlap matrix when computed; the table; a caption with the input,
 * parameters and date).  No scripts, nothing fetched. */
LG_API int lg_report_html(FILE *f, const lg_profile *p, const lg_report_info *info);
/* The main figure alone (ID profile above the overlaps) as SVG. */
LG_API int lg_report_svg(FILE *f, const lg_profile *p, const lg_report_info *info);
/* Two profiles overlaid (two models, or exact against approximate). */
LG_API int lg_report_compare_html(FILE *f, const lg_profile *a, const lg_profile *b,
                                  const char *name_a, const char *name_b);
LG_API int lg_report_compare_svg(FILE *f, const lg_profile *a, const lg_profile *b,
                                 const char *name_a,
                                 const char *name_b);
/* A comparison: n profiles (names for the legends, sources for the record)
 * and n_cross store-against-store matrices, the i-th between profiles
 * cross_a[i] and cross_b[i]. */
typedef struct lg_compare {
    size_t n;
    const lg_profile *const *profiles;
    const char *const *names;
    const char *const *sources;
    const lg_cross *cross;
    const size_t *cross_a, *cross_b;
    size_t n_cross;
} lg_compare;

/* The parameters that make the profiles' numbers incomparable (k, the
 * estimator, the duplicates policy, TwoNN's discard, N), as sentences. */
LG_API size_t lg_compare_warnings(const lg_compare *c, char (*out)[256], size_t cap);
/* The profiles side by side, layers matched by relative depth; each store
 * pair's matrices (up to 12 columns) and each layer's closest match. */
LG_API int lg_report_compare_text(FILE *f, const lg_compare *c);
LG_API int lg_report_compare_json(FILE *f, const lg_compare *c);
/* The profiles overlaid on one figure, the depth table, the matrices as
 * heat maps; html 0: the overlaid figure alone, as SVG. */
LG_API int lg_report_compare_page(FILE *f, const lg_compare *c, int html);

/* Reads a profile back from the JSON lg_report_json wrote (for compare).
 * The layers' names are owned by the profile (lg_profile_free). */
LG_API int lg_profile_load_json(const char *path, lg_profile *out, lg_error *err);

/* Names are data: a string as a JSON literal that is valid UTF-8 whatever
 * the bytes (stray bytes become U+FFFD, control characters \u escapes);
 * and a name made safe for a terminal (control characters and stray bytes
 * as \xNN), into buf. */
LG_API void lg_report_json_string(FILE *f, const void *s, size_t len);
LG_API const char *lg_report_safe_name(const char *name, char *buf, size_t cap);

/* The name of an ID estimator as the CLI and the JSON spell it. */
LG_API const char *lg_id_kind_name(lg_id_kind k);

#ifdef __cplusplus
}
#endif
#endif

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
} lg_report_info;

int lg_report_table(FILE *f, const lg_profile *p, const lg_report_info *info);
/* The same table in three parts, for printing rows as layers complete. */
int lg_report_table_head(FILE *f, const lg_profile *p, const lg_report_info *info);
int lg_report_table_row(FILE *f, const lg_profile *p, size_t q);
int lg_report_table_tail(FILE *f, const lg_profile *p);
int lg_report_json(FILE *f, const lg_profile *p, const lg_report_info *info);
int lg_report_csv(FILE *f, const lg_profile *p);

/* The name of an ID estimator as the CLI and the JSON spell it. */
const char *lg_id_kind_name(lg_id_kind k);

#ifdef __cplusplus
}
#endif
#endif

/*
 * layergeom/job.h -- a profile of a store described by named settings, with
 * the same policy as the command line: this is what `layergeom profile` and
 * the Python package run, so both give the same numbers for the same store.
 *
 * A job holds a store path and settings spelled as the command line's
 * options without their dashes ("k" = "30", "knn" = "approx", "memory" =
 * "2G", "labels" = "y.npy", ...).  lg_job_run then decides what a caller of
 * lg_profile_run would otherwise decide by hand:
 *
 *   - labels: the file given by "labels" (its length must be the store's N),
 *     else the label set named by "label-set", else the store's first label
 *     set, unless "no-labels" is set; or labels given with their count by
 *     lg_job_set_labels (the length is checked too);
 *   - the cache: STORE.lgcache beside the store, or the "cache" directory,
 *     or none with "no-cache";
 *   - the scratch directory of the approximate search: the store's own
 *     directory (a disk that holds data, not a RAM-backed /tmp), or "scratch";
 *   - layers: "layers" lists indices or names, comma-separated.
 *
 * Every setting is checked when it is set: LG_EUSAGE with a message naming
 * the setting and what it takes.  lg_job_setting_count / lg_job_setting
 * list them, with a line of help each.
 */
#ifndef LAYERGEOM_JOB_H
#define LAYERGEOM_JOB_H

#include <stdio.h>

#include "layergeom/profile.h"
#include "layergeom/report.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lg_job lg_job;

/* A job on the store at path (opened by lg_job_run, not here). */
LG_API int lg_job_create(const char *store_path, lg_job **out, lg_error *err);
LG_API void lg_job_free(lg_job *j);

/* Sets one setting.  Flags ("no-labels", "no-cache", "overlap-matrix",
 * "decimation") take "1" / "0" (also true/false, yes/no, on/off). */
LG_API int lg_job_set(lg_job *j, const char *key, const char *value, lg_error *err);

/* The settings a job knows: name, a placeholder for its value (NULL for a
 * flag) and its help (lines separated by '\n').  Returns 0 past the end. */
LG_API size_t lg_job_setting_count(void);
LG_API int lg_job_setting(size_t i, const char **name, const char **arg, const char **help);

/* Labels given by the caller, one per row (copied; n must equal the store's
 * rows when the job runs).  from names them in reports (may be NULL). */
LG_API int lg_job_set_labels(lg_job *j, const int64_t *labels, uint64_t n, const char *from,
                             lg_error *err);

/* The options the job will pass to lg_profile_run, for what settings do
 * not cover: callbacks, a team, a stop flag.  Settings set after this call
 * overwrite the fields they name. */
LG_API lg_profile_opts *lg_job_opts(lg_job *j);

/* A stop flag: when *stop becomes non-zero (another thread, a signal
 * handler), the run ends soon with LG_ECANCELED (lg_profile_opts.stop). */
LG_API void lg_job_set_stop(lg_job *j, const volatile int *stop);

/* A simple per-layer callback for bindings (no structs): after each layer,
 * its name, position (done of total) and the chosen ID. */
typedef void (*lg_job_layer_fn)(void *ctx, const char *name, size_t done, size_t total,
                                double id);
LG_API void lg_job_on_layer(lg_job *j, lg_job_layer_fn fn, void *ctx);

/* Opens the store, resolves labels, cache, scratch and layers, and profiles.
 * A job runs once.  When the store was recovered after a crash,
 * lg_job_warning says so; when the cache could not be used, too. */
LG_API int lg_job_run(lg_job *j, lg_error *err);

/* Follows the store while a producer writes it (lg_profile_follow) with
 * the same policy: labels from "labels", the caller, or the store's first
 * label set once it appears; the cache as above.  "layers" and "label-set"
 * do not apply.  Returns when the writer is done, or when *stop becomes
 * non-zero (the profile then holds what was done). */
LG_API int lg_job_follow(lg_job *j, double poll_seconds, volatile int *stop, lg_error *err);

/* After a successful run (and during lg_job_follow, from its callbacks):
 * the profile and where it came from. */
LG_API const lg_profile *lg_job_profile(const lg_job *j);
LG_API const lg_report_info *lg_job_info(const lg_job *j);
/* A sentence worth showing the user (recovered store, cache not used), or
 * NULL. */
LG_API const char *lg_job_warning(const lg_job *j);

/* The profile written as "table", "json", "csv", "html" or "svg", to a
 * stream, or to a malloc'd NUL-terminated string (free it with lg_free). */
LG_API int lg_job_report(const lg_job *j, const char *kind, FILE *f, lg_error *err);
LG_API int lg_job_report_string(const lg_job *j, const char *kind, char **out, size_t *len,
                                lg_error *err);

/* Frees memory the library gave the caller (lg_job_report_string). */
LG_API void lg_free(void *p);

/* Parses a size with an optional K, M, G or T suffix (powers of 1024, an
 * optional trailing B or iB): 0 on success. */
LG_API int lg_parse_size(const char *s, uint64_t *out);

/* sizeof of a public struct by its name ("lg_knn", "lg_knn_opts",
 * "lg_twonn_result", ...), 0 for an unknown name: bindings that mirror the
 * structs check their layout against the library they load. */
LG_API size_t lg_abi_sizeof(const char *type_name);

#ifdef __cplusplus
}
#endif
#endif

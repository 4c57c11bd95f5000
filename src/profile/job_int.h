/* The job's state, shared by job.c (its life: labels, directories, runs,
 * reports) and job_settings.c (settings by name).  Internal. */
#ifndef LG_PROFILE_JOB_INT_H
#define LG_PROFILE_JOB_INT_H

#include "layergeom/job.h"

struct lg_job {
    char *path;
    lg_profile_opts o;
    /* settings that need the store to resolve */
    char *labels_file, *label_set, *layers, *cache, *scratch;
    char *groups;          /* a label set of the store, or a file: each row's group */
    int64_t *group_keys;   /* loaded from a file; owned */
    int no_labels, no_cache;
    int64_t *labels; /* given by the caller or loaded; owned */
    uint64_t n_labels;
    int have_labels;
    char *labels_from_given;
    size_t *layer_list;
    lg_job_layer_fn on_layer;
    void *on_layer_ctx;
    /* after the run */
    lg_store *store;
    lg_profile p;
    int ran, following;
    char cache_dir[4200], scratch_dir[4200];
    char from[600], model[600];
    lg_report_info info;
    char warning[LG_ERROR_MSG_MAX + 64];
};

#endif

/* SVG figures of profiles (figures.c).  Internal. */
#ifndef LG_REPORT_FIGURES_H
#define LG_REPORT_FIGURES_H

#include <stdio.h>

#include "layergeom/profile.h"

/* Relative depth of the q-th profiled layer: store index / last store index. */
double lgr_fig_depth(const lg_profile *p, size_t q);
/* ID profile above the overlaps, for one or two profiles (names: legend). */
void lgr_fig_main(FILE *f, const lg_profile *const *ps, const char *const *names, int np,
                 const char *caption);
void lgr_fig_gride(FILE *f, const lg_profile *p);
/* Only with the information imbalance (opts.ii_k). */
void lgr_fig_imbalance(FILE *f, const lg_profile *p);
/* Only with per-class or groups. */
void lgr_fig_groups(FILE *f, const lg_profile *p);
/* Only when the profile has decimation. */
void lgr_fig_decimation(FILE *f, const lg_profile *p);
/* Only when the profile has an overlap matrix. */
void lgr_fig_heatmap(FILE *f, const lg_profile *p);
/* Only when the profile has an information imbalance matrix. */
void lgr_fig_ii_heatmap(FILE *f, const lg_profile *p);

#endif

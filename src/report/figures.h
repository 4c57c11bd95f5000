/* SVG figures of profiles (figures.c).  Internal. */
#ifndef LG_REPORT_FIGURES_H
#define LG_REPORT_FIGURES_H

#include <stdio.h>

#include "layergeom/profile.h"

/* The layer of p nearest to relative depth x of profile R, or -1 when none
 * is within half a layer (compare.c). */
int lgr_nearest_layer(const lg_profile *p, const lg_profile *R, double x);
/* Relative depth of the q-th profiled layer: store index / last store index. */
double lgr_fig_depth(const lg_profile *p, size_t q);
/* ID profile above the overlaps, for one or two profiles (names: legend). */
void lgr_fig_main(FILE *f, const lg_profile *const *ps, const char *const *names, int np,
                 const char *caption);
void lgr_fig_gride(FILE *f, const lg_profile *p);
/* GRIDE against the distance scale rs (the second view of the same numbers). */
void lgr_fig_gride_scale(FILE *f, const lg_profile *p);
/* Only with the information imbalance (opts.ii_k). */
void lgr_fig_imbalance(FILE *f, const lg_profile *p);
/* Only with per-class or groups. */
void lgr_fig_groups(FILE *f, const lg_profile *p);
/* Store against store (which: 0 overlap, 1 Delta(a -> b), 2 Delta(b -> a));
 * rows the layers of pa, columns those of pb. */
void lgr_fig_cross(FILE *f, const lg_cross *c, const lg_profile *pa, const lg_profile *pb,
                   const char *na, const char *nb, int which);
/* Only when the profile has decimation. */
void lgr_fig_decimation(FILE *f, const lg_profile *p);
/* Only when the profile has an overlap matrix. */
void lgr_fig_heatmap(FILE *f, const lg_profile *p);
/* Only when the profile has an information imbalance matrix. */
void lgr_fig_ii_heatmap(FILE *f, const lg_profile *p);

#endif

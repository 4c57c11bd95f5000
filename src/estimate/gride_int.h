/* The GRIDE likelihood solver, shared by GRIDE at fixed scales (gride.c) and
 * k*-GRIDE (kstar.c). */
#ifndef LAYERGEOM_GRIDE_INT_H
#define LAYERGEOM_GRIDE_INT_H

#include <stdint.h>

#include "layergeom/common.h"

/* DADApy's bisection interval for the ID */
#define LGG_D_MIN 1e-3
#define LGG_D_MAX 1e3

typedef struct lgg_sample {
    const double *mu; /* m ratios r_{n2} / r_{n1} (> 1: mu = 1 nudged up by the caller) */
    uint64_t m;
    double n1, n2;            /* the ranks of every row ... */
    const double *n1s, *n2s;  /* ... or one per row (then n1, n2 are unused) */
} lgg_sample;

/* The maximum-likelihood ID and its error bar (DADApy's procedure);
 * *at_bound is set when the likelihood has no maximum inside the search
 * interval (the value is then the interval's end). */
int lgg_solve(const lgg_sample *g, double *id, double *errbar, int *at_bound, lg_error *err);

#endif

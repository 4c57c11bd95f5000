/* The recommended layer: where the ID profile bottoms out after its first
 * peak (Valeriani et al. 2023: those layers carry the most semantic
 * information).  Robust to small wiggles: a rise or fall counts only when it
 * exceeds a relative tolerance (or twice the error bar, if larger). */
#include <math.h>
#include <stdio.h>

#include "layergeom/estimate.h"

static double band(const double *id, const double *err, int l, double tol)
{
    double b = tol * fabs(id[l]);
    if (err && isfinite(err[l]) && 2 * err[l] > b)
        b = 2 * err[l];
    return b;
}

int lg_recommend_layer(const double *id, const double *err, int n, double tol,
                       lg_recommendation *out)
{
    out->index = out->peak = out->plateau_first = out->plateau_last = -1;
    out->reason[0] = 0;
    if (n < 1)
        return LG_EUSAGE;
    if (n == 1) {
        out->index = out->plateau_first = out->plateau_last = 0;
        snprintf(out->reason, sizeof out->reason, "only one layer");
        return LG_OK;
    }
    /* the first peak: the running maximum, confirmed once a later layer
     * falls clearly below it */
    int p = 0, peak = -1;
    for (int l = 1; l < n && peak < 0; l++) {
        if (id[l] > id[p])
            p = l;
        else if (id[l] < id[p] - band(id, err, p, tol))
            peak = p;
    }
    int from = peak >= 0 ? peak + 1 : 0, m = from;
    for (int l = from; l < n; l++)
        if (id[l] < id[m])
            m = l;
    int a = m, b = m;
    while (a - 1 >= from && id[a - 1] <= id[m] + band(id, err, m, tol))
        a--;
    while (b + 1 < n && id[b + 1] <= id[m] + band(id, err, m, tol))
        b++;
    out->index = m;
    out->peak = peak;
    out->plateau_first = a;
    out->plateau_last = b;
    if (peak >= 0)
        snprintf(out->reason, sizeof out->reason,
                 "lowest ID (%.2f) after the first ID peak (ID %.2f)%s", id[m], id[peak],
                 a < b ? "; the plateau around it is within tolerance" : "");
    else
        snprintf(out->reason, sizeof out->reason,
                 "the ID profile has no peak (it never falls by more than %.0f%% after rising): "
                 "this is simply the lowest ID (%.2f)",
                 100 * tol, id[m]);
    return LG_OK;
}

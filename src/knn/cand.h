/* Per-row candidate lists: a max-heap of the best `kc` (distance, index)
 * pairs seen so far, ordered by distance then index, so the kept set does not
 * depend on the order in which pairs arrive. */
#ifndef LG_KNN_CAND_H
#define LG_KNN_CAND_H

#include <math.h>
#include <stdint.h>

#define LG_NO_ROW UINT32_MAX

/* Is (da, ia) after (db, ib) in the total order? */
static inline int lgk_after(float da, uint32_t ia, float db, uint32_t ib)
{
    return da > db || (da == db && ia > ib);
}

/* Offers (d2, j) to row i's heap.  wd/wi mirror each root so that callers
 * can reject most offers with one comparison. */
static inline void lgk_cand_offer(float *hd, uint32_t *hi, float *wd, uint32_t *wi, uint32_t kc,
                                 uint64_t i, float d2, uint32_t j)
{
    if (!lgk_after(wd[i], wi[i], d2, j))
        return;
    float *d = hd + i * kc;
    uint32_t *x = hi + i * kc;
    uint32_t p = 0;
    for (;;) {
        uint32_t c = 2 * p + 1;
        if (c >= kc)
            break;
        if (c + 1 < kc && lgk_after(d[c + 1], x[c + 1], d[c], x[c]))
            c++;
        if (!lgk_after(d[c], x[c], d2, j))
            break;
        d[p] = d[c];
        x[p] = x[c];
        p = c;
    }
    d[p] = d2;
    x[p] = j;
    wd[i] = d[0];
    wi[i] = x[0];
}

#endif

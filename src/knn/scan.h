/* Exact lists of a few query rows by a scan over all rows, the scan done
 * with double-precision GEMM.  Internal.
 *
 * Both searches fall back to a scan for rows whose float GEMM could not
 * decide their k-th neighbour: the bound on the GEMM's rounding grows with
 * the rows' distance from the centre, so on clustered data far from the
 * centre (or in high dimension, where distances bunch up) most rows can be
 * such rows, and a scan per row in scalar double took hours where the
 * search took minutes.  Here the distances are computed by DGEMM on rows
 * centred on mu; its rounding is bounded (about 2^-50 d of the squared
 * norms), so only pairs the DGEMM cannot rule out get their exact distance
 * (lgk_exact_dist).  The lists equal those of a scalar scan, bit for bit:
 * the same exact distances, the same order by (distance, index). */
#ifndef LG_KNN_SCAN_H
#define LG_KNN_SCAN_H

#include <stdint.h>

typedef struct lgk_scan {
    /* set by the caller */
    uint32_t d, k;
    int threads;
    const double *mu;              /* d: the centre */
    uint64_t m;                    /* query rows */
    const uint64_t *qid;           /* m: their row numbers (never their own neighbour) */
    const float *qx;               /* m x d: their values */
    const unsigned char *excluded; /* per row: never a neighbour (NULL: none) */
    /* the lists: max-heaps by (distance, index), sorted by lgk_scan_sort */
    double *bd;                    /* m x k */
    uint32_t *bj;
    /* internal */
    double *qc, *qn;               /* centred queries and their squared norms */
    uint64_t p0, pn;               /* the panel being scanned */
    const float *px;
} lgk_scan;

/* Memory lgk_scan_init and lgk_scan_panel need for m queries. */
uint64_t lgk_scan_bytes(uint64_t m, uint32_t d, uint32_t k, int threads);
int lgk_scan_init(lgk_scan *s);
/* Offers rows p0 .. p0 + pn (values px, pn x d) to every query's list. */
int lgk_scan_panel(lgk_scan *s, uint64_t p0, uint64_t pn, const float *px);
/* Sorts each query's list by (distance, index) into idx/dist (m x k). */
void lgk_scan_sort(lgk_scan *s, uint32_t *idx, double *dist);
void lgk_scan_free(lgk_scan *s);

#endif

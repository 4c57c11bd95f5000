/*
 * layergeom/team.h -- several processes profiling one store together.
 *
 * The library does not talk to a network itself.  A team is a small set of
 * collective operations supplied by the caller; the `layergeom` program
 * builds one on MPI (lg_team_mpi, when built with -DLAYERGEOM_MPI=ON), and a
 * test or another runtime can supply its own.  Every member runs the same
 * call (lg_profile_run with opts->team set, or lg_knn_exact with o->team set)
 * on the same store and options; member 0 gets the result, the others get
 * an empty one (lg_profile.n_layers == 0, lg_knn.idx == NULL).
 *
 * What is split:
 *   - layers: in rounds of `size` layers, member r computes the lists of the
 *     r-th layer of the round alone and sends them to member 0;
 *   - within a layer (the last, incomplete round): the symmetric pairs of
 *     GEMM tiles are dealt round-robin to the members; each keeps its own
 *     candidates, and the candidates are merged row by row into member 0
 *     (lg_knn_merge_rows), which then finishes the lists exactly as one
 *     process would.  The lists are identical to a single process's.
 * Estimators, the cache and reports run on member 0.
 */
#ifndef LAYERGEOM_TEAM_H
#define LAYERGEOM_TEAM_H

#include <stddef.h>
#include <stdint.h>

#include "layergeom/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lg_team {
    int rank, size; /* this member and the team's size (size 1: no team) */
    void *ctx;
    /* Member 0's len bytes at buf reach every member. */
    int (*bcast)(void *ctx, void *buf, size_t len, lg_error *err);
    /* Point to point, matched in order. */
    int (*send)(void *ctx, int to, const void *buf, size_t len, lg_error *err);
    int (*recv)(void *ctx, int from, void *buf, size_t len, lg_error *err);
    /* Every member's n candidate rows (each LG_CAND_ROW_BYTES(kc) bytes, the
     * layout lg_knn_merge_rows reads) are merged into member 0's buffer with
     * lg_knn_merge_rows; the other members' buffers are left undefined. */
    int (*merge)(void *ctx, void *rows, size_t n, uint32_t kc, lg_error *err);
} lg_team;

/* One row's candidates as a member sends them: kc entries of (float GEMM
 * value, uint32 row, double exact distance), sorted by (value, row), empty
 * entries (row 0xffffffff, value +inf) last. */
#define LG_CAND_ROW_BYTES(kc) ((size_t)(kc) * 16u)

/* inout[r] = the kc smallest (value, row) entries of in[r] and inout[r], for
 * n rows.  Commutative and associative: a reduction in any order gives the
 * same result. */
LG_API void lg_knn_merge_rows(const void *in, void *inout, size_t n, uint32_t kc);

/* The team of MPI_COMM_WORLD.  Available when the library was built with
 * LAYERGEOM_MPI; otherwise it returns LG_EUSAGE.  lg_team_mpi_init calls
 * MPI_Init when the process was started by an MPI launcher (mpirun, srun)
 * and otherwise leaves *t a team of one.  lg_team_mpi_end finalizes. */
LG_API int lg_team_mpi_init(int *argc, char ***argv, lg_team *t, lg_error *err);
LG_API void lg_team_mpi_end(lg_team *t);
/* Ends every member at once (after an error on one of them). */
LG_API void lg_team_mpi_abort(lg_team *t, int code);

#ifdef __cplusplus
}
#endif
#endif

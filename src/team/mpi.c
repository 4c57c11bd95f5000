/*
 * The team of MPI_COMM_WORLD (layergeom/team.h).
 *
 * Only the calling thread talks to MPI (MPI_THREAD_FUNNELED): the kNN's
 * worker threads never do.  Messages longer than an int's count are sent in
 * pieces.  Without LAYERGEOM_MPI the same calls give a team of one, and
 * refuse to run under an MPI launcher, where P copies would each do the
 * whole job and write the same files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layergeom/team.h"
#include "util/error.h"

/* Set by mpirun (Open MPI), Hydra (MPICH), PMI-2 and PMIx launchers (srun). */
static int launched_by_mpi(void)
{
    const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i]))
            return 1;
    return 0;
}

#ifndef LAYERGEOM_MPI
/* How many processes the launcher started, as far as its variables tell. */
static long launched_size(void)
{
    const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"};
    long most = launched_by_mpi();
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        long n = v ? strtol(v, NULL, 10) : 0;
        if (n > most)
            most = n;
    }
    return most;
}
#endif

static void team_of_one(lg_team *t)
{
    memset(t, 0, sizeof *t);
    t->size = 1;
}

#ifdef LAYERGEOM_MPI
#include <mpi.h>

#define PIECE (1 << 30)

static int mpi_fail(lg_error *err, int code, const char *what)
{
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, s, &len) != MPI_SUCCESS)
        snprintf(s, sizeof s, "error %d", code);
    return lgu_fail(err, LG_EIO, "MPI %s: %s", what, s);
}

static int t_bcast(void *ctx, void *buf, size_t len, lg_error *err)
{
    (void)ctx;
    for (size_t o = 0; o < len; o += PIECE) {
        int n = len - o < PIECE ? (int)(len - o) : PIECE;
        int rc = MPI_Bcast((char *)buf + o, n, MPI_BYTE, 0, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_fail(err, rc, "broadcast");
    }
    return LG_OK;
}

static int t_send(void *ctx, int to, const void *buf, size_t len, lg_error *err)
{
    (void)ctx;
    for (size_t o = 0; o < len; o += PIECE) {
        int n = len - o < PIECE ? (int)(len - o) : PIECE;
        int rc = MPI_Send((const char *)buf + o, n, MPI_BYTE, to, 1, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_fail(err, rc, "send");
    }
    return LG_OK;
}

static int t_recv(void *ctx, int from, void *buf, size_t len, lg_error *err)
{
    (void)ctx;
    for (size_t o = 0; o < len; o += PIECE) {
        int n = len - o < PIECE ? (int)(len - o) : PIECE;
        int rc = MPI_Recv((char *)buf + o, n, MPI_BYTE, from, 1, MPI_COMM_WORLD,
                          MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS)
            return mpi_fail(err, rc, "receive");
    }
    return LG_OK;
}

/* The reduction's operator: one element is one row of candidates. */
static void merge_op(void *in, void *inout, int *len, MPI_Datatype *type)
{
    int bytes = 0;
    MPI_Type_size(*type, &bytes);
    lg_knn_merge_rows(in, inout, (size_t)*len, (uint32_t)(bytes / LG_CAND_ROW_BYTES(1)));
}

static int t_merge(void *ctx, void *rows, size_t n, uint32_t kc, lg_error *err)
{
    lg_team *t = ctx;
    MPI_Datatype row;
    MPI_Op op;
    int rc = MPI_Type_contiguous((int)LG_CAND_ROW_BYTES(kc), MPI_BYTE, &row);
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, rc, "datatype");
    MPI_Type_commit(&row);
    MPI_Op_create(merge_op, 1, &op);
    rc = MPI_Reduce(t->rank == 0 ? MPI_IN_PLACE : rows, rows, (int)n, row, op, 0,
                    MPI_COMM_WORLD);
    MPI_Op_free(&op);
    MPI_Type_free(&row);
    return rc == MPI_SUCCESS ? LG_OK : mpi_fail(err, rc, "reduction of the candidates");
}

int lg_team_mpi_init(int *argc, char ***argv, lg_team *t, lg_error *err)
{
    team_of_one(t);
    if (!launched_by_mpi())
        return LG_OK;
    int provided = 0, rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS)
        return lgu_fail(err, LG_EIO, "MPI_Init failed (error %d)", rc);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &t->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &t->size);
    t->ctx = t;
    t->bcast = t_bcast;
    t->send = t_send;
    t->recv = t_recv;
    t->merge = t_merge;
    return LG_OK;
}

void lg_team_mpi_end(lg_team *t)
{
    int up = 0, down = 0;
    MPI_Initialized(&up);
    MPI_Finalized(&down);
    if (up && !down)
        MPI_Finalize();
    team_of_one(t);
}

void lg_team_mpi_abort(lg_team *t, int code)
{
    int up = 0;
    MPI_Initialized(&up);
    if (up && t->size > 1)
        MPI_Abort(MPI_COMM_WORLD, code);
}

#else /* no MPI in this build */

int lg_team_mpi_init(int *argc, char ***argv, lg_team *t, lg_error *err)
{
    (void)argc;
    (void)argv;
    team_of_one(t);
    if (launched_by_mpi() && launched_size() > 1)
        return lgu_fail(err, LG_EUSAGE,
                       "started by an MPI launcher as one of several processes, but this layergeom was built without MPI "
                       "(configure with -DLAYERGEOM_MPI=ON); run it without mpirun/srun");
    return LG_OK;
}

void lg_team_mpi_end(lg_team *t)
{
    team_of_one(t);
}

void lg_team_mpi_abort(lg_team *t, int code)
{
    (void)t;
    (void)code;
}

#endif

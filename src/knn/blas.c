/*
 * Which OpenBLAS kernels run.  OpenBLAS chooses them once, when it loads,
 * from the CPUs it knows; on a CPU newer than the OpenBLAS build it falls
 * back to its oldest x86-64 kernel (Prescott, SSE3), 3-5x slower than what
 * the CPU can do (measured: sgemm 20.7 GFLOP/s on one core against 108 with
 * the SkylakeX kernel, same results).  The choice can only be changed before
 * the library loads, through OPENBLAS_CORETYPE, so the library only says what
 * would be better; the command line restarts itself with it (cli/main.c).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

#include "knn/engine.h"
#include "layergeom/knn.h"
#include "util/error.h"

char *openblas_get_corename(void);
int openblas_get_num_threads(void);

/* OpenBLAS takes a work buffer for each thread that runs a product, outside
 * any budget of ours, and when malloc refuses it under an address-space
 * limit (ulimit -v) it retries forever.  128 MiB is the largest x86-64
 * buffer it asks for. */
#define OPENBLAS_BUFFER (128ull << 20)

int lgk_blas_room(int threads, lg_error *err)
{
    /* once it fitted, OpenBLAS holds its buffers: later searches need none */
    static volatile int fitted = 0;
    struct rlimit rl;
    if (fitted >= threads || getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return LG_OK;
    /* every thread of ours and of OpenBLAS's pool may hold one: make sure
     * the address space has them, by taking them for a moment */
    int pool = openblas_get_num_threads();
    int need = (threads > pool ? threads : pool) + 1; /* the callers at once, and main */
    if (need > 64)
        need = 64;
    void *held[64];
    int got = 0;
    while (got < need && (held[got] = malloc(OPENBLAS_BUFFER)) != NULL)
        got++;
    for (int i = 0; i < got; i++)
        free(held[i]);
    if (got == need) {
        fitted = threads;
        return LG_OK;
    }
    return lgu_fail(err, LG_ENOMEM,
                    "the address-space limit (ulimit -v: %.0f MiB) leaves no room for OpenBLAS's "
                    "work buffers (%d threads x %llu MiB, outside --memory): raise the limit, or "
                    "use fewer --threads and a smaller --memory",
                    (double)rl.rlim_cur / 1048576, need,
                    (unsigned long long)(OPENBLAS_BUFFER >> 20));
}

const char *lg_blas_kernel(void)
{
    const char *c = openblas_get_corename();
    return c ? c : "unknown";
}

const char *lg_blas_better_kernel(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    const char *now = lg_blas_kernel();
    /* only the fallbacks: a kernel OpenBLAS chose for a CPU it knows stays */
    if (strcasecmp(now, "prescott") != 0 && strcasecmp(now, "core2") != 0 &&
        strcasecmp(now, "nehalem") != 0 && strcasecmp(now, "unknown") != 0)
        return NULL;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return "Haswell";
    if (__builtin_cpu_supports("avx"))
        return "SandyBridge";
    return NULL;
#else
    return NULL;
#endif
}

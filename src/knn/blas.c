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
#include <string.h>
#include <strings.h>

#include "layergeom/knn.h"

char *openblas_get_corename(void);

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

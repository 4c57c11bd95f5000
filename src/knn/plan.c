#include "knn/plan.h"

#include <math.h>

uint32_t lgk_candidates(uint32_t k, uint64_t n)
{
    uint32_t kc = k + (k / 4 > 8 ? k / 4 : 8);
    if (n && kc > n - 1)
        kc = (uint32_t)(n - 1);
    return kc;
}

int lgk_threads(const lg_knn_opts *o)
{
    return o->threads > 0 ? o->threads : lg_cpu_count();
}

uint64_t lgk_budget(const lg_knn_opts *o)
{
    return o->memory ? o->memory : lg_default_memory();
}

uint32_t lgk_tile(const lg_knn_opts *o, uint64_t n)
{
    uint32_t t = o->tile ? o->tile : 512;
    return n && t > n ? (uint32_t)n : t;
}

uint32_t lgk_cells(const lg_knn_opts *o, uint64_t n)
{
    if (o->cells)
        return o->cells;
    double c = 2 * sqrt((double)n);
    return c < 1 ? 1 : c > 4096 ? 4096 : (uint32_t)c;
}

uint64_t lgk_train_rows(uint32_t cells)
{
    return 24ull * cells;
}

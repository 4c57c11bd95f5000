/* The one place that decides how work is split over threads: a fixed number
 * of workers take items 0..count-1 from a shared counter.  Work items must
 * not depend on which thread runs them, so results do not either. */
#ifndef LG_UTIL_PARALLEL_H
#define LG_UTIL_PARALLEL_H

#include <stddef.h>

/* Calls fn(ctx, thread, item) for every item; returns the first non-zero
 * value fn returned (the remaining items are skipped), else 0. */
int lgu_parallel_for(int threads, size_t count, int (*fn)(void *ctx, int thread, size_t item),
                    void *ctx);

#endif

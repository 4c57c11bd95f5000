#include "util/parallel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

typedef struct job {
    int (*fn)(void *, int, size_t);
    void *ctx;
    size_t count;
    atomic_size_t next;
    atomic_int status;
} job;

typedef struct worker {
    job *j;
    int thread;
} worker;

static void *run(void *arg)
{
    worker *w = arg;
    job *j = w->j;
    for (;;) {
        if (atomic_load(&j->status))
            break;
        size_t item = atomic_fetch_add(&j->next, 1);
        if (item >= j->count)
            break;
        int rc = j->fn(j->ctx, w->thread, item);
        if (rc) {
            int zero = 0;
            atomic_compare_exchange_strong(&j->status, &zero, rc);
        }
    }
    return NULL;
}

int lgu_parallel_for(int threads, size_t count, int (*fn)(void *, int, size_t), void *ctx)
{
    job j = {fn, ctx, count, 0, 0};
    if (threads < 1)
        threads = 1;
    if ((size_t)threads > count)
        threads = count ? (int)count : 1;
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    worker *w = calloc((size_t)threads, sizeof *w);
    if (!tid || !w) {
        free(tid);
        free(w);
        threads = 1; /* fall back to this thread alone */
        worker one = {&j, 0};
        run(&one);
        return atomic_load(&j.status);
    }
    int started = 1;
    for (int t = 0; t < threads; t++)
        w[t] = (worker){&j, t};
    for (int t = 1; t < threads; t++)
        if (pthread_create(&tid[t], NULL, run, &w[t]) == 0)
            started++;
        else
            break;
    run(&w[0]);
    for (int t = 1; t < started; t++)
        pthread_join(tid[t], NULL);
    free(tid);
    free(w);
    return atomic_load(&j.status);
}

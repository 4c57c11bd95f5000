/* The rows a search keeps: on the heap while they fit the memory budget,
 * else in a scratch file mapped in their place, so the kernel holds them in
 * the page cache and writes them out under pressure instead of the budget
 * paying for them.  Internal. */
#ifndef LG_KNN_ROWBUF_H
#define LG_KNN_ROWBUF_H

#include <stdint.h>

#include "layergeom/common.h"

typedef struct lgk_rowbuf {
    float *x;     /* cap x d */
    uint64_t cap; /* rows */
    uint32_t d;
    int fd;       /* the scratch file (unlinked), or -1: the heap */
} lgk_rowbuf;

void lgk_rowbuf_init(lgk_rowbuf *b, uint32_t d);
/* Room for `rows` rows (never less than now), keeping those held.  to_file moves them to
 * a scratch file in dir (NULL: $TMPDIR, else /tmp); once in a file they stay
 * there.  The file's blocks are allocated before use, so a full disk is an
 * error here, not a fault later. */
int lgk_rowbuf_reserve(lgk_rowbuf *b, uint64_t rows, int to_file, const char *dir,
                      lg_error *err);
/* Rows [r0, r0 + n) will not be needed soon (file only: pages let go). */
void lgk_rowbuf_release(const lgk_rowbuf *b, uint64_t r0, uint64_t n);
void lgk_rowbuf_free(lgk_rowbuf *b);

#endif

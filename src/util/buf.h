/* A growable byte buffer: the one helper the stream decoder and the writer
 * share.  Internal. */
#ifndef LG_UTIL_BUF_H
#define LG_UTIL_BUF_H

#include <stdlib.h>

#include "layergeom/common.h"

/* Makes *p hold at least need bytes (*cap its size); LG_OK or LG_ENOMEM,
 * leaving *p as it was on failure. */
static inline int lgu_reserve(unsigned char **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return LG_OK;
    unsigned char *q = realloc(*p, need);
    if (!q)
        return LG_ENOMEM;
    *p = q;
    *cap = need;
    return LG_OK;
}

#endif

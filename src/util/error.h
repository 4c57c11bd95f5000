/* Internal helpers for filling lg_error. */
#ifndef LG_UTIL_ERROR_H
#define LG_UTIL_ERROR_H

#include "layergeom/common.h"

/* Fills err (when non-NULL) and returns code, so callers can write
 * `return lgu_fail(err, LG_EINPUT, "%s: ...", path);`. */
int lgu_fail(lg_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes an existing message with more context ("layer 3: ..."). */
int lgu_fail_prefix(lg_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline void lgu_clear(lg_error *err)
{
    if (err) {
        err->code = 0;
        err->msg[0] = 0;
    }
}

#endif

#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int lgu_fail(lg_error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

int lgu_fail_prefix(lg_error *err, const char *fmt, ...)
{
    if (!err)
        return LG_EINPUT;
    char prefix[LG_ERROR_MSG_MAX], old[LG_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
    return err->code ? err->code : LG_EINPUT;
}

const char *lg_status_name(int code)
{
    switch (code) {
    case LG_OK: return "ok";
    case LG_EINPUT: return "bad input";
    case LG_EUSAGE: return "usage";
    case LG_EIO: return "i/o error";
    case LG_ECORRUPT: return "corrupt store";
    case LG_ENOMEM: return "out of memory";
    case LG_EBUSY: return "busy";
    case LG_ENOTFOUND: return "not found";
    case LG_ECANCELED: return "stopped";
    default: return "unknown error";
    }
}

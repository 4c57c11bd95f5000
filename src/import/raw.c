/* Raw little-endian buffers: the user says the type and the row width. */
#include <stdio.h>
#include <string.h>

#include "import/source_int.h"
#include "util/le.h"
#include "util/error.h"

int lg_source_open_raw(const char *path, lg_dtype dtype, uint32_t d, lg_source **out,
                       lg_error *err)
{
    *out = NULL;
    size_t es = lg_dtype_size(dtype);
    if (!es || d == 0 || d > LG_MAX_COLUMNS)
        return lgu_fail(err, LG_EUSAGE, "%s: raw input needs --dtype (f32, f16, bf16, f64) and "
                                       "--dim (1..%u)",
                       path, LG_MAX_COLUMNS);
    lg_source *src;
    int rc = lgsrc_map(path, &src, err);
    if (rc)
        return rc;
    size_t row = (size_t)d * es;
    if (src->map_len >= 6 && !memcmp(src->map, "\x93NUMPY", 6))
        rc = lgu_fail(err, LG_EINPUT,
                      "%s: a .npy file, not a raw buffer: drop --dim (its header would be "
                      "packed as data)",
                      path);
    else if (src->map_len == 0 || src->map_len % row)
        rc = lgu_fail(err, LG_EINPUT,
                     "%s: %zu bytes is not a whole number of rows of %u %s values (%zu bytes "
                     "each)",
                     path, src->map_len, d, lg_dtype_name(dtype), row);
    char name[256];
    lgsrc_base_name(path, name, sizeof name);
    if (!rc)
        rc = lgsrc_add(src, name, src->map_len / row, d, dtype, 0, src->map, d, 1, err);
    if (rc) {
        lg_source_close(src);
        return rc;
    }
    *out = src;
    return LG_OK;
}

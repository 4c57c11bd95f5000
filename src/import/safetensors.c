/*
 * safetensors: u64 little-endian header length, a JSON object
 * {"name": {"dtype": "F32", "shape": [N, D], "data_offsets": [begin, end]},
 *  "__metadata__": {...}}, then the data section the offsets point into.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import/source_int.h"
#include "util/le.h"
#include "util/error.h"
#include "util/json.h"

#define U64(x) ((unsigned long long)(x))
#define MAX_HEADER (100u << 20) /* what the safetensors reference reader allows */

/* Natural order: runs of digits compare as numbers. */
static int natural_cmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
            while (*a == '0')
                a++;
            while (*b == '0')
                b++;
            size_t la = 0, lb = 0;
            while (a[la] >= '0' && a[la] <= '9')
                la++;
            while (b[lb] >= '0' && b[lb] <= '9')
                lb++;
            if (la != lb)
                return la < lb ? -1 : 1;
            int c = memcmp(a, b, la);
            if (c)
                return c;
            a += la;
            b += lb;
        } else {
            if (*a != *b)
                return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
            a++;
            b++;
        }
    }
    return *a ? 1 : (*b ? -1 : 0);
}

static int cmp_names(const void *x, const void *y)
{
    const lgsrc_layer *a = x, *b = y;
    return natural_cmp(a->name, b->name);
}

static int as_u64(const lgj *v, uint64_t *out)
{
    if (!v || v->type != LGJ_NUM || v->num < 0 || v->num > 9007199254740992.0 ||
        v->num != (double)(uint64_t)v->num)
        return -1;
    *out = (uint64_t)v->num;
    return 0;
}

static int dtype_of(const char *s, lg_dtype *t)
{
    if (!strcmp(s, "F32"))
        *t = LG_F32;
    else if (!strcmp(s, "F16"))
        *t = LG_F16;
    else if (!strcmp(s, "BF16"))
        *t = LG_BF16;
    else if (!strcmp(s, "F64"))
        *t = LG_F64;
    else
        return -1;
    return 0;
}

/* Adds tensor `name` described by v; skip_other: silently pass over tensors
 * that are not floating point (when taking all tensors). */
static int add_tensor(lg_source *src, const char *name, const lgj *v, const unsigned char *data,
                      uint64_t data_len, int skip_other, lg_error *err)
{
    const char *path = src->path;
    const lgj *dt = lgj_get(v, "dtype"), *shape = lgj_get(v, "shape"),
              *offs = lgj_get(v, "data_offsets");
    if (!dt || dt->type != LGJ_STR || !shape || shape->type != LGJ_ARR || !offs ||
        offs->type != LGJ_ARR || offs->len != 2)
        return lgu_fail(err, LG_EINPUT,
                       "%s: header: tensor '%s' lacks a string 'dtype', an array 'shape' or a "
                       "2-element 'data_offsets'",
                       path, name);
    lg_dtype t;
    if (dtype_of(dt->str, &t)) {
        if (skip_other)
            return LG_OK;
        return lgu_fail(err, LG_EINPUT,
                       "%s: header: tensor '%s' has dtype %s (expected F32, F16, BF16 or F64)",
                       path, name, dt->str);
    }
    uint64_t dims[8], nd = 0, count = 1, b, e;
    if (shape->len > 8)
        return lgu_fail(err, LG_EINPUT, "%s: header: tensor '%s' has %zu dimensions", path, name,
                       shape->len);
    for (size_t i = 0; i < shape->len; i++) {
        uint64_t x;
        if (as_u64(shape->items[i], &x))
            return lgu_fail(err, LG_EINPUT,
                           "%s: header: tensor '%s': shape[%zu] is not a non-negative integer",
                           path, name, i);
        if (x && count > UINT64_MAX / x)
            return lgu_fail(err, LG_EINPUT, "%s: header: tensor '%s': shape overflows", path,
                           name);
        count *= x;
    }
    /* drop leading 1s, e.g. a (1, N, D) batch */
    nd = 0;
    size_t first = 0;
    while (first + 2 < shape->len && shape->items[first]->num == 1)
        first++;
    for (size_t i = first; i < shape->len; i++)
        as_u64(shape->items[i], &dims[nd++]);
    if (nd < 1 || nd > 2)
        return lgu_fail(err, LG_EINPUT,
                       "%s: header: tensor '%s' has shape of %zu dimensions (expected (N, D))",
                       path, name, shape->len);
    if (as_u64(offs->items[0], &b) || as_u64(offs->items[1], &e) || b > e || e > data_len)
        return lgu_fail(err, LG_EINPUT,
                       "%s: header: tensor '%s': data_offsets are not 0 <= begin <= end <= %llu "
                       "(the data section's size)",
                       path, name, U64(data_len));
    size_t es = lg_dtype_size(t);
    if (count > UINT64_MAX / es || e - b != count * es)
        return lgu_fail(err, LG_EINPUT,
                       "%s: header: tensor '%s': shape needs %llu bytes, data_offsets give %llu",
                       path, name, U64(count * es), U64(e - b));
    if (count == 0)
        return lgu_fail(err, LG_EINPUT, "%s: tensor '%s' is empty", path, name);
    uint64_t n = dims[0], d = nd == 2 ? dims[1] : 1;
    if (d > LG_MAX_COLUMNS)
        return lgu_fail(err, LG_EINPUT, "%s: tensor '%s': %llu columns (at most %u)", path, name,
                       U64(d), LG_MAX_COLUMNS);
    return lgsrc_add(src, name, n, (uint32_t)d, t, 0, data + b, d, 1, err);
}

int lg_source_open_safetensors(const char *path, const char *const *names, size_t n_names,
                               lg_source **out, lg_error *err)
{
    *out = NULL;
    lg_source *src;
    int rc = lgsrc_map(path, &src, err);
    if (rc)
        return rc;
    const unsigned char *p = src->map;
    size_t len = src->map_len;
    lgj *root = NULL;
    if (len < 8) {
        rc = lgu_fail(err, LG_EINPUT, "%s: %zu bytes: too short for safetensors (8-byte length)",
                     path, len);
        goto out;
    }
    uint64_t hlen = lgu_get64(p);
    if (hlen > MAX_HEADER || hlen > len - 8) {
        rc = lgu_fail(err, LG_EINPUT,
                     "%s: offset 0: header length %llu is larger than the file (%zu bytes) or "
                     "than 100 MiB",
                     path, U64(hlen), len);
        goto out;
    }
    char why[160];
    root = lgj_parse((const char *)p + 8, (size_t)hlen, why, sizeof why);
    if (!root || root->type != LGJ_OBJ) {
        rc = lgu_fail(err, LG_EINPUT, "%s: header (JSON at offset 8): %s", path,
                     root ? "not an object" : why);
        goto out;
    }
    const unsigned char *data = p + 8 + hlen;
    uint64_t data_len = len - 8 - hlen;
    /* a name given twice in the header is two tensors that claim one name:
     * which one is meant cannot be known (JSON readers differ) */
    for (size_t i = 0; !rc && i < root->len; i++)
        for (size_t j = i + 1; !rc && j < root->len; j++)
            if (!strcmp(root->keys[i], root->keys[j]))
                rc = lgu_fail(err, LG_EINPUT, "%s: header: the key '%s' appears twice", path,
                              root->keys[i]);
    if (rc)
        goto out;
    if (names) {
        for (size_t i = 0; !rc && i < n_names; i++) {
            const lgj *v = lgj_get(root, names[i]);
            if (!v || v->type != LGJ_OBJ)
                rc = lgu_fail(err, LG_ENOTFOUND, "%s: no tensor named '%s'", path, names[i]);
            else
                rc = add_tensor(src, names[i], v, data, data_len, 0, err);
        }
    } else {
        for (size_t i = 0; !rc && i < root->len; i++) {
            if (strcmp(root->keys[i], "__metadata__") == 0)
                continue;
            if (root->items[i]->type != LGJ_OBJ)
                rc = lgu_fail(err, LG_EINPUT, "%s: header: '%s' is not a tensor description",
                             path, root->keys[i]);
            else
                rc = add_tensor(src, root->keys[i], root->items[i], data, data_len, 1, err);
        }
        if (!rc && src->n_layers > 1)
            qsort(src->layers, src->n_layers, sizeof *src->layers, cmp_names);
        if (!rc && src->n_layers == 0)
            rc = lgu_fail(err, LG_EINPUT, "%s: no floating-point tensors", path);
    }
out:
    lgj_free(root);
    if (rc) {
        lg_source_close(src);
        return rc;
    }
    *out = src;
    return LG_OK;
}

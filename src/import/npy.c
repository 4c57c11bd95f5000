/*
 * .npy files: "\x93NUMPY", version, header length, then a Python dict
 * literal {'descr': '<f4', 'fortran_order': False, 'shape': (N, D), }
 * padded with spaces to 64 bytes and ended by '\n'.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "import/source_int.h"
#include "util/le.h"
#include "util/error.h"

#define U64(x) ((unsigned long long)(x))

typedef struct lex {
    const char *s;
    size_t len, pos;
} lex;

static void ws(lex *x)
{
    while (x->pos < x->len && (x->s[x->pos] == ' ' || x->s[x->pos] == '\t' ||
                               x->s[x->pos] == '\n' || x->s[x->pos] == '\r'))
        x->pos++;
}

static int eat(lex *x, char c)
{
    ws(x);
    if (x->pos < x->len && x->s[x->pos] == c) {
        x->pos++;
        return 1;
    }
    return 0;
}

/* A quoted string (no escapes: numpy never writes any) into out. */
static int quoted(lex *x, char *out, size_t cap)
{
    ws(x);
    if (x->pos >= x->len || (x->s[x->pos] != '\'' && x->s[x->pos] != '"'))
        return -1;
    char q = x->s[x->pos++];
    size_t n = 0;
    while (x->pos < x->len && x->s[x->pos] != q) {
        if (n + 1 >= cap || x->s[x->pos] == '\\')
            return -1;
        out[n++] = x->s[x->pos++];
    }
    if (x->pos >= x->len)
        return -1;
    x->pos++;
    out[n] = 0;
    return 0;
}

static int parse_shape(lex *x, npy_info *info, const char **why)
{
    if (!eat(x, '(')) {
        *why = "'shape' is not a tuple";
        return -1;
    }
    info->ndim = 0;
    if (eat(x, ')'))
        return 0;
    for (;;) {
        ws(x);
        if (x->pos >= x->len || !isdigit((unsigned char)x->s[x->pos])) {
            *why = "'shape' holds something other than non-negative integers";
            return -1;
        }
        uint64_t v = 0;
        while (x->pos < x->len && isdigit((unsigned char)x->s[x->pos])) {
            unsigned dgt = (unsigned)(x->s[x->pos++] - '0');
            if (v > (UINT64_MAX - dgt) / 10) {
                *why = "a 'shape' dimension overflows 64 bits";
                return -1;
            }
            v = v * 10 + dgt;
        }
        if (x->pos < x->len && x->s[x->pos] == 'L') /* Python 2 longs */
            x->pos++;
        if (info->ndim == 8) {
            *why = "'shape' has more than 8 dimensions";
            return -1;
        }
        info->shape[info->ndim++] = v;
        if (eat(x, ')'))
            return 0;
        if (!eat(x, ',')) {
            *why = "'shape' tuple is not closed";
            return -1;
        }
        if (eat(x, ')'))
            return 0;
    }
}

static int parse_descr(const char *d, npy_info *info)
{
    size_t l = strlen(d);
    if (l < 3 || !strchr("<>|=", d[0]) || !strchr("fiub", d[1]))
        return -1;
    char *end;
    long size = strtol(d + 2, &end, 10);
    if (*end || size <= 0 || size > 16)
        return -1;
    info->kind = d[1];
    info->size = (int)size;
    info->big = d[0] == '>' && size > 1;
    return 0;
}

int npy_parse(const char *path, const unsigned char *p, size_t len, npy_info *info,
              lg_error *err)
{
    int rc = npy_parse_header(path, p, len, info, err);
    if (rc)
        return rc;
    uint64_t need;
    if (__builtin_mul_overflow(info->count, (uint64_t)info->size, &need) ||
        need != len - info->data_off)
        return lgu_fail(err, LG_EINPUT,
                       "%s: shape and data disagree: the header's shape (%llu elements of %d "
                       "bytes) needs %llu bytes after offset %llu, the file has %llu",
                       path, U64(info->count), info->size, U64(info->count * info->size),
                       U64(info->data_off), U64(len - info->data_off));
    return LG_OK;
}

int npy_parse_header(const char *path, const unsigned char *p, size_t len, npy_info *info,
                     lg_error *err)
{
    memset(info, 0, sizeof *info);
    if (len < 10 || memcmp(p, "\x93NUMPY", 6) != 0)
        return lgu_fail(err, LG_EINPUT,
                       "%s: offset 0: bad magic (expected \\x93NUMPY: not a .npy file)", path);
    unsigned major = p[6];
    uint64_t hlen, hoff;
    if (major == 1) {
        hlen = lgu_get16(p + 8);
        hoff = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12)
            return lgu_fail(err, LG_EINPUT, "%s: offset 8: file ends inside the header length",
                           path);
        hlen = lgu_get32(p + 8);
        hoff = 12;
    } else {
        return lgu_fail(err, LG_EINPUT, "%s: offset 6: .npy version %u.%u (expected 1.0, 2.0 or 3.0)",
                       path, major, p[7]);
    }
    if (hlen > len - hoff)
        return lgu_fail(err, LG_EINPUT,
                       "%s: offset 8: header length %llu runs past the end of the file (%zu "
                       "bytes)",
                       path, U64(hlen), len);
    lex x = {(const char *)p + hoff, (size_t)hlen, 0};
    const char *why = NULL;
    int have_descr = 0, have_fortran = 0, have_shape = 0;
    char descr[32] = "";
    if (!eat(&x, '{')) {
        why = "header is not a dict (expected '{')";
        goto bad;
    }
    while (!eat(&x, '}')) {
        char key[32];
        if (quoted(&x, key, sizeof key) || !eat(&x, ':')) {
            why = x.pos >= x.len ? "header dict is not terminated" : "expected 'key': in header";
            goto bad;
        }
        if (strcmp(key, "descr") == 0) {
            if (quoted(&x, descr, sizeof descr)) {
                why = "'descr' is not a simple type string (structured arrays are not supported)";
                goto bad;
            }
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            ws(&x);
            if (x.len - x.pos >= 4 && memcmp(x.s + x.pos, "True", 4) == 0) {
                info->fortran = 1;
                x.pos += 4;
            } else if (x.len - x.pos >= 5 && memcmp(x.s + x.pos, "False", 5) == 0) {
                x.pos += 5;
            } else {
                why = "'fortran_order' is neither True nor False";
                goto bad;
            }
            have_fortran = 1;
        } else if (strcmp(key, "shape") == 0) {
            if (parse_shape(&x, info, &why))
                goto bad;
            have_shape = 1;
        } else {
            why = "unknown key in header (expected descr, fortran_order, shape)";
            goto bad;
        }
        if (!eat(&x, ',') && !(ws(&x), x.pos < x.len && x.s[x.pos] == '}')) {
            why = x.pos >= x.len ? "header dict is not terminated" : "expected ',' or '}'";
            goto bad;
        }
    }
    if (!have_descr || !have_fortran || !have_shape) {
        why = "header lacks one of 'descr', 'fortran_order', 'shape'";
        goto bad;
    }
    if (parse_descr(descr, info)) {
        char m[96];
        snprintf(m, sizeof m, "'descr' '%s' is not a plain number type", descr);
        return lgu_fail(err, LG_EINPUT, "%s: header: %s", path, m);
    }
    info->count = 1;
    for (int i = 0; i < info->ndim; i++) {
        if (info->shape[i] && info->count > UINT64_MAX / info->shape[i]) {
            why = "shape product overflows 64 bits";
            goto bad;
        }
        info->count *= info->shape[i];
    }
    info->data_off = hoff + hlen;
    if (info->count > UINT64_MAX / 16)
        return lgu_fail(err, LG_EINPUT, "%s: header: shape is implausibly large", path);
    return LG_OK;
bad:
    return lgu_fail(err, LG_EINPUT, "%s: header at offset %llu: %s", path, U64(hoff + x.pos), why);
}

lg_dtype npy_float_dtype(const npy_info *in)
{
    if (in->kind != 'f')
        return LG_DTYPE_KEEP;
    return in->size == 4 ? LG_F32 : in->size == 2 ? LG_F16 : in->size == 8 ? LG_F64 : LG_DTYPE_KEEP;
}

int npy_map(const char *path, lg_source **src, npy_info *in, lg_error *err)
{
    int rc = lgsrc_map(path, src, err);
    if (rc)
        return rc;
    rc = npy_parse(path, (*src)->map, (*src)->map_len, in, err);
    if (rc) {
        lg_source_close(*src);
        *src = NULL;
    }
    return rc;
}

int lg_source_open_npy(const char *path, lg_source **out, lg_error *err)
{
    lg_source *src;
    npy_info in;
    int rc = npy_map(path, &src, &in, err);
    if (rc)
        return rc;
    lg_dtype t = npy_float_dtype(&in);
    if (!rc) {
        if (t == LG_DTYPE_KEEP)
            rc = lgu_fail(err, LG_EINPUT,
                         "%s: header: dtype %c%d is not an activation type (expected float16, "
                         "float32 or float64)",
                         path, in.kind, in.size);
    }
    if (!rc && (in.ndim < 1 || in.ndim > 3))
        rc = lgu_fail(err, LG_EINPUT,
                     "%s: header: shape has %d dimensions (expected (N,), (N, D) or (L, N, D))",
                     path, in.ndim);
    if (!rc && in.count == 0)
        rc = lgu_fail(err, LG_EINPUT, "%s: header: the array is empty", path);
    const unsigned char *base = rc ? NULL : (const unsigned char *)src->map + in.data_off;
    char name[256];
    lgsrc_base_name(path, name, sizeof name);
    if (!rc && in.ndim <= 2) {
        uint64_t n = in.shape[0], d = in.ndim == 2 ? in.shape[1] : 1;
        if (d > LG_MAX_COLUMNS)
            rc = lgu_fail(err, LG_EINPUT, "%s: header: %llu columns (at most %u)", path, U64(d),
                         LG_MAX_COLUMNS);
        else
            rc = lgsrc_add(src, name, n, (uint32_t)d, t, in.big, base, in.fortran ? 1 : d,
                           in.fortran ? n : 1, err);
    } else if (!rc) {
        uint64_t L = in.shape[0], n = in.shape[1], d = in.shape[2];
        if (d > LG_MAX_COLUMNS || L > 100000)
            rc = lgu_fail(err, LG_EINPUT, "%s: header: shape (%llu, %llu, %llu) is implausible",
                         path, U64(L), U64(n), U64(d));
        for (uint64_t l = 0; !rc && l < L; l++) {
            char lname[300];
            snprintf(lname, sizeof lname, "%s[%llu]", name, U64(l));
            size_t es = (size_t)in.size;
            if (in.fortran)
                rc = lgsrc_add(src, lname, n, (uint32_t)d, t, in.big, base + l * es, L, L * n,
                               err);
            else
                rc = lgsrc_add(src, lname, n, (uint32_t)d, t, in.big, base + l * n * d * es, d,
                               1, err);
        }
    }
    if (rc) {
        lg_source_close(src);
        return rc;
    }
    *out = src;
    return LG_OK;
}

int lg_npy_write_header(int fd, const char *descr, uint64_t n, uint32_t d, int one_dim,
                        lg_error *err)
{
    char dict[256];
    int len;
    if (one_dim)
        len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%llu,), }",
                       descr, U64(n));
    else
        len = snprintf(dict, sizeof dict,
                       "{'descr': '%s', 'fortran_order': False, 'shape': (%llu, %u), }", descr,
                       U64(n), d);
    /* numpy leaves room for the first dimension to grow to 21 digits, then
     * pads with spaces (1 to 64 of them) so the data starts on a 64-byte
     * boundary, and ends the header with '\n': do the same, byte for byte */
    char digits[32];
    int nd = snprintf(digits, sizeof digits, "%llu", U64(n));
    size_t body = (size_t)len + (size_t)(21 - nd);
    size_t padlen = 64 - (10 + body + 1) % 64;
    size_t padded = 10 + body + padlen + 1;
    unsigned char buf[448];
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    lgu_put16(buf + 8, (uint16_t)(padded - 10));
    memcpy(buf + 10, dict, (size_t)len);
    memset(buf + 10 + len, ' ', padded - 11 - (size_t)len);
    buf[padded - 1] = '\n';
    size_t done = 0;
    while (done < padded) {
        ssize_t w = write(fd, buf + done, padded - done);
        if (w <= 0)
            return lgu_fail(err, LG_EIO, "cannot write the .npy header");
        done += (size_t)w;
    }
    return LG_OK;
}

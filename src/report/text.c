#include "report/text.h"

#include <math.h>

#include "layergeom/report.h"

#include <string.h>

/* Bytes of the valid UTF-8 sequence at p (at most left bytes), or 0. */
static size_t utf8_len(const unsigned char *p, size_t left)
{
    size_t n = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3
               : (*p & 0xf8) == 0xf0                  ? 4
                                                      : 0;
    if (!n || n > left || (n == 2 && *p < 0xc2) || (n == 4 && *p > 0xf4))
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if (n == 3 && ((*p == 0xe0 && p[1] < 0xa0) || (*p == 0xed && p[1] >= 0xa0)))
        return 0; /* overlong, or a surrogate */
    if (n == 4 && ((*p == 0xf0 && p[1] < 0x90) || (*p == 0xf4 && p[1] >= 0x90)))
        return 0;
    return n;
}

void lg_report_json_string(FILE *f, const void *s, size_t len)
{
    const unsigned char *p = s;
    fputc('"', f);
    for (size_t i = 0; i < len;) {
        size_t n = utf8_len(p + i, len - i);
        if (!n) { /* not UTF-8: the replacement character keeps the JSON valid */
            fputs("\\ufffd", f);
            i++;
        } else if (n > 1) {
            fwrite(p + i, 1, n, f);
            i += n;
        } else {
            unsigned char c = p[i++];
            if (c == '"' || c == '\\')
                fprintf(f, "\\%c", c);
            else if (c == '\n')
                fputs("\\n", f);
            else if (c < 0x20 || c == 0x7f)
                fprintf(f, "\\u%04x", c);
            else
                fputc(c, f);
        }
    }
    fputc('"', f);
}

void lgr_text_json_string(FILE *f, const char *s)
{
    lg_report_json_string(f, s, strlen(s));
}

const char *lg_report_safe_name(const char *name, char *buf, size_t cap)
{
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)name;
    size_t len = strlen(name);
    for (size_t i = 0; i < len && o + 5 < cap;) {
        size_t n = utf8_len(p + i, len - i);
        if (n > 1) {
            memcpy(buf + o, p + i, n);
            o += n;
            i += n;
        } else if (n == 1 && p[i] >= 0x20 && p[i] != 0x7f) {
            buf[o++] = (char)p[i++];
        } else { /* control bytes (escape sequences, newlines) and stray bytes */
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", p[i++]);
        }
    }
    buf[o < cap ? o : cap - 1] = 0;
    return buf;
}

void lgr_text_csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

void lgr_text_json_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.17g", v);
    else
        fputs("null", f);
}

void lgr_text_json_matrix(FILE *f, const char *sep, const char *key, const double *m,
                          size_t rows, size_t cols, const char *indent)
{
    fprintf(f, "%s\"%s\": [", sep, key);
    for (size_t i = 0; i < rows; i++) {
        if (indent)
            fprintf(f, "%s\n%s[", i ? "," : "", indent);
        else
            fputs(i ? ", [" : "[", f);
        for (size_t j = 0; j < cols; j++) {
            fputs(j ? ", " : "", f);
            lgr_text_json_num(f, m[i * cols + j]);
        }
        fputs("]", f);
    }
    fputs("]", f);
}

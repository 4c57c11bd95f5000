#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int cli_exit_code(int status)
{
    switch (status) {
    case LG_OK: return EXIT_OK;
    case LG_EUSAGE: return EXIT_USAGE;
    case LG_EIO: return EXIT_IO;
    case LG_ENOMEM: return EXIT_NOMEM;
    case LG_EBUSY: return EXIT_BUSY;
    default: return EXIT_INPUT;
    }
}

int cli_report(const lg_error *err)
{
    fprintf(stderr, "layergeom: %s\n", err->msg[0] ? err->msg : lg_status_name(err->code));
    return cli_exit_code(err->code ? err->code : LG_EINPUT);
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "layergeom %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'layergeom %s --help')\n", cmd);
    return EXIT_USAGE;
}

int cli_opt(int argc, char **argv, int *i, const char *name, const char **val)
{
    const char *a = argv[*i];
    size_t l = strlen(name);
    if (strncmp(a, name, l) != 0)
        return 0;
    if (a[l] == '=') {
        *val = a + l + 1;
        return 1;
    }
    if (a[l] != 0)
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "layergeom: option %s needs a value\n", name);
        return -1;
    }
    *val = argv[++*i];
    return 1;
}

int cli_flag(char **argv, int i, const char *name)
{
    return strcmp(argv[i], name) == 0;
}

int cli_is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

int cli_parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    if (!*s || *s == '-')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno || v > max)
        return -1;
    *out = v;
    return 0;
}

int cli_parse_size(const char *s, unsigned long long *out)
{
    char *end;
    if (!*s || *s == '-')
        return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || v < 0)
        return -1;
    double m = 1;
    switch (*end) {
    case 'k': case 'K': m = 1024.0; end++; break;
    case 'm': case 'M': m = 1024.0 * 1024; end++; break;
    case 'g': case 'G': m = 1024.0 * 1024 * 1024; end++; break;
    case 't': case 'T': m = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end == 'B' || *end == 'b' || (*end == 'i' && end[1] == 'B' && end++))
        end++;
    if (*end || v * m > 1.8e19)
        return -1;
    *out = (unsigned long long)(v * m);
    return 0;
}

const char *cli_human(double b, char *buf, size_t cap)
{
    const char *u[] = {"B", "KB", "MB", "GB", "TB"};
    int k = 0;
    while (b >= 1000 && k < 4) {
        b /= 1000;
        k++;
    }
    snprintf(buf, cap, k ? "%.1f %s" : "%.0f %s", b, u[k]);
    return buf;
}

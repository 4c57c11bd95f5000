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
    uint64_t v;
    if (lg_parse_size(s, &v))
        return -1;
    *out = v;
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

int cli_writer_opt(int argc, char **argv, int *i, lg_writer_opts *o, const char *cmd)
{
    const char *v;
    int r;
    unsigned long long u;
    if ((r = cli_opt(argc, argv, i, "--codec", &v)) != 0) {
        if (r < 0 || lg_codec_parse(v, &o->codec))
            return cli_usage(cmd, "--codec takes none, lz4 or zstd"), -1;
    } else if ((r = cli_opt(argc, argv, i, "--level", &v)) != 0) {
        char *end;
        long l = r < 0 ? 0 : strtol(v, &end, 10);
        if (r < 0 || *end || l < -7 || l > 22)
            return cli_usage(cmd, "--level takes an integer (zstd 1..22, lz4 0..12)"), -1;
        o->level = (int)l;
    } else if ((r = cli_opt(argc, argv, i, "--dtype", &v)) != 0) {
        if (r < 0 || lg_dtype_parse(v, &o->dtype))
            return cli_usage(cmd, "--dtype takes keep, f32, f16, bf16 or f64"), -1;
    } else if ((r = cli_opt(argc, argv, i, "--chunk-rows", &v)) != 0) {
        if (r < 0 || cli_parse_uint(v, 1u << 30, &u) || u == 0)
            return cli_usage(cmd, "--chunk-rows takes a positive integer"), -1;
        o->chunk_rows = (uint32_t)u;
    } else if ((r = cli_opt(argc, argv, i, "--commit-every", &v)) != 0) {
        char *end;
        double sec = r < 0 ? -1 : strtod(v, &end);
        if (r < 0 || *end || !(sec >= 0 && sec <= 1e9))
            return cli_usage(cmd, "--commit-every takes seconds (0: only when a layer is new, "
                                  "and at the end)"), -1;
        o->commit_seconds = sec;
    } else if ((r = cli_opt(argc, argv, i, "--commit-size", &v)) != 0) {
        if (r < 0 || cli_parse_size(v, &u))
            return cli_usage(cmd, "--commit-size takes a size such as 256M (0: no limit)"), -1;
        o->commit_bytes = u;
    } else if (cli_flag(argv, *i, "--shuffle")) {
        o->filter = LG_FILTER_SHUFFLE;
    } else if (cli_flag(argv, *i, "--no-sync")) {
        o->durable = 0;
    } else {
        return 0;
    }
    return 1;
}

FILE *cli_open_out(const char *path)
{
    return strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
}

int cli_close_out(FILE *f, const char *path)
{
    int bad = ferror(f);
    if (f == stdout)
        bad |= fflush(f) != 0;
    else
        bad |= fclose(f) != 0;
    if (bad)
        fprintf(stderr, "layergeom: %s: write failed\n", path);
    return bad ? EXIT_IO : EXIT_OK;
}

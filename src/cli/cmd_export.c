/* layergeom export: a layer (or a label set) back to .npy.  Written to a
 * temporary file and renamed, so an existing output is never half-replaced. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"

static const char help[] =
    "usage: layergeom export STORE (--layer I|NAME | --labels [SET]) -o OUT.npy [--dtype T]\n"
    "       layergeom export STORE --stream -o OUT|-\n"
    "\n"
    "Writes one layer as an N x D .npy in its stored type (bf16 is widened to\n"
    "f32, since .npy has no bf16), or a label set as an int64 .npy.\n";

enum { OPT_LAYER, OPT_LABELS, OPT_DTYPE, OPT_STREAM, OPT_OUT, OPT_FORCE };
static const cli_spec opts[] = {
    {OPT_LAYER, "--layer", NULL, "I|NAME", "layer index (as listed by info), id or name"},
    {OPT_LABELS, "--labels", NULL, NULL, "a label set instead (--labels SET: that one; default: the "
                                      "first)"},
    {OPT_DTYPE, "--dtype", NULL, "T", "f32 | f16 | f64: convert on the way out"},
    {OPT_STREAM, "--stream", NULL, NULL,
     "the whole store (layers, labels, metadata) in the stream\nform, for 'layergeom ingest' at "
     "the other end of a pipe"},
    {OPT_OUT, "--output", "-o", "FILE", "output file ('-' for stdout); an existing file is\n"
                                        "refused unless --force, a store always"},
    {OPT_FORCE, "--force", NULL, NULL, "replace an existing output file (never a store)"},
};

/* The output may replace an existing file only with --force, and never
 * the input itself or any store (export writes arrays and streams, and a
 * store overwritten by one is lost). */
static int check_output(const char *out, const char *store, int force)
{
    struct stat so, ss;
    if (stat(out, &so) != 0) {
        if (lstat(out, &so) == 0 && !force) { /* a link to nothing: still a name in use */
            fprintf(stderr,
                    "layergeom: %s: is a symbolic link to a file that does not exist; add "
                    "--force to replace the link\n",
                    out);
            return EXIT_USAGE;
        }
        return EXIT_OK; /* a new file */
    }
    if (stat(store, &ss) == 0 && so.st_dev == ss.st_dev && so.st_ino == ss.st_ino) {
        fprintf(stderr, "layergeom: %s: is the store being exported; choose another output\n",
                out);
        return EXIT_USAGE;
    }
    if (S_ISDIR(so.st_mode)) {
        fprintf(stderr, "layergeom: %s: is a directory; -o takes a file name\n", out);
        return EXIT_USAGE;
    }
    unsigned char head[8] = {0};
    FILE *f = fopen(out, "rb");
    size_t got = f ? fread(head, 1, sizeof head, f) : 0;
    if (f)
        fclose(f);
    if (got == 8 && !memcmp(head, "\x89LGS\r\n\x1a\n", 8)) {
        fprintf(stderr, "layergeom: %s: is a layergeom store; export never writes over one\n",
                out);
        return EXIT_USAGE;
    }
    if (!force) {
        fprintf(stderr, "layergeom: %s: exists; add --force to replace it\n", out);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

int cmd_export(int argc, char **argv)
{
    const char *path = NULL, *layer = NULL, *out = NULL, *set = NULL;
    int labels = 0, stream = 0, force = 0;
    lg_dtype t = LG_DTYPE_KEEP;
    cli_parser p;
    cli_parser_init(&p, argc, argv, "export", opts, sizeof opts / sizeof *opts);
    const char *v;
    int labels_at = -1;
    for (int id; (id = cli_next(&p, &v)) != CLI_END;) {
        switch (id) {
        case CLI_HELP:
            cli_print_help(help, opts, sizeof opts / sizeof *opts, NULL, 0);
            return EXIT_OK;
        case CLI_BAD: return EXIT_USAGE;
        case OPT_LAYER: layer = v; break;
        case OPT_OUT: out = v; break;
        case OPT_DTYPE:
            if (lg_dtype_parse(v, &t) || t == LG_BF16)
                return cli_usage("export", "--dtype takes f32, f16 or f64");
            break;
        case OPT_STREAM: stream = 1; break;
        case OPT_FORCE: force = 1; break;
        case OPT_LABELS:
            labels = 1;
            labels_at = p.i;
            break;
        default: /* positional */
            if (!path)
                path = v;
            else if (labels_at == p.i - 1) /* --labels SET */
                set = v;
            else
                return cli_usage("export", "unexpected argument '%s'", v);
        }
    }
    if (!path || !out || (!layer + !labels + !stream) != 2)
        return cli_usage("export", "needs STORE, -o OUT and one of --layer, --labels, --stream");
    int bad = strcmp(out, "-") ? check_output(out, path, force) : EXIT_OK;
    if (bad)
        return bad;
    lg_store *s;
    lg_error err = {0};
    if (lg_store_open(path, 0, &s, &err))
        return cli_report(&err);
    long li = -1;
    if (layer) {
        char *end;
        unsigned long idx = strtoul(layer, &end, 10);
        li = (*layer && !*end && idx < lg_store_layer_count(s)) ? (long)idx
                                                                : lg_store_find_layer(s, layer);
        if (li < 0) {
            fprintf(stderr, "layergeom: %s: no layer '%s' (see 'layergeom info %s')\n", path,
                    layer, path);
            lg_store_close(s);
            return EXIT_INPUT;
        }
    }
    int to_stdout = strcmp(out, "-") == 0;
    if (to_stdout) /* a reader that stops early (| head) is an EPIPE, not a death */
        signal(SIGPIPE, SIG_IGN);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", out, (long)getpid());
    int fd = to_stdout ? STDOUT_FILENO : open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    int rc;
    if (fd < 0) {
        err.code = LG_EIO;
        snprintf(err.msg, sizeof err.msg, "%s: cannot create: %s", tmp, strerror(errno));
        rc = LG_EIO;
    } else {
        rc = stream   ? lg_export_stream(s, fd, &err)
             : labels ? lg_export_labels(s, set, fd, &err)
                      : lg_export_layer(s, (size_t)li, t, fd, &err);
        if (!to_stdout) {
            if (!rc && (fsync(fd) != 0 || close(fd) != 0)) {
                err.code = LG_EIO;
                snprintf(err.msg, sizeof err.msg, "%s: %s", tmp, strerror(errno));
                rc = LG_EIO;
            } else if (rc) {
                close(fd);
            }
            if (!rc && rename(tmp, out) != 0) {
                err.code = LG_EIO;
                snprintf(err.msg, sizeof err.msg, "%s: cannot rename to %s: %s", tmp, out,
                         strerror(errno));
                rc = LG_EIO;
            }
            if (rc)
                unlink(tmp);
        }
    }
    lg_store_close(s);
    if (rc && to_stdout && strstr(err.msg, strerror(EPIPE)))
        return EXIT_OK; /* the reader had what it wanted */
    return rc ? cli_report(&err) : EXIT_OK;
}

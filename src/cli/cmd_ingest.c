/* layergeom ingest: activations from a pipe (or a file) into a store. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const char help[] =
    "usage: layergeom ingest -o STORE [options] [- | FILE]\n"
    "\n"
    "Reads activations from standard input (or FILE) and writes them to STORE as\n"
    "they arrive.  The input is either the store's stream form (what the Python\n"
    "producer in samples/python writes) or .npy arrays announced by 'LGNPY' frame\n"
    "lines (formats/npy-framing.md); the form is detected.  Layers may come one\n"
    "at a time or batch by batch (every layer of a batch of inputs at once).\n"
    "Whenever every layer holds the same rows the store is committed (synced),\n"
    "at least every 5 seconds: if the producer dies, every committed row is kept\n"
    "and the message says what was lost, at which input offset.\n"
    "\n"
    "\n";

enum { OPT_OUT, OPT_APPEND, OPT_QUIET };
static const cli_spec opts[] = {
    {OPT_OUT, "--output", "-o", "STORE", "the store to create (refuses to overwrite one)"},
    {OPT_APPEND, "--append", NULL, NULL,
     "add to an existing STORE: new layers, or more rows of\nevery layer (a batch-by-batch "
     "producer resuming at row N)"},
    {OPT_QUIET, "--quiet", "-q", NULL, "no summary"},
};

static long fd_read(void *ctx, void *buf, size_t len)
{
    int fd = *(int *)ctx;
    for (;;) {
        ssize_t n = read(fd, buf, len);
        if (n >= 0 || errno != EINTR)
            return (long)n;
    }
}

int cmd_ingest(int argc, char **argv)
{
    const char *out = NULL, *in = NULL;
    int append = 0, quiet = 0;
    lg_writer_opts o;
    lg_writer_opts_default(&o);
    cli_parser p;
    cli_parser_init(&p, argc, argv, "ingest", opts, sizeof opts / sizeof *opts);
    p.extra = cli_writer_specs;
    p.n_extra = cli_writer_spec_count;
    const char *v;
    int done = -1;
    for (int id; (id = cli_next_opt(&p, &v, help, &done)) != CLI_END;) {
        if (id >= CLI_W_CODEC) {
            if (cli_writer_apply(id, v, &o, "ingest"))
                return EXIT_USAGE;
        } else if (id == OPT_OUT) {
            out = v;
        } else if (id == OPT_APPEND) {
            append = 1;
        } else if (id == OPT_QUIET) {
            quiet = 1;
        } else if (in) {
            return cli_usage("ingest", "one input at a time");
        } else {
            in = v;
        }
    }
    if (done >= 0)
        return done;
    if (!out)
        return cli_usage("ingest", "missing -o STORE");
    int fd = STDIN_FILENO;
    if ((!in || !strcmp(in, "-")) && fcntl(STDIN_FILENO, F_GETFD) == -1) {
        /* a closed stdin: the store would take fd 0 and be read as the input */
        fprintf(stderr, "layergeom: standard input is closed: give the input as FILE or '-' "
                        "with a pipe\n");
        return EXIT_USAGE;
    }
    if (in && strcmp(in, "-") != 0 && (fd = open(in, O_RDONLY | O_CLOEXEC)) < 0) {
        fprintf(stderr, "layergeom: %s: cannot open: %s\n", in, strerror(errno));
        return EXIT_INPUT;
    }
#ifdef F_SETPIPE_SZ
    /* a larger pipe: fewer wake-ups of producer and ingest per megabyte (the
     * kernel caps it at /proc/sys/fs/pipe-max-size; failure only costs speed) */
    (void)fcntl(fd, F_SETPIPE_SZ, 1 << 20);
#endif
    lg_error err = {0};
    lg_writer *w;
    /* --append on a store that is not there yet starts it (a loop of
     * `producer | layergeom ingest --append -o run.lgs` needs no first case) */
    int created = !append || access(out, F_OK) != 0;
    int rc = created ? lg_writer_create(out, &o, &w, &err) : lg_writer_append(out, &o, &w, &err);
    if (rc) {
        if (fd != STDIN_FILENO)
            close(fd);
        return cli_report(&err);
    }
    lg_ingest_stats st;
    rc = lg_ingest(fd_read, &fd, w, &st, &err);
    lg_error cerr = {0};
    int crc = lg_writer_close(w, rc ? &cerr : &err);
    if (fd != STDIN_FILENO)
        close(fd);
    if (rc) {
        cli_report(&err);
        /* say what the store holds now, from the store itself; a store this
         * run created that holds nothing is removed, so a rerun can create it */
        lg_store *s;
        lg_error oerr;
        if (lg_store_open(out, 0, &s, &oerr) == LG_OK) {
            int empty = !lg_store_layer_count(s) && !lg_store_label_set_count(s) &&
                        !lg_store_meta_count(s);
            if (created && empty) {
                lg_store_close(s);
                s = NULL;
                if (unlink(out) == 0)
                    fprintf(stderr, "layergeom: %s kept nothing%s%s, and was removed\n", out,
                            st.lost[0] ? ": " : "", st.lost);
            } else {
                fprintf(stderr, "layergeom: %s keeps %zu layers of %llu rows%s%s\n", out,
                        lg_store_layer_count(s), (unsigned long long)lg_store_rows(s),
                        st.lost[0] ? "; " : "", st.lost);
            }
            lg_store_close(s);
        }
        return cli_exit_code(rc);
    }
    if (crc)
        return cli_report(&err);
    if (!quiet) {
        char h[32];
        printf("%s: ingested %llu layers, %llu rows, %s of %s in %.2f s (%.0f MB/s)\n", out,
               (unsigned long long)st.layers, (unsigned long long)st.rows,
               cli_human((double)st.bytes, h, sizeof h),
               st.form == 1 ? "stream form" : ".npy frames", st.seconds,
               st.seconds > 0 ? (double)st.bytes / st.seconds / 1e6 : 0.0);
    }
    return EXIT_OK;
}

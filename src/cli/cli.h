/* Shared pieces of the command-line program: option parsing, messages,
 * exit codes.  The program is thin: it parses, calls the library, prints. */
#ifndef LG_CLI_H
#define LG_CLI_H

#include <stdio.h>

#include "cli/opts.h"
#include "layergeom.h"

/* Exit codes (docs/layergeom.1.md lists them). */
enum {
    EXIT_OK = 0,
    EXIT_INPUT = 1, /* bad or corrupt input */
    EXIT_USAGE = 2,
    EXIT_IO = 3,
    EXIT_NOMEM = 4,
    EXIT_BUSY = 5
};

int cli_exit_code(int status);
/* Prints "layergeom: <msg>" to stderr and returns the exit code for err. */
int cli_report(const lg_error *err);
/* Prints a usage error and returns EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* -h or --help. */
int cli_is_help(const char *arg);
/* Parses a size with an optional K/M/G/T suffix (powers of 1024). */
int cli_parse_size(const char *s, unsigned long long *out);
int cli_parse_uint(const char *s, unsigned long long max, unsigned long long *out);
/* The store-writing options shared by pack and ingest: a table to give
 * cli_parser as its second table, and what each does to the writer's
 * options (0, or EXIT_USAGE after a message). */
enum {
    CLI_W_CODEC = 100,
    CLI_W_LEVEL,
    CLI_W_SHUFFLE,
    CLI_W_DTYPE,
    CLI_W_CHUNK_ROWS,
    CLI_W_COMMIT_EVERY,
    CLI_W_COMMIT_SIZE,
    CLI_W_NO_SYNC
};
extern const cli_spec cli_writer_specs[];
extern const size_t cli_writer_spec_count;
int cli_writer_apply(int id, const char *v, lg_writer_opts *o, const char *cmd);
/* An output file, "-" for stdout; closing reports a failed write. */
FILE *cli_open_out(const char *path);
int cli_close_out(FILE *f, const char *path);
/* "12.3 MB" */
const char *cli_human(double bytes, char *buf, size_t cap);

int cmd_pack(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_profile(int argc, char **argv);
int cmd_ingest(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_rename(int argc, char **argv);

#endif

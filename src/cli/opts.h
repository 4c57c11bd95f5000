/* Option tables: every command lists its options once -- name, short alias,
 * argument, help -- and its parsing, its --help and the "did you mean"
 * suggestion for a mistyped option all come from that list. */
#ifndef LG_CLI_OPTS_H
#define LG_CLI_OPTS_H

#include <stddef.h>

typedef struct cli_spec {
    int id;            /* what cli_next returns for it (>= 0) */
    const char *name;  /* "--layer" */
    const char *alias; /* "-o", or NULL */
    const char *arg;   /* the value's placeholder ("I|NAME"), NULL for a flag */
    const char *help;  /* a line, '\n' between continuation lines */
} cli_spec;

typedef struct cli_parser {
    int argc;
    char **argv;
    int i;             /* the argument read last */
    const char *cmd;
    const cli_spec *specs;
    size_t n;
    const cli_spec *extra; /* a second table (profile: the job's settings) */
    size_t n_extra;
} cli_parser;

enum {
    CLI_POSITIONAL = -1, /* *val is an argument that is not an option */
    CLI_END = -2,
    CLI_BAD = -3,  /* reported already (unknown option, missing value) */
    CLI_HELP = -4  /* -h or --help */
};

void cli_parser_init(cli_parser *p, int argc, char **argv, const char *cmd, const cli_spec *specs,
                     size_t n);
/* The next option: its id with *val its value (NULL for a flag), or one of
 * the CLI_ codes.  "--name=value" works for options that take a value.  An
 * unknown option is reported with the nearest known one ("did you mean"). */
int cli_next(cli_parser *p, const char **val);
/* cli_next with -h and bad options handled: --help prints the help (from
 * usage and the tables) and sets *done = EXIT_OK, a bad option sets *done
 * = EXIT_USAGE (reported already); both then return CLI_END.  *done stays
 * as it was otherwise. */
int cli_next_opt(cli_parser *p, const char **val, const char *usage, int *done);
/* The spec cli_next matched last (for its name in messages). */
const cli_spec *cli_last(const cli_parser *p);
/* --help: the usage and description, then one line per option. */
void cli_print_help(const char *usage, const cli_spec *specs, size_t n, const cli_spec *extra,
                    size_t n_extra);
/* The known option nearest to a mistyped one, or NULL when none is close. */
const char *cli_nearest(const char *typed, const cli_spec *specs, size_t n, const cli_spec *extra,
                        size_t n_extra);

#endif

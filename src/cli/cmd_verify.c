/* layergeom verify: every checksum, and --repair for a store cut short. */
#include <string.h>

#include "cli/cli.h"

static const char help[] =
    "usage: layergeom verify STORE [--repair] [-v]\n"
    "\n"
    "Reads every record of STORE and checks its checksums, padding and\n"
    "structure, decodes every chunk, and checks that the file ends with a valid\n"
    "index.  Exit status 0 when all is well, 1 with the first problem (record,\n"
    "layer and file offset) otherwise.\n"
    "  --repair   for a store cut short (a crash while writing): keep every\n"
    "             complete record, move the incomplete tail to STORE.tail-OFFSET,\n"
    "             write a fresh index, then verify\n"
    "  -v         print a line for every record checked\n";

static void print_line(void *ctx, const char *line)
{
    (void)ctx;
    printf("  %s\n", line);
}

int cmd_verify(int argc, char **argv)
{
    const char *path = NULL;
    int repair = 0, verbose = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(help, stdout);
            return EXIT_OK;
        }
        if (cli_flag(argv, i, "--repair"))
            repair = 1;
        else if (cli_flag(argv, i, "-v") || cli_flag(argv, i, "--verbose"))
            verbose = 1;
        else if (argv[i][0] == '-')
            return cli_usage("verify", "unknown option '%s'", argv[i]);
        else if (path)
            return cli_usage("verify", "one store at a time");
        else
            path = argv[i];
    }
    if (!path)
        return cli_usage("verify", "missing STORE");
    lg_error err = {0};
    if (repair) {
        char note[LG_ERROR_MSG_MAX];
        if (lg_store_repair(path, note, sizeof note, &err))
            return cli_report(&err);
        printf("%s: repaired: %s\n", path, note);
    }
    if (lg_store_verify(path, verbose ? print_line : NULL, NULL, &err))
        return cli_report(&err);
    lg_store *s;
    if (lg_store_open(path, 0, &s, &err))
        return cli_report(&err);
    printf("%s: ok (%zu layers, %llu rows, every checksum verified)\n", path,
           lg_store_layer_count(s), (unsigned long long)lg_store_rows(s));
    lg_store_close(s);
    return EXIT_OK;
}

/* layergeom verify: every checksum; --repair for a store cut short, --salvage
 * for damage in the middle. */
#include <string.h>

#include "cli/cli.h"

static const char help[] =
    "usage: layergeom verify STORE [--repair | --salvage] [-v]\n"
    "\n"
    "Reads every record of STORE and checks its checksums, padding and\n"
    "structure, decodes every chunk, and checks that the file ends with a valid\n"
    "index.  Exit status 0 when every record in use is intact (damaged records\n"
    "nothing uses, left out by a salvage, are named), 1 with the first problem\n"
    "(record, layer and file offset) otherwise.\n";

enum { OPT_REPAIR, OPT_SALVAGE, OPT_VERBOSE };
static const cli_spec opts[] = {
    {OPT_REPAIR, "--repair", NULL, NULL,
     "for a store cut short (a crash while writing): keep every\ncomplete record, move the "
     "incomplete tail to STORE.tail-OFFSET,\nwrite a fresh index, then verify"},
    {OPT_SALVAGE, "--salvage", NULL, NULL,
     "for damage in the middle (a flipped bit with valid records after\nit): read every sound "
     "record, stepping over damaged bytes; leave out\nevery layer, label set or metadata whose "
     "records are damaged (a\nlayer has all its rows or none); write a fresh index of the rest,\n"
     "then verify.  Nothing is overwritten; what was left out is named"},
    {OPT_VERBOSE, "--verbose", "-v", NULL, "print a line for every record checked"},
};

static void print_line(void *ctx, const char *line)
{
    (void)ctx;
    printf("  %s\n", line);
}

int cmd_verify(int argc, char **argv)
{
    const char *path = NULL;
    int repair = 0, verbose = 0;
    cli_parser p;
    cli_parser_init(&p, argc, argv, "verify", opts, sizeof opts / sizeof *opts);
    const char *v;
    int done = -1;
    for (int id; (id = cli_next_opt(&p, &v, help, &done)) != CLI_END;) {
        if (id == OPT_REPAIR)
            repair = repair == 2 ? 3 : 1;
        else if (id == OPT_SALVAGE)
            repair = repair == 1 ? 3 : 2;
        else if (id == OPT_VERBOSE)
            verbose = 1;
        else if (path)
            return cli_usage("verify", "one store at a time");
        else
            path = v;
    }
    if (done >= 0)
        return done;
    if (!path)
        return cli_usage("verify", "missing STORE");
    if (repair == 3)
        return cli_usage("verify", "--repair or --salvage, not both (a salvage also cuts a torn "
                                   "end)");
    lg_error err = {0};
    if (lg_store_writer_active(path) == 1) {
        /* a live store has no index at its end while a layer is written:
         * that is not damage, and a repair would fight the writer */
        lg_store *s;
        size_t layers = 0;
        if (lg_store_open(path, LG_OPEN_NO_VERIFY, &s, &err) == LG_OK) {
            layers = lg_store_layer_count(s);
            lg_store_close(s);
        }
        fprintf(stderr,
                "layergeom: %s: being written by another process (%zu layers complete so far); "
                "verify it when the writer has finished%s\n",
                path, layers, repair ? " (no repair while it writes)" : "");
        return EXIT_BUSY;
    }
    if (repair) {
        char note[LG_ERROR_MSG_MAX];
        int rc = repair == 2 ? lg_store_salvage(path, note, sizeof note, &err)
                             : lg_store_repair(path, note, sizeof note, &err);
        if (rc)
            return cli_report(&err);
        printf("%s: %s: %s\n", path, repair == 2 ? "salvaged" : "repaired", note);
    }
    char unused[LG_ERROR_MSG_MAX];
    if (lg_store_verify_note(path, verbose ? print_line : NULL, NULL, unused, sizeof unused,
                             &err)) {
        if (err.code == LG_ECORRUPT && !repair) {
            /* the remedy for damage in the middle */
            size_t used = strlen(err.msg);
            snprintf(err.msg + used, sizeof err.msg - used,
                     "%s", strstr(err.msg, "verify --repair")
                               ? ""
                               : "; 'layergeom verify --salvage' writes an index without what "
                                 "is damaged");
        }
        return cli_report(&err);
    }
    lg_store *s;
    if (lg_store_open(path, 0, &s, &err))
        return cli_report(&err);
    printf("%s: ok (%zu layers, %llu rows, every checksum of the records in use verified)\n",
           path, lg_store_layer_count(s), (unsigned long long)lg_store_rows(s));
    if (unused[0])
        printf("%s: damaged records nothing uses (left out of the index): %s\n", path, unused);
    lg_store_close(s);
    return EXIT_OK;
}

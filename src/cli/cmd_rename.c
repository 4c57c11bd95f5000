/* layergeom rename: a layer gets a new name, by a new commit (nothing is
 * rewritten: the new SEAL names the same chunks). */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char help[] =
    "usage: layergeom rename STORE LAYER NEW_NAME\n"
    "\n"
    "Renames a layer (given by index, id or name, as 'layergeom info' lists them).\n"
    "The store gets one more commit; no row is rewritten, and a profile cache\n"
    "keeps its lists (they are keyed by the layer's content, not its name).\n";

static const cli_spec opts[] = {{0, "--quiet", "-q", NULL, "print nothing on success"}};

int cmd_rename(int argc, char **argv)
{
    const char *pos[3] = {NULL, NULL, NULL};
    int n = 0, quiet = 0;
    cli_parser p;
    cli_parser_init(&p, argc, argv, "rename", opts, sizeof opts / sizeof *opts);
    const char *v;
    int done = -1;
    for (int id; (id = cli_next_opt(&p, &v, help, &done)) != CLI_END;) {
        if (id == 0)
            quiet = 1;
        else if (n == 3)
            return cli_usage("rename", "STORE LAYER NEW_NAME, nothing more");
        else
            pos[n++] = v;
    }
    if (done >= 0)
        return done;
    if (n != 3)
        return cli_usage("rename", "needs STORE, LAYER and NEW_NAME");
    lg_error err = {0};
    /* the layer as info lists it: an index, an id or a name */
    lg_store *s;
    if (lg_store_open(pos[0], LG_OPEN_NO_VERIFY, &s, &err))
        return cli_report(&err);
    char *end;
    unsigned long idx = strtoul(pos[1], &end, 10);
    long li = *pos[1] && !*end && idx < lg_store_layer_count(s) ? (long)idx
                                                                : lg_store_find_layer(s, pos[1]);
    char old[LG_MAX_NAME + 1] = "";
    if (li >= 0) {
        lg_layer_info L;
        lg_store_layer(s, (size_t)li, &L);
        snprintf(old, sizeof old, "%s", L.name);
    }
    lg_store_close(s);
    if (li < 0) {
        fprintf(stderr, "layergeom: %s: no layer '%s' (see 'layergeom info %s')\n", pos[0],
                pos[1], pos[0]);
        return EXIT_INPUT;
    }
    lg_writer_opts o;
    lg_writer_opts_default(&o);
    lg_writer *w;
    if (lg_writer_append(pos[0], &o, &w, &err))
        return cli_report(&err);
    if (lg_writer_rename_layer(w, old, pos[2], &err)) {
        lg_writer_abort(w);
        return cli_report(&err);
    }
    if (lg_writer_close(w, &err))
        return cli_report(&err);
    if (!quiet)
        printf("%s: layer %ld '%s' is now '%s'\n", pos[0], li, old, pos[2]);
    return EXIT_OK;
}

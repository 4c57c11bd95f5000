/* layergeom: profile the geometry of a network's hidden representations. */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli/cli.h"

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *what;
} commands[] = {
    {"pack", cmd_pack, "import .npy / safetensors / raw activations into a store"},
    {"ingest", cmd_ingest, "write activations arriving on a pipe (stdin) into a store"},
    {"info", cmd_info, "list the layers, labels and metadata of a store"},
    {"verify", cmd_verify, "check every checksum of a store; --repair a store cut short"},
    {"export", cmd_export, "write one layer (or the labels) of a store as .npy"},
    {"rename", cmd_rename, "give a layer of a store a new name (a new commit, nothing rewritten)"},
    {"profile", cmd_profile, "intrinsic dimension and overlaps of every layer; the best layer"},
    {"compare", cmd_compare, "two profiles side by side (table, HTML report, SVG)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: layergeom COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].what);
    fprintf(f, "\n'layergeom COMMAND --help' describes each.  Exit status: 0 ok, 1 bad or "
               "corrupt input,\n2 usage, 3 i/o error, 4 out of memory, 5 store busy.\n");
}

/* The commands that multiply matrices run with the BLAS kernels this CPU
 * supports: when OpenBLAS fell back to a generic kernel (a CPU newer than
 * it), restart once with OPENBLAS_CORETYPE set.  A choice already in the
 * environment is the user's and is kept; LAYERGEOM_BLAS=keep turns this off.
 * Under an address-space limit (ulimit -v) OpenBLAS's own threads, started
 * when it loads, each take a 128 MiB buffer and spin forever when refused
 * (and exit waits for them): then it runs without them (OPENBLAS_NUM_THREADS
 * = 1; our own threads still share the work), and the kNN says beforehand
 * when even that does not fit. */
static void choose_blas(char **argv)
{
    const char *keep = getenv("LAYERGEOM_BLAS");
    if (keep && strcmp(keep, "keep") == 0)
        return;
    int changed = 0;
    const char *better = getenv("OPENBLAS_CORETYPE") ? NULL : lg_blas_better_kernel();
    if (better) {
        setenv("OPENBLAS_CORETYPE", better, 1);
        changed = 1;
    }
    struct rlimit rl;
    if (!getenv("OPENBLAS_NUM_THREADS") && getrlimit(RLIMIT_AS, &rl) == 0 &&
        rl.rlim_cur != RLIM_INFINITY) {
        setenv("OPENBLAS_NUM_THREADS", "1", 1);
        changed = 1;
    }
    if (!changed)
        return;
    setenv("LAYERGEOM_BLAS", "keep", 1); /* once */
    execv("/proc/self/exe", argv);
    /* could not restart: go on with the kernel there is */
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "profile") == 0 || strcmp(argv[1], "compare") == 0))
        choose_blas(argv);
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (cli_is_help(argv[1])) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("layergeom %s\n", LG_VERSION_STRING);
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "layergeom: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}

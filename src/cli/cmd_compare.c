/* layergeom compare: two profiles overlaid (two models, or exact against
 * approximate). */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "cli/cli.h"

static const char help[] =
    "usage: layergeom compare A.json B.json [--report cmp.html] [--plot cmp.svg]\n"
    "\n"
    "Reads two profiles written by 'layergeom profile --json' and prints them side\n"
    "by side (ID per layer, the difference, the recommended layers); --report\n"
    "writes an HTML page with the two profiles overlaid, --plot the figure alone.\n";

enum { OPT_REPORT, OPT_PLOT };
static const cli_spec opts[] = {
    {OPT_REPORT, "--report", NULL, "FILE", "an HTML page with the two profiles overlaid"},
    {OPT_PLOT, "--plot", NULL, "FILE", "the overlaid figure alone, as SVG"},
};

static int write_to(const char *path, const lg_profile *a, const lg_profile *b, const char *na,
                    const char *nb, int html)
{
    FILE *f = cli_open_out(path);
    if (!f) {
        fprintf(stderr, "layergeom: %s: cannot write: %s\n", path, strerror(errno));
        return EXIT_IO;
    }
    if (html) {
        lg_report_compare_html(f, a, b, na, nb);
    } else {
        lg_report_compare_svg(f, a, b, na, nb);
    }
    return cli_close_out(f, path);
}

int cmd_compare(int argc, char **argv)
{
    const char *in[2] = {NULL, NULL}, *report = NULL, *plot = NULL;
    int n = 0;
    cli_parser args;
    cli_parser_init(&args, argc, argv, "compare", opts, sizeof opts / sizeof *opts);
    const char *v;
    int done = -1;
    for (int id; (id = cli_next_opt(&args, &v, help, &done)) != CLI_END;) {
        if (id == OPT_REPORT)
            report = v;
        else if (id == OPT_PLOT)
            plot = v;
        else if (n == 2)
            return cli_usage("compare", "two profiles, not more");
        else
            in[n++] = v;
    }
    if (done >= 0)
        return done;
    if (n != 2)
        return cli_usage("compare", "needs two profile JSON files");
    lg_profile p[2];
    lg_error err = {0};
    if (lg_profile_load_json(in[0], &p[0], &err))
        return cli_report(&err);
    if (lg_profile_load_json(in[1], &p[1], &err)) {
        lg_profile_free(&p[0]);
        return cli_report(&err);
    }
    printf("A: %s\nB: %s\n\n%5s  %-16s %9s %9s %9s\n", in[0], in[1], "layer", "name", "ID A",
           "ID B", "B - A");
    size_t rows = p[0].n_layers > p[1].n_layers ? p[0].n_layers : p[1].n_layers;
    for (size_t q = 0; q < rows; q++) {
        const lg_layer_result *a = q < p[0].n_layers ? &p[0].layers[q] : NULL;
        const lg_layer_result *b = q < p[1].n_layers ? &p[1].layers[q] : NULL;
        printf("%5zu  %-16.16s", a ? a->index : b->index, a ? a->name : b->name);
        if (a)
            printf(" %9.2f", a->id);
        else
            printf(" %9s", "-");
        if (b)
            printf(" %9.2f", b->id);
        else
            printf(" %9s", "-");
        if (a && b)
            printf(" %+9.2f\n", b->id - a->id);
        else
            printf(" %9s\n", "-");
    }
    for (int k = 0; k < 2; k++)
        if (p[k].rec.index >= 0)
            printf("%s recommends layer %zu (%s)\n", k ? "B" : "A",
                   p[k].layers[p[k].rec.index].index, p[k].layers[p[k].rec.index].name);
    int code = EXIT_OK;
    if (report)
        code = write_to(report, &p[0], &p[1], in[0], in[1], 1);
    if (!code && plot)
        code = write_to(plot, &p[0], &p[1], in[0], in[1], 0);
    lg_profile_free(&p[0]);
    lg_profile_free(&p[1]);
    return code;
}

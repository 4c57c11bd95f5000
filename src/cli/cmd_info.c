/* layergeom info: what a store holds. */
#include <string.h>

#include "cli/cli.h"

static const char help[] =
    "usage: layergeom info STORE [--json]\n"
    "\n"
    "Lists the layers of a store (rows, columns, stored type, codec, bytes on\n"
    "disk, compression ratio), its label sets and metadata.  A store that was\n"
    "cut short is read as far as it is complete, with a warning on stderr.\n";

enum { OPT_JSON };
static const cli_spec opts[] = {
    {OPT_JSON, "--json", NULL, NULL, "the same as a JSON object on stdout"},
};

static void json_str(FILE *f, const char *s, size_t len)
{
    lg_report_json_string(f, s, len);
}

static void print_json(lg_store *s)
{
    printf("{\"path\": ");
    json_str(stdout, lg_store_path(s), strlen(lg_store_path(s)));
    printf(", \"rows\": %llu, \"file_bytes\": %llu, \"recovered\": %s, \"layers\": [",
           (unsigned long long)lg_store_rows(s), (unsigned long long)lg_store_file_size(s),
           lg_store_recovery(s) ? "true" : "false");
    for (size_t i = 0; i < lg_store_layer_count(s); i++) {
        lg_layer_info L;
        lg_store_layer(s, i, &L);
        printf("%s\n  {\"index\": %zu, \"id\": %u, \"name\": ", i ? "," : "", i, L.id);
        json_str(stdout, L.name, strlen(L.name));
        printf(", \"n\": %llu, \"d\": %u, \"dtype\": \"%s\", \"codec\": \"%s\", \"filter\": "
               "\"%s\", \"chunks\": %u, \"bytes_stored\": %llu, \"bytes_raw\": %llu, "
               "\"content_crc32c\": \"%08x\"}",
               (unsigned long long)L.n, L.d, lg_dtype_name(L.dtype), lg_codec_name(L.codec),
               lg_filter_name(L.filter), L.n_chunks, (unsigned long long)L.bytes_stored,
               (unsigned long long)L.bytes_raw, L.content_crc);
    }
    printf("],\n \"label_sets\": [");
    for (size_t i = 0; i < lg_store_label_set_count(s); i++) {
        printf("%s", i ? ", " : "");
        const char *name = lg_store_label_set_name(s, i);
        json_str(stdout, name, strlen(name));
    }
    printf("],\n \"meta\": {");
    for (size_t i = 0; i < lg_store_meta_count(s); i++) {
        const char *k;
        const void *v;
        size_t len;
        lg_store_meta_at(s, i, &k, &v, &len);
        printf("%s", i ? ", " : "");
        json_str(stdout, k, strlen(k));
        printf(": ");
        json_str(stdout, v, len);
    }
    printf("}}\n");
}

static void print_table(lg_store *s)
{
    char h1[32], h2[32];
    printf("%s: %zu layers, %llu rows, %s on disk\n", lg_store_path(s), lg_store_layer_count(s),
           (unsigned long long)lg_store_rows(s),
           cli_human((double)lg_store_file_size(s), h1, sizeof h1));
    if (lg_store_layer_count(s)) {
        printf("%5s  %-24s %9s %6s %-5s %-5s %-8s %7s %10s %10s %6s\n", "layer", "name", "rows",
               "dim", "dtype", "codec", "filter", "chunks", "on disk", "raw", "ratio");
        for (size_t i = 0; i < lg_store_layer_count(s); i++) {
            lg_layer_info L;
            lg_store_layer(s, i, &L);
            char safe[4 * LG_MAX_NAME + 8];
            printf("%5zu  %-24.24s %9llu %6u %-5s %-5s %-8s %7u %10s %10s %6.2f\n", i,
                   lg_report_safe_name(L.name, safe, sizeof safe),
                   (unsigned long long)L.n, L.d, lg_dtype_name(L.dtype), lg_codec_name(L.codec),
                   lg_filter_name(L.filter), L.n_chunks,
                   cli_human((double)L.bytes_stored, h1, sizeof h1),
                   cli_human((double)L.bytes_raw, h2, sizeof h2),
                   L.bytes_stored ? (double)L.bytes_raw / (double)L.bytes_stored : 0.0);
        }
    }
    for (size_t i = 0; i < lg_store_label_set_count(s); i++) {
        const int64_t *lab;
        uint64_t n;
        const char *name = lg_store_label_set_name(s, i);
        lg_store_labels(s, name, &lab, &n, NULL);
        int64_t lo = n ? lab[0] : 0, hi = lo;
        for (uint64_t k = 0; k < n; k++) {
            lo = lab[k] < lo ? lab[k] : lo;
            hi = lab[k] > hi ? lab[k] : hi;
        }
        char safe[4 * LG_MAX_NAME + 8];
        printf("labels '%s': %llu values in %lld..%lld\n",
               lg_report_safe_name(name, safe, sizeof safe), (unsigned long long)n, (long long)lo,
               (long long)hi);
    }
    for (size_t i = 0; i < lg_store_meta_count(s); i++) {
        const char *k;
        const void *v;
        size_t len;
        lg_store_meta_at(s, i, &k, &v, &len);
        /* one line per key: list values (newline-separated) shown with commas */
        const char *c = v;
        size_t shown = len > 100 ? 100 : len;
        char safe[4 * LG_MAX_NAME + 8];
        printf("meta %s = ", lg_report_safe_name(k, safe, sizeof safe));
        for (size_t j = 0; j < shown; j++)
            if (c[j] == '\n')
                fputs(", ", stdout);
            else
                putchar((unsigned char)c[j] < 0x20 || c[j] == 0x7f ? '?' : c[j]);
        printf("%s\n", len > shown ? "..." : "");
    }
}

int cmd_info(int argc, char **argv)
{
    const char *path = NULL;
    int json = 0;
    cli_parser p;
    cli_parser_init(&p, argc, argv, "info", opts, sizeof opts / sizeof *opts);
    const char *v;
    int done = -1;
    for (int id; (id = cli_next_opt(&p, &v, help, &done)) != CLI_END;) {
        if (id == OPT_JSON)
            json = 1;
        else if (path)
            return cli_usage("info", "one store at a time");
        else
            path = v;
    }
    if (done >= 0)
        return done;
    if (!path)
        return cli_usage("info", "missing STORE");
    lg_store *s;
    lg_error err = {0};
    if (lg_store_open(path, 0, &s, &err))
        return cli_report(&err);
    if (lg_store_recovery(s))
        fprintf(stderr, "layergeom: warning: %s\n", lg_store_recovery(s));
    if (json)
        print_json(s);
    else
        print_table(s);
    lg_store_close(s);
    return EXIT_OK;
}

#include "cli/opts.h"

#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const cli_spec *matched;

void cli_parser_init(cli_parser *p, int argc, char **argv, const char *cmd, const cli_spec *specs,
                     size_t n)
{
    memset(p, 0, sizeof *p);
    p->argc = argc;
    p->argv = argv;
    p->i = 0;
    p->cmd = cmd;
    p->specs = specs;
    p->n = n;
}

const cli_spec *cli_last(const cli_parser *p)
{
    (void)p;
    return matched;
}

/* Edit distance of two short strings (options), capped. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    size_t d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            size_t m = sub < del ? sub : del;
            m = m < ins ? m : ins;
            /* a swap of two neighbours counts as one */
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < m)
                m = d[i - 2][j - 2] + 1;
            d[i][j] = m;
        }
    return d[la][lb];
}

const char *cli_nearest(const char *typed, const cli_spec *specs, size_t n, const cli_spec *extra,
                        size_t n_extra)
{
    char name[64];
    snprintf(name, sizeof name, "%s", typed);
    char *eq = strchr(name, '=');
    if (eq)
        *eq = 0;
    const char *best = NULL;
    size_t best_d = 99;
    for (int t = 0; t < 2; t++) {
        const cli_spec *s = t ? extra : specs;
        size_t m = t ? n_extra : n;
        for (size_t i = 0; s && i < m; i++) {
            size_t d = distance(name, s[i].name);
            if (d < best_d) {
                best_d = d;
                best = s[i].name;
            }
        }
    }
    /* close enough to be a typo: a third of the name, at least 1 */
    size_t len = strlen(name);
    return best && best_d <= (len / 3 > 1 ? len / 3 : 1) ? best : NULL;
}

static const cli_spec *find(const cli_spec *s, size_t n, const char *arg, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if ((strlen(s[i].name) == len && !strncmp(s[i].name, arg, len)) ||
            (s[i].alias && strlen(s[i].alias) == len && !strncmp(s[i].alias, arg, len)))
            return &s[i];
    return NULL;
}

int cli_next(cli_parser *p, const char **val)
{
    *val = NULL;
    if (++p->i >= p->argc)
        return CLI_END;
    const char *a = p->argv[p->i];
    if (a[0] != '-' || !a[1]) { /* "-" alone is a value (stdin, stdout) */
        *val = a;
        return CLI_POSITIONAL;
    }
    if (cli_is_help(a))
        return CLI_HELP;
    const char *eq = a[1] == '-' ? strchr(a, '=') : NULL;
    size_t len = eq ? (size_t)(eq - a) : strlen(a);
    const cli_spec *s = find(p->specs, p->n, a, len);
    if (!s)
        s = find(p->extra, p->n_extra, a, len);
    if (!s) {
        const char *near = cli_nearest(a, p->specs, p->n, p->extra, p->n_extra);
        if (near)
            cli_usage(p->cmd, "unknown option '%s' (did you mean '%s'?)", a, near);
        else
            cli_usage(p->cmd, "unknown option '%s'", a);
        return CLI_BAD;
    }
    matched = s;
    if (!s->arg) {
        if (eq) {
            cli_usage(p->cmd, "%s takes no value", s->name);
            return CLI_BAD;
        }
        return s->id;
    }
    if (eq) {
        *val = eq + 1;
        return s->id;
    }
    if (p->i + 1 >= p->argc) {
        cli_usage(p->cmd, "%s needs a value (%s)", s->name, s->arg);
        return CLI_BAD;
    }
    *val = p->argv[++p->i];
    return s->id;
}

static void print_specs(const cli_spec *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s%s%s%s", s[i].alias ? s[i].alias : "",
                 s[i].alias ? ", " : "", s[i].name, s[i].arg ? " " : "",
                 s[i].arg ? s[i].arg : "");
        const char *h = s[i].help;
        int first = 1;
        while (h) {
            const char *nl = strchr(h, '\n');
            int hl = nl ? (int)(nl - h) : (int)strlen(h);
            if (first && strlen(left) > 22)
                printf("  %s\n  %-22s %.*s\n", left, "", hl, h);
            else
                printf("  %-22s %.*s\n", first ? left : "", hl, h);
            first = 0;
            h = nl ? nl + 1 : NULL;
        }
    }
}

void cli_print_help(const char *usage, const cli_spec *specs, size_t n, const cli_spec *extra,
                    size_t n_extra)
{
    fputs(usage, stdout);
    print_specs(specs, n);
    if (extra)
        print_specs(extra, n_extra);
}

int cli_next_opt(cli_parser *p, const char **val, const char *usage, int *done)
{
    int id = cli_next(p, val);
    if (id == CLI_HELP) {
        cli_print_help(usage, p->specs, p->n, p->extra, p->n_extra);
        *done = EXIT_OK;
        return CLI_END;
    }
    if (id == CLI_BAD) {
        *done = EXIT_USAGE;
        return CLI_END;
    }
    return id;
}

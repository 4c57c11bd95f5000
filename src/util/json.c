#include "util/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

typedef struct parser {
    const char *s;
    size_t len, pos;
    char *why;
    size_t why_cap;
    int failed;
} parser;

static void fail(parser *p, const char *what)
{
    if (!p->failed)
        snprintf(p->why, p->why_cap, "byte %zu: %s", p->pos, what);
    p->failed = 1;
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                               p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

void lgj_free(lgj *v)
{
    if (!v)
        return;
    free(v->str);
    for (size_t i = 0; i < v->len && v->items; i++) {
        lgj_free(v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v);
}

static int hex4(parser *p, unsigned *out)
{
    if (p->len - p->pos < 4)
        return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos++];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* After the opening quote; returns a malloc'd string. */
static char *parse_string(parser *p, size_t *out_len)
{
    size_t start = p->pos, n = 0;
    /* worst case the decoded string is no longer than the source */
    while (p->pos < p->len && p->s[p->pos] != '"') {
        if (p->s[p->pos] == '\\')
            p->pos++;
        p->pos++;
    }
    if (p->pos >= p->len) {
        fail(p, "unterminated string");
        return NULL;
    }
    size_t end = p->pos;
    char *o = malloc(end - start + 1);
    if (!o) {
        fail(p, "out of memory");
        return NULL;
    }
    p->pos = start;
    while (p->pos < end) {
        unsigned char c = (unsigned char)p->s[p->pos++];
        if (c < 0x20) {
            fail(p, "control character in string");
            goto bad;
        }
        if (c != '\\') {
            o[n++] = (char)c;
            continue;
        }
        char e = p->s[p->pos++];
        unsigned cp;
        switch (e) {
        case '"': o[n++] = '"'; break;
        case '\\': o[n++] = '\\'; break;
        case '/': o[n++] = '/'; break;
        case 'b': o[n++] = '\b'; break;
        case 'f': o[n++] = '\f'; break;
        case 'n': o[n++] = '\n'; break;
        case 'r': o[n++] = '\r'; break;
        case 't': o[n++] = '\t'; break;
        case 'u':
            if (hex4(p, &cp) || cp == 0) {
                fail(p, "bad \\u escape");
                goto bad;
            }
            if (cp >= 0xd800 && cp < 0xdc00) {
                unsigned lo;
                if (p->pos + 2 > end || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u' ||
                    (p->pos += 2, hex4(p, &lo)) || lo < 0xdc00 || lo > 0xdfff) {
                    fail(p, "bad surrogate pair");
                    goto bad;
                }
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp < 0xe000) {
                fail(p, "lone low surrogate");
                goto bad;
            }
            n += put_utf8(o + n, cp); /* never longer than the 6+ escape bytes */
            break;
        default:
            fail(p, "bad escape");
            goto bad;
        }
    }
    p->pos = end + 1;
    o[n] = 0;
    *out_len = n;
    return o;
bad:
    free(o);
    return NULL;
}

static lgj *parse_value(parser *p, int depth);

static int push(lgj *v, lgj *item, char *key)
{
    if ((v->len & (v->len - 1)) == 0) { /* grow at powers of two */
        size_t cap = v->len ? 2 * v->len : 4;
        lgj **items = realloc(v->items, cap * sizeof *items);
        if (!items)
            return -1;
        v->items = items;
        if (v->type == LGJ_OBJ) {
            char **keys = realloc(v->keys, cap * sizeof *keys);
            if (!keys)
                return -1;
            v->keys = keys;
        }
    }
    v->items[v->len] = item;
    if (v->type == LGJ_OBJ)
        v->keys[v->len] = key;
    v->len++;
    return 0;
}

static lgj *parse_container(parser *p, lgj *v, int depth)
{
    char close = v->type == LGJ_OBJ ? '}' : ']';
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return v;
    }
    for (;;) {
        char *key = NULL;
        skip_ws(p);
        if (v->type == LGJ_OBJ) {
            size_t kl;
            if (p->pos >= p->len || p->s[p->pos] != '"') {
                fail(p, "expected a string key");
                goto bad;
            }
            p->pos++;
            key = parse_string(p, &kl);
            if (!key)
                goto bad;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') {
                free(key);
                fail(p, "expected ':'");
                goto bad;
            }
            p->pos++;
        }
        lgj *item = parse_value(p, depth + 1);
        if (!item || push(v, item, key)) {
            if (item)
                fail(p, "out of memory");
            lgj_free(item);
            free(key);
            goto bad;
        }
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == close) {
            p->pos++;
            return v;
        }
        fail(p, v->type == LGJ_OBJ ? "expected ',' or '}'" : "expected ',' or ']'");
        goto bad;
    }
bad:
    lgj_free(v);
    return NULL;
}

static lgj *parse_value(parser *p, int depth)
{
    if (depth > MAX_DEPTH) {
        fail(p, "nested too deeply");
        return NULL;
    }
    skip_ws(p);
    if (p->pos >= p->len) {
        fail(p, "unexpected end of text");
        return NULL;
    }
    lgj *v = calloc(1, sizeof *v);
    if (!v) {
        fail(p, "out of memory");
        return NULL;
    }
    char c = p->s[p->pos];
    if (c == '{' || c == '[') {
        p->pos++;
        v->type = c == '{' ? LGJ_OBJ : LGJ_ARR;
        return parse_container(p, v, depth);
    }
    if (c == '"') {
        p->pos++;
        v->type = LGJ_STR;
        v->str = parse_string(p, &v->len);
        if (!v->str) {
            free(v);
            return NULL;
        }
        return v;
    }
    static const struct { const char *word; lgj_type t; double num; } words[] = {
        {"true", LGJ_BOOL, 1}, {"false", LGJ_BOOL, 0}, {"null", LGJ_NULL, 0}};
    for (size_t i = 0; i < 3; i++) {
        size_t wl = strlen(words[i].word);
        if (p->len - p->pos >= wl && memcmp(p->s + p->pos, words[i].word, wl) == 0) {
            p->pos += wl;
            v->type = words[i].t;
            v->num = words[i].num;
            return v;
        }
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        char buf[64];
        size_t n = 0;
        while (p->pos < p->len && n < sizeof buf - 1 && strchr("+-0123456789.eE", p->s[p->pos]))
            buf[n++] = p->s[p->pos++];
        buf[n] = 0;
        char *end;
        v->type = LGJ_NUM;
        v->num = strtod(buf, &end);
        if (*end || !isfinite(v->num)) {
            fail(p, "bad number");
            free(v);
            return NULL;
        }
        return v;
    }
    fail(p, "unexpected character");
    free(v);
    return NULL;
}

lgj *lgj_parse(const char *text, size_t len, char *why, size_t why_cap)
{
    parser p = {text, len, 0, why, why_cap, 0};
    lgj *v = parse_value(&p, 0);
    if (v) {
        skip_ws(&p);
        if (p.pos != len) {
            fail(&p, "text after the value");
            lgj_free(v);
            return NULL;
        }
    }
    return v;
}

const lgj *lgj_get(const lgj *obj, const char *key)
{
    if (!obj || obj->type != LGJ_OBJ)
        return NULL;
    for (size_t i = 0; i < obj->len; i++)
        if (strcmp(obj->keys[i], key) == 0)
            return obj->items[i];
    return NULL;
}

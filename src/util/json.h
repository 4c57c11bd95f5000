/* A small, strict JSON reader for the safetensors header (and other small
 * documents): depth-limited, bounds-checked, no trust in its input. */
#ifndef LG_UTIL_JSON_H
#define LG_UTIL_JSON_H

#include <stddef.h>

typedef enum { LGJ_NULL, LGJ_BOOL, LGJ_NUM, LGJ_STR, LGJ_ARR, LGJ_OBJ } lgj_type;

typedef struct lgj {
    lgj_type type;
    double num;      /* LGJ_NUM, LGJ_BOOL */
    char *str;       /* LGJ_STR: NUL-terminated UTF-8 (may hold no NUL inside) */
    size_t len;      /* LGJ_STR length; LGJ_ARR / LGJ_OBJ element count */
    char **keys;     /* LGJ_OBJ */
    struct lgj **items;
} lgj;

/* Parses text[0..len).  Returns NULL on error with a message in why
 * (naming the byte offset). */
lgj *lgj_parse(const char *text, size_t len, char *why, size_t why_cap);
void lgj_free(lgj *v);
/* Member of an object, or NULL. */
const lgj *lgj_get(const lgj *obj, const char *key);

#endif

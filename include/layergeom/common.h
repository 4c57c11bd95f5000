/*
 * layergeom/common.h -- status codes, the error record and element types
 * shared by every part of the library.
 *
 * Every fallible function returns an int status: 0 (LG_OK) on success, one
 * of the positive codes below otherwise.  When a caller passes a non-NULL
 * lg_error, it is filled with the same code and a one-line message that
 * names the file, the offset or field, and what was expected.  The library
 * never prints and never exits.
 */
#ifndef LAYERGEOM_COMMON_H
#define LAYERGEOM_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* LG_API marks what the shared library exports: the functions declared in
 * these headers, nothing else (the library is built with hidden visibility). */
#if defined(__GNUC__) || defined(__clang__)
#define LG_API __attribute__((visibility("default")))
#else
#define LG_API
#endif

#define LG_VERSION_MAJOR 0
#define LG_VERSION_MINOR 1
#define LG_VERSION_PATCH 0
#define LG_VERSION_STRING "0.1.0"

enum lg_status {
    LG_OK = 0,
    LG_EINPUT = 1,   /* malformed or unsupported input data */
    LG_EUSAGE = 2,   /* invalid argument from the caller */
    LG_EIO = 3,      /* the operating system refused a read, write or sync */
    LG_ECORRUPT = 4, /* a checksum or structural check of a store failed */
    LG_ENOMEM = 5,   /* allocation failed, or the memory budget is too small */
    LG_EBUSY = 6,    /* another writer holds the store */
    LG_ENOTFOUND = 7, /* no such layer, label set or file */
    LG_ECANCELED = 8  /* the caller asked to stop (its stop flag became non-zero) */
};

#define LG_ERROR_MSG_MAX 512

/* Limits of a store: columns of a layer, bytes of a layer's or label set's
 * name. */
#define LG_MAX_COLUMNS (1u << 24)
#define LG_MAX_NAME 4096u

typedef struct lg_error {
    int code;
    char msg[LG_ERROR_MSG_MAX];
} lg_error;

/* A short name for a status code ("ok", "bad input", ...). */
LG_API const char *lg_status_name(int code);

/* Element types of stored activations.  Values are the on-disk codes. */
typedef enum lg_dtype {
    LG_DTYPE_KEEP = 0, /* writer option only: store as the input arrives */
    LG_F32 = 1,
    LG_F16 = 2,
    LG_BF16 = 3,
    LG_F64 = 4
} lg_dtype;

typedef enum lg_codec { LG_CODEC_NONE = 0, LG_CODEC_LZ4 = 1, LG_CODEC_ZSTD = 2 } lg_codec;

typedef enum lg_filter { LG_FILTER_NONE = 0, LG_FILTER_SHUFFLE = 1 } lg_filter;

/* Bytes per element; 0 for an unknown type. */
LG_API size_t lg_dtype_size(lg_dtype t);
/* "f32", "f16", "bf16", "f64"; "?" for unknown.  Parsing returns 0 on success. */
LG_API const char *lg_dtype_name(lg_dtype t);
LG_API int lg_dtype_parse(const char *s, lg_dtype *out);
LG_API const char *lg_codec_name(lg_codec c);
LG_API int lg_codec_parse(const char *s, lg_codec *out);
LG_API const char *lg_filter_name(lg_filter f);

/* Widen n elements of type t (little-endian, as stored) to float32. */
LG_API void lg_to_f32(lg_dtype t, const void *src, float *dst, size_t n);

#ifdef __cplusplus
}
#endif
#endif

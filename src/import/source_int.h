/* What every importer fills in: a list of strided layer views of a mapped file. */
#ifndef LG_IMPORT_SOURCE_INT_H
#define LG_IMPORT_SOURCE_INT_H

#include "layergeom/import.h"

typedef struct lgsrc_layer {
    char *name;
    uint64_t n;
    uint32_t d;
    lg_dtype dtype;
    int swap; /* big-endian elements */
    const unsigned char *base;
    uint64_t si, sj; /* element strides of row i and column j */
    /* per-token inputs (tokens.c): pool != 0 pools `tokens` rows of
     * src_dtype into one float32 row; keep (pool == 0, with a mask) lists the
     * kept tokens' rows; mask is N x tokens, 1 = kept.  Shared by the layers
     * of one stack (owned by the first). */
    int pool;
    uint32_t tokens;
    lg_dtype src_dtype;
    const uint64_t *keep;
    const unsigned char *mask;
    int owns_keep, owns_mask;
    uint64_t inputs; /* per-token layers: N, the inputs the tokens come from */
} lgsrc_layer;

struct lg_source {
    char *path;
    void *map;
    size_t map_len;
    lgsrc_layer *layers;
    size_t n_layers;
};

/* Maps path read-only into a new source (layers still empty). */
int lgsrc_map(const char *path, lg_source **out, lg_error *err);
/* Appends a layer view; name is copied. */
int lgsrc_add(lg_source *src, const char *name, uint64_t n, uint32_t d, lg_dtype t, int swap,
              const unsigned char *base, uint64_t si, uint64_t sj, lg_error *err);

/* A parsed .npy header. */
typedef struct npy_info {
    char kind; /* 'f', 'i', 'u', 'b' */
    int size;  /* bytes per element */
    int big;   /* big-endian */
    int fortran;
    int ndim;
    uint64_t shape[8];
    uint64_t count; /* product of shape */
    uint64_t data_off;
} npy_info;

/* Parses and checks a .npy header (p holds at least the header; len bytes). */
int npy_parse_header(const char *path, const unsigned char *p, size_t len, npy_info *info,
                     lg_error *err);
/* The same, and checks that the data size matches the shape (p is the whole file). */
int npy_parse(const char *path, const unsigned char *p, size_t len, npy_info *info,
              lg_error *err);

/* Rows of a per-token layer (tokens.c); LG_ENOMEM or LG_OK. */
int lgsrc_read_tokens(const lgsrc_layer *L, uint64_t row0, size_t n, void *out);

/* The element type of a float .npy (float16/32/64), else LG_DTYPE_KEEP. */
lg_dtype npy_float_dtype(const npy_info *in);
/* Maps path and parses its .npy header (and checks the data size). */
int npy_map(const char *path, lg_source **src, npy_info *in, lg_error *err);

/* The file name without directories and extension. */
void lgsrc_base_name(const char *path, char *out, size_t cap);

#endif

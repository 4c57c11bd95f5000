/*
 * layergeom/import.h -- reading activations and labels from the files users
 * already have: .npy (one N x D array per layer, or a stacked L x N x D),
 * safetensors (one tensor per layer), raw little-endian buffers.
 *
 * A source is opened (and fully validated) before anything is written, so a
 * bad input never leaves a half-written store behind.
 */
#ifndef LAYERGEOM_IMPORT_H
#define LAYERGEOM_IMPORT_H

#include "layergeom/common.h"
#include "layergeom/store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lg_source lg_source;

/* .npy: versions 1.0, 2.0, 3.0; float16/32/64 either byte order; C or
 * Fortran order; shape (N,), (N, D) or (L, N, D).  Layer names: the file's
 * base name, with "[l]" appended for a stack. */
LG_API int lg_source_open_npy(const char *path, lg_source **out, lg_error *err);

/* safetensors: F32, F16, BF16, F64 tensors of shape (N, D) (leading 1s are
 * dropped).  names == NULL takes every floating-point tensor, in natural
 * order of their names ("layer.2" before "layer.10"); otherwise exactly the
 * listed tensors, in that order. */
LG_API int lg_source_open_safetensors(const char *path, const char *const *names, size_t n_names,
                                      lg_source **out, lg_error *err);

/* Raw little-endian elements, d per row; N is the file size / (d x size). */
LG_API int lg_source_open_raw(const char *path, lg_dtype dtype, uint32_t d, lg_source **out,
                              lg_error *err);

/* Per-token activations: a .npy of shape (N, T, D), or (L, N, T, D) for L
 * layers.  mean: each input's row is the mean of its tokens (those the mask
 * keeps); first / last: its first / last kept token; all: every kept token
 * is a row of its own.  mask_path (may be NULL): a (N, T) .npy of bools or
 * integers, nonzero = kept (an attention mask).  Pooled rows are float32. */
typedef enum lg_tokens {
    LG_TOKENS_MEAN = 1,
    LG_TOKENS_FIRST = 2,
    LG_TOKENS_LAST = 3,
    LG_TOKENS_ALL = 4
} lg_tokens;
LG_API int lg_tokens_parse(const char *s, lg_tokens *out);
/* For a source opened with LG_TOKENS_ALL: the inputs (N) its tokens come
 * from, and the input of each row (a token), 0-based; 0 for other sources.
 * pack stores the rows' inputs as the label set "input", so that the ID of
 * each input's token cloud is one `profile --groups input` away. */
LG_API uint64_t lg_source_token_inputs(const lg_source *src);
LG_API uint64_t lg_source_token_input(const lg_source *src, uint64_t row);
LG_API int lg_source_open_tokens(const char *path, lg_tokens mode, const char *mask_path,
                                 lg_source **out, lg_error *err);

/* Writes sources that are each one batch of every layer (the same layers, in
 * the same order, with the same D) into w, joined along the rows in the
 * order given: layer l of the store is layer l of sources[0], then of
 * sources[1], ...  Written batch by batch: memory is a chunk per layer.
 * names (may be NULL) name the layers; else the first source's names. */
LG_API int lg_import_batches(lg_writer *w, lg_source *const *sources, size_t n_sources,
                             const char *const *names, lg_error *err);
/* The check lg_import_batches makes first (same layers, D and rows within a
 * batch), to call before a store is created. */
LG_API int lg_batches_check(lg_source *const *sources, size_t n_sources, lg_error *err);

/* Opens by content: .npy magic, safetensors header, else an error. */
LG_API int lg_source_open(const char *path, lg_source **out, lg_error *err);

LG_API void lg_source_close(lg_source *src);
LG_API size_t lg_source_layer_count(const lg_source *src);
LG_API int lg_source_layer(const lg_source *src, size_t i, const char **name, uint64_t *n,
                           uint32_t *d,
                           lg_dtype *dtype);
/* Rows [row0, row0 + n) of layer i, as elements of the layer's dtype in
 * native byte order, row-major, into out. */
LG_API int lg_source_read(const lg_source *src, size_t i, uint64_t row0, size_t n, void *out,
                          lg_error *err);

/* Writes every layer of src into w, under the source's layer names. */
LG_API int lg_import_source(lg_writer *w, const lg_source *src, lg_error *err);

/* Labels from an integer (or integral float) .npy of shape (N,) or (N, 1),
 * or from a text file with one label per line.  Text labels that are all
 * integers are taken as such; otherwise distinct strings get ids 0, 1, ...
 * in sorted order, and *names (malloc'd, may be NULL) receives the names
 * joined by '\n'.  The caller frees *labels and *names. */
LG_API int lg_labels_load(const char *path, int64_t **labels, uint64_t *n, char **names,
                          lg_error *err);

/* ---- ingest: a pipe of activations into a store ---- */

typedef struct lg_ingest_stats {
    int form;          /* 1 the stream form, 2 .npy frames */
    int clean_end;     /* the input ended as it should (END record / 'LGNPY close') */
    uint64_t bytes;    /* consumed from the input */
    uint64_t records;  /* records or frames read */
    uint64_t layers;   /* layers completed and committed */
    uint64_t rows;     /* rows received (of complete and incomplete layers) */
    double seconds;
    char lost[256];    /* what was not kept, when the input stopped early */
} lg_ingest_stats;

/* Reads activations from read() (the stream form, or .npy frames: see
 * formats/npy-framing.md; told apart by the first bytes) and writes them to
 * w as they arrive, committing each layer when it completes.  On an error
 * (including an input that stops mid-record) every layer completed before it
 * stays in the store; the error names the input offset and st->lost says
 * what was dropped. */
LG_API int lg_ingest(lg_read_fn read, void *ctx, lg_writer *w, lg_ingest_stats *st, lg_error *err);

/* ---- export: a store's contents back out ---- */

/* Layer i of s as an N x D .npy on fd, in its stored type or out_t
 * (LG_DTYPE_KEEP: as stored; bf16 becomes f32, which .npy has not).  Only
 * widening conversions: a narrower out_t is refused (LG_EUSAGE). */
LG_API int lg_export_layer(lg_store *s, size_t i, lg_dtype out_t, int fd, lg_error *err);
/* A label set (NULL: the first) as an int64 .npy of shape (N,). */
LG_API int lg_export_labels(lg_store *s, const char *set, int fd, lg_error *err);
/* Every layer, label set and metadata pair of s, in the stream form (for
 * lg_ingest at the other end of a pipe). */
LG_API int lg_export_stream(lg_store *s, int fd, lg_error *err);

/* Writes an N x D array as a version 1.0 .npy file in the given type
 * (f32, f16, f64; bf16 is written as its raw uint16 bits is not allowed:
 * LG_EUSAGE), byte-identical to what numpy.save writes. */
LG_API int lg_npy_write_header(int fd, const char *descr, uint64_t n, uint32_t d, int one_dim,
                               lg_error *err);

#ifdef __cplusplus
}
#endif
#endif

/* Payload coding of a chunk: byte-shuffle filter, then none / LZ4 / zstd. */
#ifndef LG_CODEC_CODEC_H
#define LG_CODEC_CODEC_H

#include <stddef.h>

#include "layergeom/common.h"

/* Byte shuffle: n elements of `size` bytes become size planes of n bytes
 * (all first bytes, then all second bytes, ...). */
void lgc_shuffle(const void *src, void *dst, size_t size, size_t n);
void lgc_unshuffle(const void *src, void *dst, size_t size, size_t n);

/* Unshuffles elements [e0, e0 + ne) of a shuffled buffer of n elements into
 * dst (ne elements, in order). */
void lgc_unshuffle_range(const void *src, size_t size, size_t n, size_t e0, size_t ne, void *dst);

/* Largest output lgc_compress can produce for len input bytes. */
size_t lgc_compress_bound(lg_codec c, size_t len);

/* Compresses src into dst (capacity cap).  Returns 0 and the size in *out_len,
 * or an lg_status code. */
int lgc_compress(lg_codec c, int level, const void *src, size_t len, void *dst, size_t cap,
                size_t *out_len);

/* Decompresses exactly raw_len bytes; anything else is LG_ECORRUPT. */
int lgc_decompress(lg_codec c, const void *src, size_t len, void *dst, size_t raw_len);

#endif

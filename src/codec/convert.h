/* Element conversions between the stored types and float32. */
#ifndef LG_CODEC_CONVERT_H
#define LG_CODEC_CONVERT_H

#include <stddef.h>
#include <stdint.h>

#include "layergeom/common.h"

float lgc_f16_to_f32(uint16_t h);
uint16_t lgc_f32_to_f16(float f); /* round to nearest even; overflow gives inf */
float lgc_bf16_to_f32(uint16_t h);
uint16_t lgc_f32_to_bf16(float f); /* round to nearest even; NaN stays NaN */

/* Converts n elements of type from (native little-endian) into type to.
 * Narrowing rounds to nearest even (f64 -> f16 goes through f32). */
void lgc_convert(lg_dtype from, const void *src, lg_dtype to, void *dst, size_t n);

/* Reverses the byte order of n elements of size `size` in place. */
void lgc_byteswap(void *buf, size_t size, size_t n);

#endif

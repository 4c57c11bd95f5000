/* CRC32C (Castagnoli), the checksum of every store record.  Uses the SSE4.2
 * instruction when the processor has it, a slicing-by-8 table otherwise. */
#ifndef LG_CODEC_CRC32C_H
#define LG_CODEC_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* crc = lgc_crc32c(0, buf, len) for a whole buffer; pass the previous value
 * to continue over more bytes. */
uint32_t lgc_crc32c(uint32_t crc, const void *buf, size_t len);

/* The CRC of A followed by B, from crc(A), crc(B) and the length of B. */
uint32_t lgc_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

#endif

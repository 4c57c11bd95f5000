/* A 64-bit hash of a byte stream, for the profile cache's content keys.
 *
 * Not cryptographic: it is there so that two different layers do not get
 * the same key by chance (a 32-bit CRC does, once there are tens of
 * thousands of layers of one shape).  Four lanes of 64-bit words, each step
 * a bijection of the lane for a fixed word and of the word for a fixed
 * lane, so two streams that differ in one word always leave different
 * lanes; the lanes, the length and the tail are mixed at the end.  The
 * value depends only on the bytes, not on how they were split into update
 * calls.  Internal. */
#ifndef LG_UTIL_HASH64_H
#define LG_UTIL_HASH64_H

#include <stddef.h>
#include <stdint.h>

typedef struct lgu_hash64 {
    uint64_t v[4];
    unsigned char buf[32];
    size_t nbuf;
    uint64_t total;
} lgu_hash64;

void lgu_hash64_init(lgu_hash64 *h, uint64_t seed);
void lgu_hash64_update(lgu_hash64 *h, const void *p, size_t n);
uint64_t lgu_hash64_final(const lgu_hash64 *h);

#endif

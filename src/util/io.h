/*
 * The only place the library writes or syncs files.  Kept thin so that tests
 * can make the n-th write fail (ENOSPC, EIO, short write) and check that no
 * complete record is lost.
 */
#ifndef LG_UTIL_IO_H
#define LG_UTIL_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Writes all of buf at offset off (off < 0: at the current position).
 * Returns 0 or an errno value; a short write that cannot make progress is
 * reported as ENOSPC. */
int lgu_io_write(int fd, const void *buf, size_t len, off_t off);
int lgu_io_sync(int fd);
int lgu_io_truncate(int fd, off_t len);
/* Reads exactly len bytes unless end of file comes first; *got says how many. */
int lgu_io_read(int fd, void *buf, size_t len, size_t *got);

/* Fault injection, for tests: the n-th call (1-based) of lgu_io_write or
 * lgu_io_sync from now on fails with errno_value; when short is set, a write
 * first writes half of its bytes.  n = 0 switches it off. */
void lgu_io_fail_at(uint64_t n, int errno_value, int short_write);
/* How many write and sync calls have been made since the last lgu_io_fail_at. */
uint64_t lgu_io_calls(void);

#endif

#include "util/io.h"

#include <errno.h>
#include <unistd.h>

static uint64_t fail_at, calls;
static int fail_errno, fail_short;

void lgu_io_fail_at(uint64_t n, int errno_value, int short_write)
{
    fail_at = n;
    calls = 0;
    fail_errno = errno_value;
    fail_short = short_write;
}

uint64_t lgu_io_calls(void)
{
    return calls;
}

/* Returns the injected errno for this call, or 0. */
static int injected(void)
{
    calls++;
    return (fail_at && calls == fail_at) ? fail_errno : 0;
}

static int write_some(int fd, const char *p, size_t len, off_t off)
{
    while (len) {
        ssize_t n = off < 0 ? write(fd, p, len) : pwrite(fd, p, len, off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (n == 0)
            return ENOSPC;
        p += n;
        len -= (size_t)n;
        if (off >= 0)
            off += n;
    }
    return 0;
}

int lgu_io_write(int fd, const void *buf, size_t len, off_t off)
{
    int e = injected();
    if (e) {
        if (fail_short && len > 1)
            (void)write_some(fd, buf, len / 2, off);
        return e;
    }
    return write_some(fd, buf, len, off);
}

int lgu_io_sync(int fd)
{
    int e = injected();
    if (e)
        return e;
    return fdatasync(fd) == 0 ? 0 : errno;
}

int lgu_io_truncate(int fd, off_t len)
{
    return ftruncate(fd, len) == 0 ? 0 : errno;
}

int lgu_io_read(int fd, void *buf, size_t len, size_t *got)
{
    char *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t n = read(fd, p + done, len - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            *got = done;
            return errno;
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    *got = done;
    return 0;
}

/*
 * Rows on the heap, or in an unlinked scratch file mapped shared (see
 * rowbuf.h).  A shared file mapping's pages are the page cache's: they count
 * as file-backed, not anonymous, memory, and the kernel may write them back
 * and drop them.  The file is unlinked at once, so nothing is left behind
 * whatever happens to the process.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "knn/rowbuf.h"
#include "util/error.h"

#define U64(x) ((unsigned long long)(x))

void lgk_rowbuf_init(lgk_rowbuf *b, uint32_t d)
{
    memset(b, 0, sizeof *b);
    b->d = d;
    b->fd = -1;
}

static int scratch_open(const char *dir, lg_error *err)
{
    if (!dir)
        dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    int fd;
#ifdef O_TMPFILE
    fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
#endif
    char path[4096];
    snprintf(path, sizeof path, "%s/layergeom-rows-XXXXXX", dir);
    fd = mkstemp(path);
    if (fd < 0)
        return -lgu_fail(err, LG_EIO, "%s: cannot create a scratch file for the rows: %s", dir,
                        strerror(errno));
    unlink(path);
    return fd;
}

static int file_size(lgk_rowbuf *b, uint64_t rows, lg_error *err)
{
    uint64_t bytes = rows * b->d * sizeof(float);
    int e = posix_fallocate(b->fd, 0, (off_t)bytes);
    if (e)
        return lgu_fail(err, LG_EIO, "scratch file for %llu rows (%llu MiB): %s", U64(rows),
                       U64(bytes >> 20), strerror(e));
    return LG_OK;
}

static int to_file(lgk_rowbuf *b, uint64_t rows, const char *dir, lg_error *err)
{
    int fd = scratch_open(dir, err);
    if (fd < 0)
        return -fd;
    lgk_rowbuf nb = {NULL, rows, b->d, fd};
    int rc = file_size(&nb, rows, err);
    if (!rc) {
        void *p = mmap(NULL, rows * b->d * sizeof(float), PROT_READ | PROT_WRITE, MAP_SHARED,
                       fd, 0);
        if (p == MAP_FAILED)
            rc = lgu_fail(err, LG_ENOMEM, "cannot map the rows' scratch file: %s",
                         strerror(errno));
        else
            nb.x = p;
    }
    if (rc) {
        close(fd);
        return rc;
    }
    if (b->x)
        memcpy(nb.x, b->x, b->cap * b->d * sizeof(float));
    free(b->x);
    *b = nb;
    return LG_OK;
}

int lgk_rowbuf_reserve(lgk_rowbuf *b, uint64_t rows, int file, const char *dir, lg_error *err)
{
    if (rows <= b->cap && (b->fd >= 0 || !file))
        return LG_OK;
    uint64_t cap = rows > b->cap ? rows : b->cap;
    if (b->fd < 0 && file)
        return to_file(b, cap, dir, err);
    if (b->fd < 0) {
        float *x = realloc(b->x, cap * b->d * sizeof *x);
        if (!x)
            return lgu_fail(err, LG_ENOMEM, "out of memory for %llu rows", U64(cap));
        b->x = x;
        b->cap = cap;
        return LG_OK;
    }
    int rc = file_size(b, cap, err);
    if (rc)
        return rc;
    void *p = mremap(b->x, b->cap * b->d * sizeof(float), cap * b->d * sizeof(float),
                     MREMAP_MAYMOVE);
    if (p == MAP_FAILED)
        return lgu_fail(err, LG_ENOMEM, "cannot grow the rows' scratch mapping: %s",
                       strerror(errno));
    b->x = p;
    b->cap = cap;
    return LG_OK;
}

void lgk_rowbuf_release(const lgk_rowbuf *b, uint64_t r0, uint64_t n)
{
    if (b->fd < 0 || !n)
        return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)(b->x + r0 * b->d) + page - 1) & ~(page - 1);
    uintptr_t e = (uintptr_t)(b->x + (r0 + n) * b->d) & ~(page - 1);
    /* shared file pages: the data stay in the file; this only unmaps them */
    if (e > a)
        (void)madvise((void *)a, e - a, MADV_DONTNEED);
}

void lgk_rowbuf_free(lgk_rowbuf *b)
{
    if (b->fd >= 0) {
        if (b->x)
            munmap(b->x, b->cap * b->d * sizeof(float));
        close(b->fd);
    } else {
        free(b->x);
    }
    lgk_rowbuf_init(b, b->d);
}

/* Shared by the fuzz targets: the input as a file (the parsers map files),
 * kept in memory with memfd so that no disk is touched. */
#ifndef LG_FUZZ_COMMON_H
#define LG_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "layergeom.h"

static inline const char *fuzz_file(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("lgfuzz", 0);
        if (fd < 0)
            abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size))
        abort();
    return path;
}

/* Reads every layer of a source, 16 rows at a time. */
static inline void read_all(lg_source *src)
{
    lg_error err;
    for (size_t i = 0; i < lg_source_layer_count(src); i++) {
        uint64_t n;
        uint32_t d;
        lg_dtype t;
        lg_source_layer(src, i, NULL, &n, &d, &t);
        size_t row = (size_t)d * lg_dtype_size(t);
        void *buf = malloc(row * 16 + 1);
        for (uint64_t r = 0; buf && r < n; r += 16)
            lg_source_read(src, i, r, n - r < 16 ? (size_t)(n - r) : 16, buf, &err);
        free(buf);
    }
}

#endif

/* The stream form and .npy frames, as ingest reads them from a pipe, into a
 * store written to memory. */
#include <string.h>

#include "fuzz_common.h"

#include "layergeom.h"

typedef struct mem {
    const uint8_t *p;
    size_t len, pos;
} mem;

static long mem_read(void *ctx, void *buf, size_t len)
{
    mem *m = ctx;
    size_t k = m->len - m->pos < len ? m->len - m->pos : len;
    if (k > 1000)
        k = 1000;
    memcpy(buf, m->p + m->pos, k);
    m->pos += k;
    return (long)k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the stream decoder alone */
    mem m = {data, size, 0};
    lg_stream *st;
    lg_error err;
    if (lg_stream_open(mem_read, &m, &st, &err) == LG_OK) {
        lg_stream_record r;
        while (lg_stream_next(st, &r, &err) == LG_OK && r.type != 7)
            ;
        lg_stream_close(st);
    }
    /* and ingest into a store on a memory file */
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("lgstore", 0);
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0)
        abort();
    lg_writer_opts o;
    lg_writer_opts_default(&o);
    o.durable = 0;
    o.chunk_rows = 16; /* small buffers: more executions per second */
    o.commit_seconds = 1e-9; /* commit at every level point: more paths */
    lg_writer *w;
    if (lg_writer_append(path, &o, &w, &err) != LG_OK) {
        /* an empty file is not a store: start one in place */
        char fresh[64];
        snprintf(fresh, sizeof fresh, "/tmp/lgfuzz-%d.lgs", (int)getpid());
        unlink(fresh);
        if (lg_writer_create(fresh, &o, &w, &err) != LG_OK)
            return 0;
        m = (mem){data, size, 0};
        lg_ingest_stats s;
        lg_ingest(mem_read, &m, w, &s, &err);
        lg_writer_close(w, &err);
        lg_store *check;
        if (lg_store_open(fresh, 0, &check, &err) == LG_OK)
            lg_store_close(check);
        unlink(fresh);
        return 0;
    }
    lg_writer_abort(w);
    return 0;
}

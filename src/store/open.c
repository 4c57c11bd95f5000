/*
 * Opening a store: map the file, find the index through the trailer at the
 * end, and fall back to scanning the records when the end is missing or
 * torn (a crash mid-write), keeping every complete record.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "codec/crc32c.h"
#include "store/store_int.h"
#include "util/error.h"

#define U64(x) ((unsigned long long)(x))

static int cmp_layer(const void *a, const void *b)
{
    const lgs_layer *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* All layers and label sets describe the same rows. */
static int check_rows(lg_store *s, lg_error *err)
{
    uint64_t n = s->n_layers ? s->layers[0].n : (s->n_labels ? s->labels[0].n : 0);
    for (size_t i = 0; i < s->n_layers; i++)
        if (s->layers[i].n != n)
            return lgu_fail(err, LG_ECORRUPT,
                           "%s: layer %u (%s) has %llu rows, layer %u has %llu: all layers must "
                           "have the same rows",
                           s->path, s->layers[i].id, s->layers[i].name, U64(s->layers[i].n),
                           s->layers[0].id, U64(n));
    for (size_t i = 0; i < s->n_labels; i++)
        if (s->labels[i].n != n)
            return lgu_fail(err, LG_ECORRUPT,
                           "%s: label set '%s' has %llu labels for %llu rows", s->path,
                           s->labels[i].name, U64(s->labels[i].n), U64(n));
    return LG_OK;
}

/* A file that is not a store: say what it looks like, and what to do. */
static int not_a_store(const lg_store *s, const char *path, const char *bad, lg_error *err)
{
    const unsigned char *m = s->map;
    if (!memcmp(m, "\x93NUMPY", 6))
        return lgu_fail(err, LG_EINPUT,
                        "%s: a .npy array, not a layergeom store: pack it into one first "
                        "(layergeom pack -o run.lgs %s ...)",
                        path, path);
    uint64_t hl = lgu_get64(m);
    if (hl > 1 && hl < s->size && m[8] == '{')
        return lgu_fail(err, LG_EINPUT,
                        "%s: a safetensors file, not a layergeom store: pack it into one first "
                        "(layergeom pack -o run.lgs %s)",
                        path, path);
    if (!memcmp(m, "LGNPY", 5))
        return lgu_fail(err, LG_EINPUT,
                        "%s: .npy frames (a producer's output), not a store: ingest them "
                        "(layergeom ingest -o run.lgs %s)",
                        path, path);
    return lgu_fail(err, LG_EINPUT, "%s: offset 0: bad %s", path, bad);
}

int lgs_open_fd(const char *path, int fd, unsigned flags, lg_store **out, lg_error *err)
{
    *out = NULL;
    struct stat st;
    if (fstat(fd, &st) != 0)
        return lgu_fail(err, LG_EIO, "%s: cannot stat: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return lgu_fail(err, LG_EINPUT, "%s: not a regular file", path);
    if ((uint64_t)st.st_size < LGS_FILE_HEADER_SIZE)
        return lgu_fail(err, LG_EINPUT,
                       "%s: %lld bytes: too short for a layergeom store (the header alone is 64 "
                       "bytes)",
                       path, (long long)st.st_size);
    lg_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return lgu_fail(err, LG_ENOMEM, "%s: out of memory", path);
    }
    s->fd = fd;
    s->flags = flags & ~LGS_OPEN_SALVAGE;
    s->salvage = (flags & LGS_OPEN_SALVAGE) != 0;
    s->max_chunk_id = UINT32_MAX;
    s->size = (uint64_t)st.st_size;
    /* a layer that fits comfortably stays mapped: passes over it again (the
     * exact search's panels, its finishing pass) find it there; a bigger one
     * is let go of as it is read */
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    s->release_above = pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize / 4 : 1u << 30;
    s->map = mmap(NULL, s->size, PROT_READ, MAP_SHARED, fd, 0);
    if (s->map == MAP_FAILED) {
        s->map = NULL;
        int e = errno;
        s->fd = -1;
        lg_store_close(s);
        return lgu_fail(err, LG_EIO, "%s: cannot map: %s", path, strerror(e));
    }
    int rc;
    const char *bad = lgs_decode_file_header(s->map, &s->file_flags);
    if (bad) {
        rc = not_a_store(s, path, bad, err);
        goto fail;
    }
    uint64_t tail = s->size - LGS_RECORD_HEADER_SIZE;
    lgs_header h;
    s->end = s->size;
    s->dropped_from = s->size;
    if (!(s->file_flags & LGS_FLAG_STREAM) && s->size % LGS_ALIGN == 0 &&
        s->size >= 2 * LGS_RECORD_HEADER_SIZE && !lgs_decode_header(s->map + tail, &h) &&
        lgs_is_trailer(s, tail, &h)) {
        rc = lgs_load_index(s, tail, err);
        /* only bit damage (a checksum that fails) falls back: an index that
         * checks out but contradicts itself is a crafted or buggy file, and
         * is refused as it is (#18 item 11) */
        if (rc == LG_ECORRUPT && strstr(err->msg, "checksum")) {
            /* the final index (or a record it lists) is damaged: the records
             * themselves may be sound, so read the store by scanning from an
             * older index, and say what the final one lacked */
            char why[LG_ERROR_MSG_MAX];
            snprintf(why, sizeof why, "%s", err->msg);
            lgs_forget_index(s);
            s->avoid_trailer = tail;
            rc = lgs_scan(s, err);
            if (!rc) {
                size_t used = strlen(s->note);
                snprintf(s->note + used, sizeof s->note - used, "; the final index was not "
                         "used: %s", why);
            }
        }
    } else {
        rc = lgs_scan(s, err);
    }
    if (!rc && s->salvage)
        rc = lgs_drop_damaged_layers(s, err);
    if (rc)
        goto fail;
    if (s->skipped[0]) { /* small records left out: the store opens, and says so */
        size_t used = s->recovered ? strlen(s->note) : 0;
        if (!s->recovered)
            used = (size_t)snprintf(s->note, sizeof s->note, "%s", path);
        snprintf(s->note + used, sizeof s->note - used, ": %s", s->skipped);
        s->recovered = 1;
    }
    if (s->n_layers > 1)
        qsort(s->layers, s->n_layers, sizeof *s->layers, cmp_layer);
    for (size_t i = 1; i < s->n_layers; i++)
        if (s->layers[i].id == s->layers[i - 1].id) {
            rc = lgu_fail(err, LG_ECORRUPT, "%s: layer id %u appears twice", path,
                         s->layers[i].id);
            goto fail;
        }
    rc = check_rows(s, err);
    if (rc)
        goto fail;
    *out = s;
    return LG_OK;
fail:
    s->fd = -1; /* the caller owns fd */
    lg_store_close(s);
    return rc;
}

int lg_store_open(const char *path, unsigned flags, lg_store **out, lg_error *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lgu_fail(err, errno == ENOENT ? LG_ENOTFOUND : LG_EIO, "%s: cannot open: %s", path,
                       strerror(errno));
    int rc = lgs_open_fd(path, fd, flags, out, err);
    if (rc)
        close(fd);
    return rc;
}

void lg_store_close(lg_store *s)
{
    if (!s)
        return;
    if (s->map)
        munmap(s->map, s->size);
    if (s->fd >= 0)
        close(s->fd);
    lgs_forget_index(s);
    free(s->path);
    free(s);
}

const char *lg_store_path(const lg_store *s)
{
    return s->path;
}

size_t lg_store_layer_count(const lg_store *s)
{
    return s->n_layers;
}

int lg_store_layer(const lg_store *s, size_t i, lg_layer_info *info)
{
    if (i >= s->n_layers)
        return LG_ENOTFOUND;
    const lgs_layer *L = &s->layers[i];
    const lgs_chunk *c = &s->chunks[L->first_chunk];
    info->id = L->id;
    info->name = L->name;
    info->n = L->n;
    info->d = L->d;
    info->dtype = (lg_dtype)L->dtype;
    info->codec = (lg_codec)c->codec;
    info->filter = (lg_filter)c->filter;
    info->n_chunks = (uint32_t)L->n_chunks;
    info->bytes_stored = L->bytes_stored;
    info->bytes_raw = L->n * L->d * lg_dtype_size((lg_dtype)L->dtype);
    info->content_crc = L->content_crc;
    info->record_offset = L->seal_off;
    return LG_OK;
}

int lg_store_file_id(const lg_store *s, uint64_t *dev, uint64_t *ino)
{
    struct stat st;
    if (s->fd < 0 || fstat(s->fd, &st) != 0)
        return LG_EIO;
    *dev = (uint64_t)st.st_dev;
    *ino = (uint64_t)st.st_ino;
    return LG_OK;
}

long lg_store_find_layer(const lg_store *s, const char *key)
{
    for (size_t i = 0; i < s->n_layers; i++)
        if (strcmp(s->layers[i].name, key) == 0)
            return (long)i;
    char *end;
    unsigned long id = strtoul(key, &end, 10);
    if (*key && !*end)
        for (size_t i = 0; i < s->n_layers; i++)
            if (s->layers[i].id == id)
                return (long)i;
    return -1;
}

uint64_t lg_store_rows(const lg_store *s)
{
    if (s->n_layers)
        return s->layers[0].n;
    return s->n_labels ? s->labels[0].n : 0;
}

uint64_t lg_store_file_size(const lg_store *s)
{
    return s->size;
}

int lg_store_pending(const lg_store *s, lg_layer_info *info)
{
    if (!s->pend.n)
        return 0;
    const lgs_layer *P = &s->pend;
    memset(info, 0, sizeof *info);
    info->id = P->id;
    info->name = "";
    info->n = P->n;
    info->d = P->d;
    info->dtype = (lg_dtype)P->dtype;
    info->n_chunks = (uint32_t)P->n_chunks;
    info->bytes_stored = P->bytes_stored;
    info->bytes_raw = P->n * P->d * lg_dtype_size((lg_dtype)P->dtype);
    return 1;
}

int lg_store_writer_active(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    FILE *f = fopen("/proc/locks", "r");
    if (!f)
        return -1;
    char line[512];
    int active = 0;
    while (!active && fgets(line, sizeof line, f)) {
        /* "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF" */
        unsigned maj, min;
        unsigned long ino;
        char kind[16], rw[16];
        if (sscanf(line, "%*s %15s %*s %15s %*d %x:%x:%lu", kind, rw, &maj, &min, &ino) == 5 &&
            strcmp(kind, "FLOCK") == 0 && strcmp(rw, "WRITE") == 0 && ino == st.st_ino &&
            makedev(maj, min) == st.st_dev)
            active = 1;
    }
    fclose(f);
    return active;
}

const char *lg_store_recovery(const lg_store *s)
{
    return s->recovered ? s->note : NULL;
}

size_t lg_store_label_set_count(const lg_store *s)
{
    return s->n_labels;
}

const char *lg_store_label_set_name(const lg_store *s, size_t i)
{
    return i < s->n_labels ? s->labels[i].name : NULL;
}

int lg_store_labels(const lg_store *s, const char *name, const int64_t **labels, uint64_t *n,
                    lg_error *err)
{
    for (size_t i = 0; i < s->n_labels; i++)
        if (!name || strcmp(s->labels[i].name, name) == 0) {
            *labels = s->labels[i].values;
            *n = s->labels[i].n;
            return LG_OK;
        }
    return lgu_fail(err, LG_ENOTFOUND, "%s: no label set%s%s%s", s->path, name ? " named '" : "",
                   name ? name : "", name ? "'" : "");
}

const void *lg_store_meta(const lg_store *s, const char *key, size_t *len)
{
    for (size_t i = 0; i < s->n_meta; i++)
        if (strcmp(s->meta[i].key, key) == 0) {
            if (len)
                *len = s->meta[i].len;
            return s->meta[i].val;
        }
    return NULL;
}

size_t lg_store_meta_count(const lg_store *s)
{
    return s->n_meta;
}

int lg_store_meta_at(const lg_store *s, size_t i, const char **key, const void **val,
                     size_t *len)
{
    if (i >= s->n_meta)
        return LG_ENOTFOUND;
    *key = s->meta[i].key;
    *val = s->meta[i].val;
    *len = s->meta[i].len;
    return LG_OK;
}

int lg_store_prefix_crc(const lg_store *s, size_t layer, uint64_t rows, uint32_t *crc)
{
    if (layer >= s->n_layers)
        return LG_ENOTFOUND;
    const lgs_layer *L = &s->layers[layer];
    size_t es = lg_dtype_size((lg_dtype)L->dtype);
    uint32_t run = 0;
    uint64_t at = 0;
    for (size_t k = 0; k < L->n_chunks && at < rows; k++) {
        const lgs_chunk *c = &s->chunks[L->first_chunk + k];
        /* only where the payload is the elements themselves is its CRC theirs */
        if (c->codec != LG_CODEC_NONE || c->filter != LG_FILTER_NONE)
            return LG_ENOTFOUND;
        run = lgc_crc32c_combine(run, c->crc, (uint64_t)c->rows * L->d * es);
        at += c->rows;
    }
    if (at != rows)
        return LG_ENOTFOUND; /* not at a chunk boundary */
    *crc = run;
    return LG_OK;
}

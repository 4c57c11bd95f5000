/*
 * The profile cache: per-layer results kept beside the store, so that a
 * re-run after new layers were appended only works on the new ones.
 *
 * One file per entry in a directory (by default STORE.lgcache/).  An entry is
 * named by the layer's shape and content check (CRC32C of its stored
 * elements, rows, columns, type) and the parameters that shape it, and
 * tagged inside with a 64-bit hash of the layer's stored elements
 * (util/hash64.h): an entry whose tag differs from the layer's hash is a
 * miss.  A 32-bit CRC alone is not enough: among tens of thousands of layers
 * of one shape two share it by chance, and it can be forged by hand.
 * Nothing else about the store matters, so renaming or re-packing a layer
 * keeps its entries valid.
 *
 * Hashing a layer reads it once (a sequential pass, small beside a search);
 * the result is remembered by where the layer lives -- the file's device and
 * inode, the layer's id, committing record and rows ("where-" entries) --
 * since a store is only appended to and a committed layer never changes in
 * place.  So a re-run reads nothing; a copied or re-packed store is read
 * once.
 *
 * File: a 64-byte header ("LGCACHE2", payload length, key length, tag), the
 * key, the payload, and a CRC32C of all of it.  Written to a temporary name,
 * synced, renamed: a reader sees a whole entry or none.  A damaged entry is
 * ignored (and recomputed), never trusted.  Entries of the first format
 * (no tag) are not read.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec/crc32c.h"
#include "profile/cache.h"
#include "util/hash64.h"
#include "util/le.h"
#include "util/error.h"
#include "util/io.h"

#define MAGIC "LGCACHE2"
#define HEADER 64

struct lgp_cache {
    char *dir;
};

int lgp_cache_open(const char *dir, lgp_cache **out, lg_error *err)
{
    *out = NULL;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return lgu_fail(err, LG_EIO, "%s: cannot create the cache directory: %s", dir,
                       strerror(errno));
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return lgu_fail(err, LG_EIO, "%s: not a directory", dir);
    lgp_cache *c = calloc(1, sizeof *c);
    if (!c || !(c->dir = strdup(dir))) {
        free(c);
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    }
    *out = c;
    return LG_OK;
}

void lgp_cache_close(lgp_cache *c)
{
    if (!c)
        return;
    free(c->dir);
    free(c);
}

static void path_of(const lgp_cache *c, const char *key, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", c->dir, key);
}

int lgp_cache_put(lgp_cache *c, const char *key, uint64_t tag, const void *a, size_t alen,
                  const void *b, size_t blen, lg_error *err)
{
    char path[4200], tmp[4300];
    path_of(c, key, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    unsigned char head[HEADER] = {0};
    size_t klen = strlen(key);
    memcpy(head, MAGIC, 8);
    lgu_put64(head + 8, alen + blen);
    lgu_put32(head + 16, (uint32_t)klen);
    lgu_put64(head + 24, tag);
    uint32_t crc = lgc_crc32c(0, head, HEADER);
    crc = lgc_crc32c(crc, key, klen);
    crc = lgc_crc32c(crc, a, alen);
    crc = lgc_crc32c(crc, b, blen);
    unsigned char tail[4];
    lgu_put32(tail, crc);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return lgu_fail(err, LG_EIO, "%s: cannot write: %s", tmp, strerror(errno));
    off_t at = 0;
    int e = lgu_io_write(fd, head, HEADER, at);
    at += HEADER;
    if (!e)
        e = lgu_io_write(fd, key, klen, at);
    at += (off_t)klen;
    if (!e && alen)
        e = lgu_io_write(fd, a, alen, at);
    at += (off_t)alen;
    if (!e && blen)
        e = lgu_io_write(fd, b, blen, at);
    at += (off_t)blen;
    if (!e)
        e = lgu_io_write(fd, tail, 4, at);
    if (!e)
        e = lgu_io_sync(fd);
    close(fd);
    if (!e && rename(tmp, path) != 0)
        e = errno;
    if (e) {
        unlink(tmp);
        return lgu_fail(err, LG_EIO, "%s: cannot write the cache entry: %s", path, strerror(e));
    }
    return LG_OK;
}

int lgp_cache_get(lgp_cache *c, const char *key, uint64_t tag, void *a, size_t alen, void *b,
                  size_t blen)
{
    char path[4200];
    path_of(c, key, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    unsigned char head[HEADER];
    size_t klen = strlen(key), got;
    int ok = !lgu_io_read(fd, head, HEADER, &got) && got == HEADER &&
             memcmp(head, MAGIC, 8) == 0 && lgu_get64(head + 8) == alen + blen &&
             lgu_get32(head + 16) == klen && lgu_get64(head + 24) == tag;
    char *kbuf = ok ? malloc(klen + 1) : NULL;
    unsigned char tail[4];
    ok = ok && kbuf && !lgu_io_read(fd, kbuf, klen, &got) && got == klen &&
         memcmp(kbuf, key, klen) == 0;
    ok = ok && (!alen || (!lgu_io_read(fd, a, alen, &got) && got == alen));
    ok = ok && (!blen || (!lgu_io_read(fd, b, blen, &got) && got == blen));
    ok = ok && !lgu_io_read(fd, tail, 4, &got) && got == 4;
    if (ok) {
        uint32_t crc = lgc_crc32c(0, head, HEADER);
        crc = lgc_crc32c(crc, key, klen);
        crc = lgc_crc32c(crc, a, alen);
        crc = lgc_crc32c(crc, b, blen);
        ok = crc == lgu_get32(tail);
    }
    free(kbuf);
    close(fd);
    return ok;
}

/* ---- neighbour lists ---- */

/* What identifies a layer's data: its content check, rows, columns, type. */
static void layer_key(const lg_layer_info *L, char *out, size_t cap)
{
    snprintf(out, cap, "%08x-%llu-%u-%s", L->content_crc, (unsigned long long)L->n, L->d,
             lg_dtype_name(L->dtype));
}

static void knn_key(const lg_layer_info *L, uint32_t k, char *out, size_t cap)
{
    char lk[96];
    layer_key(L, lk, sizeof lk);
    snprintf(out, cap, "knn-v1-%s-k%u", lk, k);
}

/* The smallest k >= want among this layer's entries (0: none).  Any entry
 * with at least k neighbours will do: the first k of a longer list are the
 * list of k. */
static uint32_t best_k(lgp_cache *c, const lg_layer_info *L, uint32_t want)
{
    char prefix[128];
    knn_key(L, 0, prefix, sizeof prefix);
    prefix[strlen(prefix) - 1] = 0; /* "...-k" */
    DIR *d = opendir(c->dir);
    if (!d)
        return 0;
    uint32_t best = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t pl = strlen(prefix);
        if (strncmp(e->d_name, prefix, pl) != 0)
            continue;
        char *end;
        unsigned long kk = strtoul(e->d_name + pl, &end, 10);
        if (*end || kk < want || kk > LG_KNN_MAX_K)
            continue;
        if (!best || kk < best)
            best = (uint32_t)kk;
    }
    closedir(d);
    return best;
}

int lgp_cache_has_knn(lgp_cache *c, const lg_layer_info *L, uint32_t k)
{
    return best_k(c, L, k) != 0;
}

int lgp_cache_get_knn(lgp_cache *c, const lg_layer_info *L, uint64_t hash, uint32_t k,
                      lg_knn *out)
{
    uint32_t best = best_k(c, L, k);
    if (!best)
        return 0;
    char key[128];
    knn_key(L, best, key, sizeof key);
    size_t cells = (size_t)L->n * best;
    uint32_t *idx = malloc(cells * sizeof *idx);
    double *dist = malloc(cells * sizeof *dist);
    if (!idx || !dist || !lgp_cache_get(c, key, hash, idx, cells * sizeof *idx, dist,
                                       cells * sizeof *dist)) {
        free(idx);
        free(dist);
        return 0;
    }
    if (best != k) {
        for (uint64_t i = 0; i < L->n; i++) {
            memmove(idx + i * k, idx + i * best, k * sizeof *idx);
            memmove(dist + i * k, dist + i * best, k * sizeof *dist);
        }
    }
    memset(out, 0, sizeof *out);
    out->n = L->n;
    out->k = k;
    out->idx = idx;
    out->dist = dist;
    for (uint64_t i = 0; i < L->n; i++)
        out->n_zero += dist[i * k] == 0;
    out->panels = 0; /* from the cache */
    return 1;
}

int lgp_cache_put_knn(lgp_cache *c, const lg_layer_info *L, uint64_t hash, const lg_knn *nn,
                      lg_error *err)
{
    char key[128];
    knn_key(L, nn->k, key, sizeof key);
    size_t cells = (size_t)nn->n * nn->k;
    return lgp_cache_put(c, key, hash, nn->idx, cells * sizeof *nn->idx, nn->dist,
                        cells * sizeof *nn->dist, err);
}

size_t lgp_cache_prefixes(lgp_cache *c, const lg_layer_info *L, uint32_t k, uint64_t *rows,
                         uint32_t *crc, size_t cap)
{
    DIR *d = opendir(c->dir);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        unsigned crc_e, d_e, k_e;
        unsigned long long n_e;
        char dtype[16];
        int used = 0;
        if (sscanf(e->d_name, "knn-v1-%8x-%llu-%u-%15[a-z0-9]-k%u%n", &crc_e, &n_e, &d_e, dtype,
                   &k_e, &used) != 5 ||
            e->d_name[used] || d_e != L->d || strcmp(dtype, lg_dtype_name(L->dtype)) != 0 ||
            k_e < k || n_e >= L->n || n_e == 0)
            continue;
        size_t at = n; /* keep them sorted, most rows first */
        while (at > 0 && rows[at - 1] < n_e)
            at--;
        if (at >= cap)
            continue;
        size_t last = n < cap ? n : cap - 1;
        memmove(rows + at + 1, rows + at, (last - at) * sizeof *rows);
        memmove(crc + at + 1, crc + at, (last - at) * sizeof *crc);
        rows[at] = n_e;
        crc[at] = crc_e;
        if (n < cap)
            n++;
    }
    closedir(d);
    return n;
}

void lgp_cache_drop_knn(lgp_cache *c, const lg_layer_info *L)
{
    char prefix[128];
    knn_key(L, 0, prefix, sizeof prefix);
    prefix[strlen(prefix) - 1] = 0; /* "...-k" */
    DIR *d = opendir(c->dir);
    if (!d)
        return;
    struct dirent *e;
    size_t pl = strlen(prefix);
    while ((e = readdir(d))) {
        char *end;
        if (strncmp(e->d_name, prefix, pl) != 0)
            continue;
        (void)strtoul(e->d_name + pl, &end, 10);
        if (*end)
            continue;
        char path[4200];
        path_of(c, e->d_name, path, sizeof path);
        unlink(path);
    }
    closedir(d);
}

/* ---- the information imbalance of a pair of layers ---- */

static void ii_key(const lg_layer_info *A, const lg_layer_info *B, uint32_t k, char *out,
                   size_t cap)
{
    char a[96], b[96];
    layer_key(A, a, sizeof a);
    layer_key(B, b, sizeof b);
    snprintf(out, cap, "ii-v1-%s-%s-k%u", a, b, k);
}

/* One tag for an entry of two layers. */
static uint64_t pair_tag(uint64_t a, uint64_t b)
{
    lgu_hash64 h;
    lgu_hash64_init(&h, 2);
    unsigned char v[16];
    lgu_put64(v, a);
    lgu_put64(v + 8, b);
    lgu_hash64_update(&h, v, sizeof v);
    return lgu_hash64_final(&h);
}

int lgp_cache_get_ii(lgp_cache *c, const lg_layer_info *A, uint64_t ha, const lg_layer_info *B,
                     uint64_t hb, uint32_t k, lg_imbalance *out)
{
    char key[256];
    ii_key(A, B, k, key, sizeof key);
    unsigned char v[32];
    if (!c || !lgp_cache_get(c, key, pair_tag(ha, hb), v, sizeof v, NULL, 0))
        return 0;
    uint64_t bits = lgu_get64(v);
    memcpy(&out->value, &bits, sizeof bits);
    out->k = k;
    out->rows = lgu_get64(v + 8);
    out->from_lists = lgu_get64(v + 16);
    out->counted = lgu_get64(v + 24);
    return 1;
}

void lgp_cache_put_ii(lgp_cache *c, const lg_layer_info *A, uint64_t ha, const lg_layer_info *B,
                      uint64_t hb, const lg_imbalance *x)
{
    char key[256];
    ii_key(A, B, x->k, key, sizeof key);
    unsigned char v[32];
    uint64_t bits;
    memcpy(&bits, &x->value, sizeof bits);
    lgu_put64(v, bits);
    lgu_put64(v + 8, x->rows);
    lgu_put64(v + 16, x->from_lists);
    lgu_put64(v + 24, x->counted);
    lg_error ignored; /* a cache that cannot be written only costs time */
    if (c)
        lgp_cache_put(c, key, pair_tag(ha, hb), v, sizeof v, NULL, 0, &ignored);
}

/* ---- the content hash of a layer, remembered by where it lives ---- */

int lgp_layer_hash(lgp_cache *c, lg_store *s, size_t layer, uint64_t rows, uint64_t *out,
                   lg_error *err)
{
    lg_layer_info L;
    if (lg_store_layer(s, layer, &L))
        return lgu_fail(err, LG_ENOTFOUND, "%s: no layer %zu", lg_store_path(s), layer);
    if (rows > L.n)
        return lgu_fail(err, LG_EUSAGE, "%s: layer %u has %llu rows, not %llu",
                        lg_store_path(s), L.id, (unsigned long long)L.n,
                        (unsigned long long)rows);
    uint64_t dev, ino;
    char key[256];
    int where = c && lg_store_file_id(s, &dev, &ino) == LG_OK;
    if (where) {
        snprintf(key, sizeof key, "where-v1-%llx-%llx-%u-%llu-%llu-%08x",
                 (unsigned long long)dev, (unsigned long long)ino, L.id,
                 (unsigned long long)L.record_offset, (unsigned long long)rows, L.content_crc);
        unsigned char v[8];
        if (lgp_cache_get(c, key, 0, v, sizeof v, NULL, 0)) {
            *out = lgu_get64(v);
            return LG_OK;
        }
    }
    /* the shape, then the stored elements of the rows, in order */
    lgu_hash64 h;
    lgu_hash64_init(&h, 1);
    unsigned char shape[16];
    lgu_put64(shape, rows);
    lgu_put32(shape + 8, L.d);
    lgu_put32(shape + 12, (uint32_t)L.dtype);
    lgu_hash64_update(&h, shape, sizeof shape);
    /* read in blocks of at most 8 MiB: small beside any budget */
    size_t es = lg_dtype_size(L.dtype), row = (size_t)L.d * es;
    size_t block = row ? (8u << 20) / row : 1;
    block = block < 1 ? 1 : block > 4096 ? 4096 : block;
    unsigned char *buf = malloc(block * row);
    lg_cursor *cur = NULL;
    int rc = buf ? lg_cursor_open(s, layer, block, &cur, err)
                 : lgu_fail(err, LG_ENOMEM, "out of memory");
    for (uint64_t r = 0; !rc && r < rows; r += block) {
        size_t m = rows - r < block ? (size_t)(rows - r) : block;
        rc = lg_cursor_read_raw(cur, r, m, buf, err);
        if (!rc)
            lgu_hash64_update(&h, buf, m * row);
    }
    lg_cursor_close(cur);
    free(buf);
    if (rc)
        return rc;
    *out = lgu_hash64_final(&h);
    if (where) {
        unsigned char v[8];
        lgu_put64(v, *out);
        lg_error ignored; /* a memo that cannot be written only costs a read next time */
        lgp_cache_put(c, key, 0, v, sizeof v, NULL, 0, &ignored);
    }
    return LG_OK;
}

/* Sources: mapped input files seen as layers of rows, and their import. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec/convert.h"
#include "import/source_int.h"
#include "util/buf.h"
#include "util/error.h"

int lgsrc_map(const char *path, lg_source **out, lg_error *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lgu_fail(err, errno == ENOENT ? LG_ENOTFOUND : LG_EIO, "%s: cannot open: %s", path,
                       strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return lgu_fail(err, LG_EINPUT, "%s: not a regular file", path);
    }
    lg_source *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        close(fd);
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    }
    s->map_len = (size_t)st.st_size;
    if (s->map_len) {
        s->map = mmap(NULL, s->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (s->map == MAP_FAILED) {
            int e = errno;
            s->map = NULL;
            close(fd);
            lg_source_close(s);
            return lgu_fail(err, LG_EIO, "%s: cannot map: %s", path, strerror(e));
        }
    }
    close(fd);
    *out = s;
    return LG_OK;
}

int lgsrc_add(lg_source *src, const char *name, uint64_t n, uint32_t d, lg_dtype t, int swap,
              const unsigned char *base, uint64_t si, uint64_t sj, lg_error *err)
{
    lgsrc_layer *p = realloc(src->layers, (src->n_layers + 1) * sizeof *p);
    if (!p)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    src->layers = p;
    lgsrc_layer *L = &p[src->n_layers];
    L->name = strdup(name);
    if (!L->name)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    L->n = n;
    L->d = d;
    L->dtype = t;
    L->swap = swap;
    L->base = base;
    L->si = si;
    L->sj = sj;
    L->pool = 0;
    L->tokens = 0;
    L->src_dtype = t;
    L->keep = NULL;
    L->mask = NULL;
    L->owns_keep = L->owns_mask = 0;
    src->n_layers++;
    return LG_OK;
}

void lgsrc_base_name(const char *path, char *out, size_t cap)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    snprintf(out, cap, "%s", b);
    char *dot = strrchr(out, '.');
    if (dot && dot != out)
        *dot = 0;
}

void lg_source_close(lg_source *src)
{
    if (!src)
        return;
    if (src->map)
        munmap(src->map, src->map_len);
    for (size_t i = 0; i < src->n_layers; i++) {
        free(src->layers[i].name);
        if (src->layers[i].owns_keep)
            free((void *)src->layers[i].keep);
        if (src->layers[i].owns_mask)
            free((void *)src->layers[i].mask);
    }
    free(src->layers);
    free(src->path);
    free(src);
}

size_t lg_source_layer_count(const lg_source *src)
{
    return src->n_layers;
}

int lg_source_layer(const lg_source *src, size_t i, const char **name, uint64_t *n, uint32_t *d,
                    lg_dtype *dtype)
{
    if (i >= src->n_layers)
        return LG_ENOTFOUND;
    const lgsrc_layer *L = &src->layers[i];
    if (name)
        *name = L->name;
    if (n)
        *n = L->n;
    if (d)
        *d = L->d;
    if (dtype)
        *dtype = L->dtype;
    return LG_OK;
}

int lg_source_read(const lg_source *src, size_t i, uint64_t row0, size_t n, void *out,
                   lg_error *err)
{
    if (i >= src->n_layers)
        return lgu_fail(err, LG_ENOTFOUND, "%s: no layer %zu", src->path, i);
    const lgsrc_layer *L = &src->layers[i];
    if (row0 > L->n || n > L->n - row0)
        return lgu_fail(err, LG_EUSAGE, "%s: rows out of range", src->path);
    size_t es = lg_dtype_size(L->dtype);
    unsigned char *o = out;
    if (L->pool || L->keep) {
        if (lgsrc_read_tokens(L, row0, n, out))
            return lgu_fail(err, LG_ENOMEM, "out of memory");
        return LG_OK;
    }
    if (L->sj == 1 && L->si == L->d) {
        memcpy(o, L->base + row0 * L->d * es, n * L->d * es);
    } else {
        /* column-major: walk each column's run of rows, which is contiguous
         * (or evenly strided) in the file */
        for (uint32_t j = 0; j < L->d; j++) {
            const unsigned char *col = L->base + (j * L->sj + row0 * L->si) * es;
            for (size_t r = 0; r < n; r++)
                memcpy(o + (r * L->d + j) * es, col + r * L->si * es, es);
        }
    }
    if (L->swap)
        lgc_byteswap(o, es, n * L->d);
    return LG_OK;
}

/* Copies layer i of src into w in blocks of about 4 MiB: to the layer with
 * handle *h, or (h NULL) to the one the layer-at-a-time calls opened.  *buf
 * (*cap bytes) is kept from one call to the next. */
static int copy_layer(const lg_source *src, size_t i, lg_writer *w, const size_t *h,
                      unsigned char **buf, size_t *cap, lg_error *err)
{
    const lgsrc_layer *L = &src->layers[i];
    size_t row_bytes = (size_t)L->d * lg_dtype_size(L->dtype);
    size_t block = (4u << 20) / row_bytes ? (4u << 20) / row_bytes : 1;
    if (lgu_reserve(buf, cap, block * row_bytes))
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    int rc = LG_OK;
    for (uint64_t r = 0; !rc && r < L->n; r += block) {
        size_t m = L->n - r < block ? (size_t)(L->n - r) : block;
        rc = lg_source_read(src, i, r, m, *buf, err);
        if (!rc)
            rc = h ? lg_writer_add_rows(w, *h, *buf, m, err) : lg_writer_rows(w, *buf, m, err);
    }
    return rc;
}

int lg_import_source(lg_writer *w, const lg_source *src, lg_error *err)
{
    unsigned char *buf = NULL;
    size_t cap = 0;
    int rc = LG_OK;
    for (size_t i = 0; !rc && i < src->n_layers; i++) {
        const lgsrc_layer *L = &src->layers[i];
        rc = lg_writer_begin_layer(w, L->name, L->d, L->dtype, err);
        if (!rc)
            rc = copy_layer(src, i, w, NULL, &buf, &cap, err);
        if (!rc)
            rc = lg_writer_end_layer(w, err);
        if (rc)
            lgu_fail_prefix(err, "%s: layer '%s'", src->path, L->name);
    }
    free(buf);
    return rc;
}

int lg_source_open(const char *path, lg_source **out, lg_error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return lgu_fail(err, errno == ENOENT ? LG_ENOTFOUND : LG_EIO, "%s: cannot open: %s", path,
                       strerror(errno));
    unsigned char head[16] = {0};
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    if (got >= 6 && memcmp(head, "\x93NUMPY", 6) == 0)
        return lg_source_open_npy(path, out, err);
    if (got >= 9 && head[8] == '{')
        return lg_source_open_safetensors(path, NULL, 0, out, err);
    return lgu_fail(err, LG_EINPUT,
                   "%s: offset 0: neither a .npy file (magic \\x93NUMPY) nor safetensors (8-byte "
                   "length, then '{'); for raw buffers give --dim and --dtype",
                   path);
}

int lg_batches_check(lg_source *const *sources, size_t n_sources, lg_error *err)
{
    if (!n_sources)
        return LG_OK;
    const lg_source *first = sources[0];
    size_t L = first->n_layers;
    for (size_t b = 1; b < n_sources; b++) {
        const lg_source *S = sources[b];
        if (S->n_layers != L)
            return lgu_fail(err, LG_EINPUT,
                           "%s: %zu layers, but %s (the first batch) has %zu: every batch file "
                           "holds every layer",
                           S->path, S->n_layers, first->path, L);
        for (size_t l = 0; l < L; l++) {
            const lgsrc_layer *a = &first->layers[l], *x = &S->layers[l];
            if (x->d != a->d || x->n != S->layers[0].n)
                return lgu_fail(err, LG_EINPUT,
                               "%s: layer %zu has %llu rows of %u columns; expected %u columns "
                               "(as in %s) and the rows of its other layers",
                               S->path, l, (unsigned long long)x->n, x->d, a->d, first->path);
        }
    }
    for (size_t l = 1; l < L; l++)
        if (first->layers[l].n != first->layers[0].n)
            return lgu_fail(err, LG_EINPUT, "%s: its layers have different rows", first->path);
    return LG_OK;
}

int lg_import_batches(lg_writer *w, lg_source *const *sources, size_t n_sources,
                      const char *const *names, lg_error *err)
{
    int rc = lg_batches_check(sources, n_sources, err);
    if (rc || !n_sources)
        return rc;
    const lg_source *first = sources[0];
    size_t L = first->n_layers;
    size_t *h = malloc((L ? L : 1) * sizeof *h);
    if (!h)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    for (size_t l = 0; !rc && l < L; l++)
        rc = lg_writer_layer(w, names ? names[l] : first->layers[l].name, first->layers[l].d,
                             first->layers[l].dtype, &h[l], err);
    unsigned char *buf = NULL;
    size_t cap = 0;
    for (size_t b = 0; !rc && b < n_sources; b++)
        for (size_t l = 0; !rc && l < L; l++)
            if ((rc = copy_layer(sources[b], l, w, &h[l], &buf, &cap, err)))
                lgu_fail_prefix(err, "%s: layer %zu", sources[b]->path, l);
    free(buf);
    free(h);
    return rc;
}

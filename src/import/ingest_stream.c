/* Ingest of the stream form (formats/store-format.md): records decoded as
 * they arrive, layer by layer (1.0) or batch by batch (1.1, LAYER records). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/convert.h"
#include "import/source_int.h"
#include "util/le.h"
#include "import/ingest_int.h"
#include "util/error.h"

#define U64(x) ((unsigned long long)(x))
#define BLOCK_BYTES (4u << 20)

/* ---- the stream form ---- */

static int put_meta(lg_writer *w, const unsigned char *p, size_t len, uint64_t pairs,
                    uint64_t at, lg_error *err)
{
    size_t pos = 0;
    for (uint64_t i = 0; i < pairs; i++) {
        const char *key;
        const void *val;
        uint32_t kl, vl;
        if (lg_meta_next(p, len, &pos, &key, &kl, &val, &vl) != 1)
            goto bad;
        char name[LG_MAX_NAME + 1];
        memcpy(name, key, kl);
        name[kl] = 0;
        int rc = lg_writer_meta(w, name, val, vl, err);
        if (rc)
            return rc;
    }
    if (pos == len)
        return LG_OK;
bad:
    return lgu_fail(err, LG_EINPUT, "input: meta record at offset %llu: bad key/value layout",
                    U64(at));
}


/* A layer a batch-major stream declared (LAYER record). */
typedef struct decl {
    uint32_t id, d;
    lg_dtype dtype;
    size_t handle;   /* the writer's */
    uint64_t rows;   /* rows this stream gave it */
    char *name;
} decl;

/* A label set a batch-major stream extends (LABELS_EXTEND records). */
typedef struct ext_set {
    char *name;
    uint64_t count; /* labels this stream gave it */
} ext_set;

typedef struct stream_state {
    open_layer L;     /* a layer-by-layer (1.0) layer */
    decl *decls;
    size_t n_decls;
    ext_set *sets;
    size_t n_sets;
} stream_state;

static void free_state(stream_state *S)
{
    for (size_t i = 0; i < S->n_decls; i++)
        free(S->decls[i].name);
    free(S->decls);
    for (size_t i = 0; i < S->n_sets; i++)
        free(S->sets[i].name);
    free(S->sets);
}

static decl *find_decl(stream_state *S, uint32_t id)
{
    for (size_t i = 0; i < S->n_decls; i++)
        if (S->decls[i].id == id)
            return &S->decls[i];
    return NULL;
}

static ext_set *find_set(stream_state *S, const char *name, int create)
{
    for (size_t i = 0; i < S->n_sets; i++)
        if (strcmp(S->sets[i].name, name) == 0)
            return &S->sets[i];
    if (!create)
        return NULL;
    ext_set *p = realloc(S->sets, (S->n_sets + 1) * sizeof *p);
    if (!p)
        return NULL;
    S->sets = p;
    p[S->n_sets] = (ext_set){strdup(name), 0};
    return p[S->n_sets].name ? &p[S->n_sets++] : NULL;
}

static void lost_rows(const lg_writer *w, const stream_state *S, lg_ingest_stats *st)
{
    if (S->L.open) /* its name comes with its seal, which did not arrive */
        snprintf(st->lost, sizeof st->lost,
                 "the incomplete layer with id %u (layer %llu of the input, unnamed until its "
                 "seal; %llu rows so far) was not kept",
                 S->L.id, U64(st->layers + 1), U64(S->L.rows));
    else if (S->n_decls)
        snprintf(st->lost, sizeof st->lost,
                 "rows after row %llu (the last commit) of every layer were not kept",
                 U64(lg_writer_rows_committed(w)));
}

static int declare(stream_state *S, lg_writer *w, const lg_stream_record *r, lg_error *err)
{
    if (find_decl(S, r->layer_id))
        return lgu_fail(err, LG_EINPUT, "input: layer record at offset %llu declares layer id %u "
                       "again", U64(r->offset), r->layer_id);
    for (size_t i = 0; i < S->n_decls; i++)
        if (strcmp(S->decls[i].name, r->name) == 0)
            return lgu_fail(err, LG_EINPUT,
                           "input: layer record at offset %llu declares the name '%s' again",
                           U64(r->offset), r->name);
    decl *p = realloc(S->decls, (S->n_decls + 1) * sizeof *p);
    if (!p)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    S->decls = p;
    decl *D = &p[S->n_decls];
    *D = (decl){r->layer_id, r->d, r->dtype, 0, 0, strdup(r->name)};
    if (!D->name)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    int rc = lg_writer_layer(w, r->name, r->d, r->dtype, &D->handle, err);
    if (rc) {
        free(D->name);
        return lgu_fail_prefix(err, "input: layer record at offset %llu", U64(r->offset));
    }
    S->n_decls++;
    return LG_OK;
}

static int declared_chunk(decl *D, lg_writer *w, const lg_stream_record *r, lg_ingest_stats *st,
                          lg_error *err)
{
    if (r->d != D->d || r->dtype != D->dtype || r->first_row != D->rows)
        return lgu_fail(err, LG_EINPUT,
                       "input: chunk at offset %llu (layer '%s', rows from %llu, %u columns of "
                       "%s) does not continue its layer (%llu rows so far in this stream, %u "
                       "columns of %s)",
                       U64(r->offset), D->name, U64(r->first_row), r->d,
                       lg_dtype_name(r->dtype), U64(D->rows), D->d, lg_dtype_name(D->dtype));
    int rc = r->data_crc_known
                 ? lg_writer_add_rows_crc(w, D->handle, r->data, r->rows, r->data_crc, err)
                 : lg_writer_add_rows(w, D->handle, r->data, r->rows, err);
    if (rc)
        return rc;
    D->rows += r->rows;
    st->rows += r->rows;
    return LG_OK;
}

/* A layer-by-layer (format 1.0) chunk: one layer at a time, named by its
 * seal at the end. */
static int plain_chunk(open_layer *L, lg_writer *w, const lg_stream_record *r,
                       lg_ingest_stats *st, lg_error *err)
{
    int rc;
    if (!L->open) {
        snprintf(L->name, sizeof L->name, "~incoming-%u", r->layer_id);
        rc = lg_writer_begin_layer(w, L->name, r->d, r->dtype, err);
        if (rc)
            return rc;
        *L = (open_layer){1, 0, r->layer_id, r->d, r->dtype, 0, ""};
        snprintf(L->name, sizeof L->name, "~incoming-%u", r->layer_id);
    }
    if (r->layer_id != L->id || r->d != L->d || r->dtype != L->dtype || r->first_row != L->rows)
        return lgu_fail(err, LG_EINPUT,
                       "input: chunk at offset %llu (layer %u, rows from %llu, %u columns) "
                       "does not continue layer %u (%llu rows so far, %u columns): a stream "
                       "without LAYER records sends one layer at a time, rows in order",
                       U64(r->offset), r->layer_id, U64(r->first_row), r->d, L->id,
                       U64(L->rows), L->d);
    rc = r->data_crc_known ? lg_writer_rows_crc(w, r->data, r->rows, r->data_crc, err)
                           : lg_writer_rows(w, r->data, r->rows, err);
    if (!rc) /* rows in the store as they arrive: a follower sees them */
        rc = lg_writer_flush(w, err);
    if (rc)
        return rc;
    L->rows += r->rows;
    st->rows += r->rows;
    return LG_OK;
}

static int seal_record(stream_state *S, lg_writer *w, const lg_stream_record *r,
                       lg_ingest_stats *st, lg_error *err)
{
    decl *D = find_decl(S, r->layer_id);
    if (D) { /* optional in a batch-major stream: it must agree */
        if (r->rows != D->rows || strcmp(r->name, D->name) != 0)
            return lgu_fail(err, LG_EINPUT,
                           "input: seal at offset %llu (layer '%s', %llu rows) does not match "
                           "layer '%s' (%llu rows came)",
                           U64(r->offset), r->name, U64(r->rows), D->name, U64(D->rows));
        return LG_OK;
    }
    open_layer *L = &S->L;
    if (!L->open || r->layer_id != L->id || r->rows != L->rows)
        return lgu_fail(err, LG_EINPUT,
                       "input: seal at offset %llu (layer %u, %llu rows) does not match the "
                       "rows that came (%s%llu rows)",
                       U64(r->offset), r->layer_id, U64(r->rows),
                       L->open ? "" : "no layer open, ", U64(L->rows));
    int rc = lg_writer_name_layer(w, r->name, err);
    if (!rc)
        rc = lg_writer_end_layer(w, err);
    L->open = 0;
    if (!rc)
        st->layers++;
    return rc;
}

static int labels_record(stream_state *S, lg_writer *w, const lg_stream_record *r, int extend,
                         lg_error *err)
{
    ext_set *E = find_set(S, r->name, extend);
    if (extend && !E)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    if (extend && r->first_row != E->count)
        return lgu_fail(err, LG_EINPUT,
                       "input: labels-extend at offset %llu (set '%s'): first label %llu, but "
                       "%llu came before in this stream",
                       U64(r->offset), r->name, U64(r->first_row), U64(E->count));
    if (!extend && E) {
        /* the whole set again, at the end of a batch-major stream: it must
         * be what the extensions gave */
        if (r->rows != E->count)
            return lgu_fail(err, LG_EINPUT,
                           "input: labels at offset %llu (set '%s'): %llu labels, but the "
                           "stream extended the set to %llu",
                           U64(r->offset), r->name, U64(r->rows), U64(E->count));
        return LG_OK;
    }
    int64_t *v = malloc(r->rows ? r->rows * 8 : 8);
    if (!v)
        return lgu_fail(err, LG_ENOMEM, "out of memory for %llu labels", U64(r->rows));
    for (uint64_t i = 0; i < r->rows; i++)
        v[i] = (int64_t)lgu_get64((const unsigned char *)r->data + 8 * i);
    int rc = extend ? lg_writer_add_labels(w, r->name, v, r->rows, err)
                    : lg_writer_labels(w, r->name, v, r->rows, err);
    free(v);
    if (!rc && extend)
        E->count += r->rows;
    return rc;
}

int lgi_stream_form(peek *p, lg_writer *w, lg_ingest_stats *st, lg_error *err)
{
    lg_stream *s;
    int rc = lg_stream_open(lgi_peek_read, p, &s, err);
    if (rc)
        return rc;
    stream_state S = {0};
    lg_stream_record r;
    while (!(rc = lg_stream_next(s, &r, err))) {
        st->records++;
        if (r.type == LG_REC_END) {
            st->clean_end = 1;
            rc = lgi_trailing(p, "the end record", err);
            break;
        }
        decl *D;
        switch (r.type) {
        case LG_REC_LAYER: rc = declare(&S, w, &r, err); break;
        case LG_REC_CHUNK:
            D = find_decl(&S, r.layer_id);
            rc = D ? declared_chunk(D, w, &r, st, err) : plain_chunk(&S.L, w, &r, st, err);
            break;
        case LG_REC_SEAL: rc = seal_record(&S, w, &r, st, err); break;
        case LG_REC_LABELS: rc = labels_record(&S, w, &r, 0, err); break;
        case LG_REC_LABELS_EXTEND: rc = labels_record(&S, w, &r, 1, err); break;
        case LG_REC_META: rc = put_meta(w, r.meta, r.data_len, r.rows, r.offset, err); break;
        default: break;
        }
        if (rc)
            break;
    }
    if (!rc)
        st->layers += S.n_decls;
    if (rc) {
        lost_rows(w, &S, st);
        if (S.L.open)
            lg_writer_abort_layer(w);
    }
    free_state(&S);
    lg_stream_close(s);
    return rc;
}

/*
 * Commits: when every layer and label set is level, the buffers are flushed
 * and each layer's SEAL or EXTEND, the label records, META, INDEX and TRAILER
 * are written, synced before and after.  Closing commits with the chains
 * folded into full records; the stream form ends with its seals and END.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/writer_int.h"
#include "util/error.h"
#include "util/io.h"

#define U64(x) ((unsigned long long)(x))

static int write_meta(lg_writer *w, lg_error *err)
{
    if (!w->meta_dirty)
        return LG_OK;
    size_t len = 0;
    for (size_t i = 0; i < w->n_meta; i++)
        len += 8 + strlen(w->meta[i].key) + w->meta[i].len;
    if (len > LGS_MAX_META_BYTES)
        return lgu_fail(err, LG_EUSAGE, "%s: metadata too large (%zu bytes)", w->path, len);
    unsigned char *p = malloc(len ? len : 1), *q = p;
    if (!p)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    for (size_t i = 0; i < w->n_meta; i++) {
        uint32_t kl = (uint32_t)strlen(w->meta[i].key);
        lgu_put32(q, kl);
        lgu_put32(q + 4, (uint32_t)w->meta[i].len);
        memcpy(q + 8, w->meta[i].key, kl);
        memcpy(q + 8 + kl, w->meta[i].val, w->meta[i].len);
        q += 8 + kl + w->meta[i].len;
    }
    lgs_header h = {.type = LGS_META, .stored_size = len, .raw_size = len, .a = w->n_meta};
    uint64_t at = w->off;
    int rc = lgw_put_record(w, &h, p, 0, err);
    free(p);
    if (!rc) {
        w->meta_off = at;
        w->meta_dirty = 0;
    }
    return rc;
}

/* LABELS (full) or LABELS_EXTEND (the labels since the last commit). */
static int write_labels(lg_writer *w, wlabels *S, int full, lg_error *err)
{
    size_t nl = strlen(S->name);
    uint64_t first = full ? 0 : S->committed, count = S->n - first;
    uint64_t len = lgs_labels_size(nl, count, !full);
    unsigned char *p = calloc(1, len);
    if (!p)
        return lgu_fail(err, LG_ENOMEM, "out of memory for %llu labels", U64(count));
    lgs_labels_encode(p, S->name, nl, S->head, first, S->v + first, count, !full);
    lgs_header h = {.type = full ? LGS_LABELS : LGS_LABELS_EXTEND, .stored_size = len,
                    .raw_size = len, .a = S->n};
    uint64_t at = w->off;
    int rc = lgw_put_record(w, &h, p, 0, err);
    free(p);
    if (rc)
        return rc;
    S->head = at;
    S->depth = full ? 0 : S->depth + 1;
    S->committed = S->n;
    S->replaced = 0;
    return LG_OK;
}

/* ---- commits ---- */

/* Are all layers and label sets at the same rows, and none held?  *n gets
 * those rows; why (may be NULL) says what is not level. */
static int level(const lg_writer *w, uint64_t *n, char *why, size_t cap)
{
    const wlayer *first = NULL;
    for (size_t i = 0; i < w->n_layers; i++) {
        const wlayer *L = w->layers[i];
        if (!L)
            continue;
        if (L->held) {
            if (why)
                snprintf(why, cap, "layer '%s' is still being written (%llu rows so far)",
                         L->name, U64(L->rows));
            return 0;
        }
        if (!first)
            first = L;
        else if (L->rows != first->rows) {
            if (why)
                snprintf(why, cap, "layer '%s' has %llu rows but layer '%s' has %llu",
                         L->name, U64(L->rows), first->name, U64(first->rows));
            return 0;
        }
    }
    uint64_t rows = first ? first->rows : (w->n_labels ? w->labels[0].n : 0);
    for (size_t i = 0; i < w->n_labels; i++)
        if (w->labels[i].n != rows) {
            if (why)
                snprintf(why, cap, "label set '%s' has %llu labels for %llu rows",
                         w->labels[i].name, U64(w->labels[i].n), U64(rows));
            return 0;
        }
    if (first && rows == 0 && w->n_labels) /* labels with empty layers */
        return 0;
    *n = rows;
    return 1;
}

static int changed(const lg_writer *w, int closing)
{
    if (w->dirty || w->meta_dirty)
        return 1;
    for (size_t i = 0; i < w->n_layers; i++) {
        const wlayer *L = w->layers[i];
        if (L && (L->rows != L->committed || L->renamed || (closing && L->depth)))
            return 1;
    }
    for (size_t i = 0; i < w->n_labels; i++) {
        const wlabels *S = &w->labels[i];
        if (S->n != S->committed || S->replaced || (closing && S->depth))
            return 1;
    }
    return 0;
}

/* Writes the commit records: every layer's and label set's new state, META,
 * INDEX, TRAILER.  closing: chains are folded into full records. */
static int write_commit(lg_writer *w, uint64_t rows, int closing, lg_error *err)
{
    int rc = LG_OK;
    for (size_t i = 0; !rc && i < w->n_layers; i++)
        if (w->layers[i])
            rc = lgw_flush_layer(w, w->layers[i], err);
    if (!rc && w->o.durable) {
        int e = lgu_io_sync(w->fd);
        if (e)
            rc = lgw_io_fail(w, e, "sync the records", err);
    }
    size_t n_index = 0;
    for (size_t i = 0; !rc && i < w->n_layers; i++) {
        wlayer *L = w->layers[i];
        if (!L || !L->rows)
            continue;
        n_index++;
        int full = !L->committed || L->renamed || L->depth + 1 >= LGW_MAX_CHAIN ||
                   (closing && L->depth);
        if (full || L->rows != L->committed)
            rc = lgw_seal_record(w, L, full, err);
    }
    for (size_t i = 0; !rc && i < w->n_labels; i++) {
        wlabels *S = &w->labels[i];
        n_index++;
        int full = !S->head || S->replaced || S->depth + 1 >= LGW_MAX_CHAIN ||
                   (closing && S->depth);
        if (full || S->n != S->committed)
            rc = write_labels(w, S, full, err);
    }
    if (!rc)
        rc = write_meta(w, err);
    if (rc)
        return rc;
    n_index += w->meta_off ? 1 : 0;
    unsigned char *p = malloc(n_index ? 8 * n_index : 1);
    if (!p)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < w->n_layers; i++)
        if (w->layers[i] && w->layers[i]->rows)
            lgu_put64(p + 8 * k++, w->layers[i]->head);
    for (size_t i = 0; i < w->n_labels; i++)
        lgu_put64(p + 8 * k++, w->labels[i].head);
    if (w->meta_off)
        lgu_put64(p + 8 * k++, w->meta_off);
    assert(k == n_index);
    lgs_header h = {.type = LGS_INDEX, .stored_size = 8 * n_index, .raw_size = 8 * n_index,
                    .a = n_index};
    uint64_t index_at = w->off;
    rc = lgw_put_record(w, &h, p, 0, err);
    free(p);
    if (rc)
        return rc;
    lgs_header t = {.type = LGS_TRAILER, .a = index_at, .b = (uint32_t)(w->generation + 1)};
    lgu_put64(t.e + 4, w->off);
    rc = lgw_put_record(w, &t, NULL, 0, err);
    if (rc)
        return rc;
    if (w->o.durable) {
        int e = lgu_io_sync(w->fd);
        if (e)
            return lgw_io_fail(w, e, "sync the index", err);
    }
    w->generation++;
    w->dirty = 0;
    w->commit_end = w->off;
    w->committed_rows = rows;
    w->last_commit = lgw_now();
    w->bytes_since = 0;
    return LG_OK;
}

static int commit(lg_writer *w, int closing, lg_error *err)
{
    if (w->failed)
        return lgu_fail(err, LG_EIO, "%s: an earlier write failed; nothing more is written",
                       w->path);
    if (w->stream) {
        /* the stream form has no commits: what was given is sent, the
         * batch's labels after its rows */
        int rc = LG_OK;
        for (size_t i = 0; !rc && i < w->n_layers; i++)
            if (w->layers[i] && !w->layers[i]->held)
                rc = lgw_flush_layer(w, w->layers[i], err);
        for (size_t i = 0; !rc && i < w->n_labels; i++)
            if (w->labels[i].n > w->labels[i].committed && !w->labels[i].replaced)
                rc = write_labels(w, &w->labels[i], 0, err);
        return rc ? rc : write_meta(w, err);
    }
    char why[LG_ERROR_MSG_MAX];
    uint64_t rows = 0;
    if (!level(w, &rows, why, sizeof why))
        return lgu_fail(err, LG_EUSAGE,
                       "%s: cannot commit: %s (a commit needs every layer and label set at "
                       "the same rows)",
                       w->path, why);
    if (!changed(w, closing))
        return LG_OK;
    return write_commit(w, rows, closing, err);
}

int lg_writer_commit(lg_writer *w, lg_error *err)
{
    return commit(w, 0, err);
}

int lgw_maybe_commit(lg_writer *w, int force_new_layers, lg_error *err)
{
    if (w->stream || w->failed)
        return LG_OK;
    uint64_t rows;
    if (!level(w, &rows, NULL, 0) || !changed(w, 0))
        return LG_OK;
    int due = force_new_layers;
    for (size_t i = 0; !due && i < w->n_layers; i++)
        due = w->layers[i] && !w->layers[i]->committed && w->layers[i]->rows;
    if (!due && w->o.commit_bytes && w->bytes_since >= w->o.commit_bytes)
        due = 1;
    if (!due && w->o.commit_seconds > 0 && lgw_now() - w->last_commit >= w->o.commit_seconds)
        due = 1;
    return due ? write_commit(w, rows, 0, err) : LG_OK;
}

/* Stream form, at its end: flush every declared layer and seal it (so that
 * the stream saved to a file reads as a store), the label sets, META, END. */
static int end_stream(lg_writer *w, lg_error *err)
{
    int rc = LG_OK;
    for (size_t i = 0; !rc && i < w->n_layers; i++) {
        wlayer *L = w->layers[i];
        if (!L || L->stream_sealed || !L->rows)
            continue;
        rc = lgw_flush_layer(w, L, err);
        if (!rc)
            rc = lgw_seal_record(w, L, 1, err);
    }
    for (size_t i = 0; !rc && i < w->n_labels; i++)
        rc = write_labels(w, &w->labels[i], 1, err);
    if (!rc)
        rc = write_meta(w, err);
    if (!rc) {
        lgs_header h = {.type = LGS_END, .a = w->n_records};
        rc = lgw_put_record(w, &h, NULL, 0, err);
    }
    return rc;
}

int lg_writer_close(lg_writer *w, lg_error *err)
{
    if (!w)
        return LG_OK;
    int rc = LG_OK;
    if (lgw_current(w) && !lgw_current(w)->committed) {
        rc = lgu_fail(err, LG_EUSAGE, "%s: layer '%s' was not ended; it is not kept", w->path,
                     lgw_current(w)->name);
        lgw_drop_layer(w, (size_t)w->cur);
    }
    if (!w->failed) {
        lg_error e2;
        int rc2 = w->stream ? end_stream(w, rc ? &e2 : err) : commit(w, 1, rc ? &e2 : err);
        if (rc2 && !w->stream && !rc)
            lgu_fail_prefix(err, "the rows given after row %llu (the last commit) were not kept",
                           U64(w->committed_rows));
        if (!rc)
            rc = rc2;
    }
    lgw_free_writer(w);
    return rc;
}

void lg_writer_abort(lg_writer *w)
{
    lgw_free_writer(w);
}

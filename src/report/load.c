/* Reading a profile JSON back (layergeom compare).  Only what the figures and
 * tables need is read; anything missing is an error naming the field. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layergeom/report.h"
#include "util/error.h"
#include "util/json.h"

static double num_or_nan(const lgj *v)
{
    return v && v->type == LGJ_NUM ? v->num : NAN;
}

/* The first value of an {"k": value, ...} object (the profile's own k comes
 * first), or NaN. */
static double at_k(const lgj *v)
{
    return v && v->type == LGJ_OBJ && v->len >= 1 ? num_or_nan(v->items[0]) : NAN;
}

static int load_layer(const lgj *o, lg_layer_result *r, const char *path, size_t q,
                      lg_error *err)
{
    const lgj *name = lgj_get(o, "name"), *idv = lgj_get(o, "intrinsic_dimension"),
              *tw = lgj_get(o, "twonn"), *gr = lgj_get(o, "gride");
    if (!name || name->type != LGJ_STR || !idv || !tw)
        return lgu_fail(err, LG_EINPUT,
                       "%s: layers[%zu]: expected \"name\", \"intrinsic_dimension\" and "
                       "\"twonn\" (a profile JSON written by layergeom profile --json)",
                       path, q);
    r->name = strdup(name->str);
    if (!r->name)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    r->index = (size_t)num_or_nan(lgj_get(o, "index"));
    r->layer_id = (uint32_t)num_or_nan(lgj_get(o, "id"));
    r->n = (uint64_t)num_or_nan(lgj_get(o, "n"));
    r->d = (uint32_t)num_or_nan(lgj_get(o, "d"));
    r->id = num_or_nan(lgj_get(idv, "value"));
    r->id_err = num_or_nan(lgj_get(idv, "err"));
    r->twonn.id = num_or_nan(lgj_get(tw, "id"));
    r->twonn.bayes_std = num_or_nan(lgj_get(tw, "err"));
    r->twonn.id_ml = num_or_nan(lgj_get(o, "twonn_ml"));
    r->duplicates = (uint64_t)num_or_nan(lgj_get(o, "duplicates"));
    r->seconds = num_or_nan(lgj_get(o, "seconds"));
    r->overlap_prev = at_k(lgj_get(o, "overlap_prev"));
    r->has_prev = isfinite(r->overlap_prev);
    r->overlap_labels.unweighted = at_k(lgj_get(o, "overlap_labels"));
    r->overlap_labels.class_weighted = at_k(lgj_get(o, "overlap_labels_class_weighted"));
    r->has_labels = isfinite(r->overlap_labels.unweighted);
    const lgj *n1 = lgj_get(gr, "n1"), *n2 = lgj_get(gr, "n2"), *gi = lgj_get(gr, "id"),
              *ge = lgj_get(gr, "err"), *rs = lgj_get(gr, "rs");
    if (n1 && n2 && gi && ge && rs && n1->type == LGJ_ARR) {
        size_t s = n1->len;
        if (s > LG_GRIDE_MAX_SCALES || n2->len != s || gi->len != s || ge->len != s ||
            rs->len != s)
            return lgu_fail(err, LG_EINPUT, "%s: layers[%zu].gride: arrays of unequal length",
                           path, q);
        for (size_t k = 0; k < s; k++) {
            r->gride.n1[k] = (uint32_t)num_or_nan(n1->items[k]);
            r->gride.n2[k] = (uint32_t)num_or_nan(n2->items[k]);
            r->gride.id[k] = num_or_nan(gi->items[k]);
            r->gride.err[k] = num_or_nan(ge->items[k]);
            r->gride.rs[k] = num_or_nan(rs->items[k]);
        }
        r->gride.scales = (int)s;
    }
    return LG_OK;
}

int lg_profile_load_json(const char *path, lg_profile *out, lg_error *err)
{
    memset(out, 0, sizeof *out);
    out->rec.index = out->rec.peak = out->best_label_layer = -1;
    FILE *f = fopen(path, "rb");
    if (!f)
        return lgu_fail(err, LG_ENOTFOUND, "%s: cannot open", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (len < 0 || len > (256L << 20)) {
        fclose(f);
        return lgu_fail(err, LG_EINPUT, "%s: not a profile JSON (size %ld)", path, len);
    }
    char *text = malloc((size_t)len + 1);
    size_t got = text ? fread(text, 1, (size_t)len, f) : 0;
    fclose(f);
    if (!text || got != (size_t)len) {
        free(text);
        return lgu_fail(err, LG_EIO, "%s: cannot read", path);
    }
    char why[160];
    lgj *root = lgj_parse(text, got, why, sizeof why);
    free(text);
    if (!root)
        return lgu_fail(err, LG_EINPUT, "%s: invalid JSON: %s", path, why);
    const lgj *layers = lgj_get(root, "layers"), *params = lgj_get(root, "parameters");
    int rc = LG_OK;
    if (!layers || layers->type != LGJ_ARR || !params) {
        rc = lgu_fail(err, LG_EINPUT, "%s: expected \"layers\" and \"parameters\" (a profile "
                                     "JSON written by layergeom profile --json)",
                     path);
        goto out;
    }
    lg_profile_opts_default(&out->opts);
    double k = num_or_nan(lgj_get(params, "k"));
    out->opts.k = isfinite(k) ? (uint32_t)k : 30;
    /* the parameters compare warns about when they differ */
    const lgj *idk = lgj_get(params, "id"), *dup = lgj_get(params, "duplicates");
    if (idk && idk->type == LGJ_STR) {
        out->opts.paper = !strcmp(idk->str, "paper");
        out->opts.id_kind = !strcmp(idk->str, "ml")      ? LG_ID_ML
                            : !strcmp(idk->str, "gride") ? LG_ID_GRIDE
                            : !strcmp(idk->str, "kstar") ? LG_ID_KSTAR
                                                         : LG_ID_TWONN;
    }
    if (dup && dup->type == LGJ_STR)
        out->opts.twonn.duplicates = strcmp(dup->str, "keep") ? LG_DUP_DROP : LG_DUP_KEEP;
    double disc = num_or_nan(lgj_get(params, "twonn_discard"));
    if (isfinite(disc))
        out->opts.twonn.discard = disc;
    double grank = num_or_nan(lgj_get(params, "gride_rank"));
    if (isfinite(grank))
        out->opts.gride_rank = (uint32_t)grank;
    const lgj *model = lgj_get(root, "model");
    if (model && model->type == LGJ_STR)
        snprintf(out->model, sizeof out->model, "%s", model->str);
    out->layers = calloc(layers->len ? layers->len : 1, sizeof *out->layers);
    if (!out->layers) {
        rc = lgu_fail(err, LG_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t q = 0; !rc && q < layers->len; q++) {
        out->n_layers = q + 1; /* so that lg_profile_free frees what was read */
        rc = load_layer(layers->items[q], &out->layers[q], path, q, err);
    }
    double sl = num_or_nan(lgj_get(root, "store_layers"));
    out->store_layers = isfinite(sl) ? (size_t)sl : out->n_layers;
    const lgj *rec = lgj_get(root, "recommended_layer");
    double ri = num_or_nan(lgj_get(rec, "index")), pi = num_or_nan(lgj_get(rec, "peak_index"));
    const lgj *reason = lgj_get(rec, "reason");
    for (size_t q = 0; q < out->n_layers; q++) {
        if (isfinite(ri) && out->layers[q].index == (size_t)ri)
            out->rec.index = (int)q;
        if (isfinite(pi) && out->layers[q].index == (size_t)pi)
            out->rec.peak = (int)q;
    }
    if (reason && reason->type == LGJ_STR)
        snprintf(out->rec.reason, sizeof out->rec.reason, "%s", reason->str);
out:
    lgj_free(root);
    if (rc)
        lg_profile_free(out);
    return rc;
}

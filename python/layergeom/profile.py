"""The layer-by-layer profile from Python, computed by the same library job
as `layergeom profile` (so its numbers are the CLI's JSON, exactly)."""

import ctypes
import json
import os
import tempfile
import warnings

import numpy as np

from . import _lib
from ._run import run_stoppable
from .errors import UsageError
from .estimators import label_ids


def settings():
    """The profile's settings: {name: (argument, help)} (as the CLI's options)."""
    out = {}
    for i in range(_lib.lib.lg_job_setting_count()):
        n, a, h = ctypes.c_char_p(), ctypes.c_char_p(), ctypes.c_char_p()
        _lib.lib.lg_job_setting(i, ctypes.byref(n), ctypes.byref(a), ctypes.byref(h))
        out[n.value.decode()] = (a.value.decode() if a.value else None, h.value.decode())
    return out


def _value(v):
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (list, tuple)):
        return ",".join(str(x) for x in v)
    return str(v)


class Profile:
    """A profile: ``layers`` (one dict per layer, as in the JSON), ``ids`` and
    ``errors`` (the chosen estimator per layer), ``recommended`` (the layer's
    index in ``layers``) with ``reason``, ``peak`` and ``plateau``;
    ``to_dict()`` (the JSON of docs/json-schema.md), ``to_pandas()``,
    ``report(path)`` (the HTML page), ``table()`` (the CLI's table)."""

    def __init__(self, job, data, warning=None):
        self._job = job  # the C job, for reports; freed with the profile
        self._data = data
        self.warning = warning

    def __del__(self):
        job, self._job = getattr(self, "_job", None), None
        if job:
            _lib.lib.lg_job_free(job)

    def _report(self, kind):
        out = ctypes.c_void_p()
        n = ctypes.c_size_t()
        err = _lib.new_error()
        _lib.check(_lib.lib.lg_job_report_string(self._job, kind.encode(), ctypes.byref(out),
                                                 ctypes.byref(n), ctypes.byref(err)), err)
        try:
            return ctypes.string_at(out, n.value).decode()
        finally:
            _lib.lib.lg_free(out)

    def to_dict(self):
        """The profile as the CLI's JSON (docs/json-schema.md), parsed."""
        return json.loads(json.dumps(self._data))

    def to_json(self):
        return self._report("json")

    def table(self):
        """The aligned table `layergeom profile` prints."""
        return self._report("table")

    def csv(self):
        return self._report("csv")

    def report(self, path):
        """Writes the self-contained HTML report (figures, table) to path."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(self._report("html"))
        return path

    def svg(self, path=None):
        """The main figure as SVG text (written to path when given)."""
        s = self._report("svg")
        if path:
            with open(path, "w", encoding="utf-8") as f:
                f.write(s)
        return s

    def _repr_html_(self):  # notebooks show the figure
        return self._report("svg")

    def __repr__(self):
        r = self.recommended
        return "<layergeom.Profile: %d layers, recommended %s>" % (
            len(self.layers), "none" if r is None else "%d (%s)" % (r, self.layers[r]["name"]))

    @property
    def layers(self):
        return self._data["layers"]

    @property
    def names(self):
        return [l["name"] for l in self.layers]

    @property
    def ids(self):
        return np.array([_num(l["intrinsic_dimension"]["value"]) for l in self.layers])

    @property
    def errors(self):
        return np.array([_num(l["intrinsic_dimension"]["err"]) for l in self.layers])

    @property
    def recommended(self):
        """The recommended layer's position in ``layers`` (None without one);
        its store position is ``layers[p.recommended]["index"]``."""
        r = self._data.get("recommended_layer")
        if not r:
            return None
        return next(q for q, l in enumerate(self.layers) if l["index"] == r["index"])

    @property
    def reason(self):
        r = self._data.get("recommended_layer")
        return r["reason"] if r else None

    @property
    def peak(self):
        """Store position of the first ID peak (None without one)."""
        r = self._data.get("recommended_layer")
        return r.get("peak_index") if r else None

    @property
    def plateau(self):
        """Store positions of the layers within tolerance of the minimum."""
        r = self._data.get("recommended_layer")
        return r.get("plateau") if r else None

    def to_pandas(self):
        """One row per layer, flat columns: index, name, n, d, depth (relative,
        0..1), id, id_err, estimator, twonn, twonn_err, twonn_ml,
        twonn_bayes_mean, scale, gride_<n2> for every GRIDE scale,
        overlap_prev (NaN on the first layer), overlap_labels,
        overlap_labels_class_weighted (NaN without labels), duplicates,
        nonfinite_rows, note, recommended (bool)."""
        import pandas as pd
        rows = []
        total = self._data.get("store_layers") or len(self.layers)
        k = str(self._data["parameters"]["k"])
        rec = self.recommended
        for q, l in enumerate(self.layers):
            t = l.get("twonn") or {}
            row = {"index": l["index"], "name": l["name"], "n": l["n"], "d": l["d"],
                   "depth": l["index"] / (total - 1) if total > 1 else 0.0,
                   "id": _num(l["intrinsic_dimension"]["value"]),
                   "id_err": _num(l["intrinsic_dimension"]["err"]),
                   "estimator": l["intrinsic_dimension"]["estimator"],
                   "twonn": _num(t.get("id")), "twonn_err": _num(t.get("err")),
                   "twonn_ml": _num(l.get("twonn_ml")),
                   "twonn_bayes_mean": _num(t.get("bayes_mean")), "scale": _num(t.get("scale"))}
            g = l.get("gride") or {}
            for n2, v in zip(g.get("n2", []), g.get("id", [])):
                row["gride_%d" % n2] = _num(v)
            for key in ("overlap_prev", "overlap_labels", "overlap_labels_class_weighted"):
                row[key] = _num((l.get(key) or {}).get(k))
            row["duplicates"] = l.get("duplicates")
            row["nonfinite_rows"] = l.get("nonfinite_rows")
            row["note"] = l.get("note")
            row["recommended"] = q == rec
            rows.append(row)
        return pd.DataFrame(rows)


def _num(v):
    return float("nan") if v is None else float(v)


def _tqdm_progress():
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    bar = {}

    def cb(name, done, total, value):
        if "bar" not in bar:
            bar["bar"] = tqdm(total=total, unit="layer")
        bar["bar"].set_postfix_str("%s ID %.2f" % (name, value))
        bar["bar"].update(1)
        if done == total:
            bar["bar"].close()
    return cb


def _write_arrays(arrays, path, labels):
    from .store import Writer
    if isinstance(arrays, dict):
        items = list(arrays.items())
    else:
        items = [("layer%02d" % i, a) for i, a in enumerate(arrays)]
    if not items:
        raise UsageError("profile needs at least one layer")
    with Writer(path, durable=False, commit_seconds=0) as w:
        for name, a in items:
            w.add_rows(name, a)
        if labels is not None and not isinstance(labels, (str, os.PathLike)):
            w.set_labels(labels)


def profile(source, k=30, *, knn="exact", memory=None, labels=None, progress=None, cache=None,
            **settings_):
    """The profile of a store (a path or a Store) or of arrays (a list of
    N x D arrays, or {name: array}, one per layer).

    Every setting of `layergeom profile` is a keyword, with '_' for '-':
    k, knn ("exact"/"approx"), id ("twonn"/"ml"/"gride"), gride_rank,
    gride_max, discard, preset ("paper"), decimation, duplicates, nonfinite,
    label_set, no_labels, class_fraction, overlap_matrix, layers (a list of
    indices or names), tolerance, seed, threads, memory ("2G"), scratch,
    cells, nprobe, check_rows, recall.  labels: an array (one per row) or a label
    file; default the store's first label set.  cache: a directory, False
    for none, None for the CLI's default (STORE.lgcache beside a store; none
    for arrays).  progress: a callable (name, done, total, id), True for a
    tqdm bar (when tqdm is installed), None for nothing.  Ctrl-C stops the
    profile within a GEMM tile and raises KeyboardInterrupt."""
    from .store import Store
    tmp = None
    if isinstance(source, Store):
        path = source.path
    elif isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="layergeom-")
        path = os.path.join(tmp.name, "arrays.lgs")
        _write_arrays(source, path, labels)
        if cache is None:
            cache = False
        if labels is not None and not isinstance(labels, (str, os.PathLike)):
            labels = None  # written into the temporary store
    try:
        return _run(path, k, knn, memory, labels, progress, cache, settings_)
    finally:
        if tmp:
            tmp.cleanup()


def _run(path, k, knn, memory, labels, progress, cache, settings_):
    job = ctypes.c_void_p()
    err = _lib.new_error()
    _lib.check(_lib.lib.lg_job_create(path.encode(), ctypes.byref(job), ctypes.byref(err)), err)
    try:
        pairs = dict(settings_)
        pairs["k"] = k
        pairs["knn"] = knn
        if memory is not None:
            pairs["memory"] = memory
        if cache is False:
            pairs["no-cache"] = True
        elif cache is not None:
            pairs["cache"] = os.fspath(cache)
        if isinstance(labels, (str, os.PathLike)):
            pairs["labels"] = os.fspath(labels)
        known = settings()
        for key, v in pairs.items():
            name = key.replace("_", "-")
            if name not in known:
                raise UsageError("profile has no setting '%s' (it has %s)" %
                                 (key, ", ".join(s.replace("-", "_") for s in known)))
            if v is None or (v is False and known[name][0] is not None):
                continue  # an unset value; a flag set False is passed as 0
            _lib.check(_lib.lib.lg_job_set(job, name.encode(), _value(v).encode(),
                                           ctypes.byref(err)), err)
        if labels is not None and not isinstance(labels, (str, os.PathLike)):
            y = label_ids(labels)
            _lib.check(_lib.lib.lg_job_set_labels(job, y.ctypes.data_as(_lib.c_i64p), y.shape[0],
                                                  b"labels given from Python", ctypes.byref(err)),
                       err)
        if progress is True:
            progress = _tqdm_progress()
        if progress:
            def relay(ctx, name, done, total, value):
                try:
                    progress(name.decode(), done, total, value)
                except Exception as e:  # never let an exception cross into C
                    warnings.warn("layergeom: the progress callback failed: %r" % (e,))
            cb = _lib.LAYER_FN(relay)
            _lib.lib.lg_job_on_layer(job, cb, None)
        stop = ctypes.c_int(0)
        _lib.lib.lg_job_set_stop(job, ctypes.byref(stop))
        rc = run_stoppable(lambda: _lib.lib.lg_job_run(job, ctypes.byref(err)), stop)
        _lib.check(rc, err)
        warning = _lib.lib.lg_job_warning(job)
        warning = warning.decode() if warning else None
        out = ctypes.c_void_p()
        n = ctypes.c_size_t()
        _lib.check(_lib.lib.lg_job_report_string(job, b"json", ctypes.byref(out), ctypes.byref(n),
                                                 ctypes.byref(err)), err)
        try:
            data = json.loads(ctypes.string_at(out, n.value).decode())
        finally:
            _lib.lib.lg_free(out)
        if warning:
            warnings.warn("layergeom: " + warning)
        p = Profile(job, data, warning)
        job = None
        return p
    finally:
        if job:
            _lib.lib.lg_job_free(job)

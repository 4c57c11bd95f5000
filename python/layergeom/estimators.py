"""Estimators on arrays: neighbour lists, TwoNN, GRIDE, overlaps.

Every function takes an N x D array (float16, float32 or float64; C or
Fortran order; anything numpy can view as such) or the Neighbours of one,
and returns a small result object.  Arrays are searched as float32: a
C-ordered float32 array is used in place, anything else is converted once.
The neighbour lists are exact (brute-force double-precision kNN, ties by
row index), computed by blocked GEMM within a memory budget; the
estimators follow DADApy's definitions (docs/estimators.md).
"""

import ctypes
import warnings
from dataclasses import dataclass, field

import numpy as np

from . import _lib
from ._run import run_stoppable
from .errors import UsageError

NONE = 0xFFFFFFFF  # the neighbour of a row left out (NaN or inf)


def _size(memory):
    if memory is None or memory == 0:
        return 0
    if isinstance(memory, (int, np.integer)):
        return int(memory)
    out = ctypes.c_uint64()
    if _lib.lib.lg_parse_size(str(memory).encode(), ctypes.byref(out)):
        raise UsageError("memory takes a size such as 512M or 8G (not %r)" % (memory,))
    return out.value


def as_rows(X, name="X"):
    """X as a C-ordered float32 N x D array (no copy when it already is one)."""
    a = np.asarray(X)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise UsageError("%s must be an N x D array (got shape %s)" % (name, a.shape))
    if a.dtype.kind not in "fiub":
        raise UsageError("%s must hold numbers (got dtype %s)" % (name, a.dtype))
    if a.shape[1] == 0:
        raise UsageError("%s has no columns" % name)
    return np.ascontiguousarray(a, dtype=np.float32)


class Neighbours:
    """The k nearest neighbours of every row: ``idx`` (N x k, uint32, nearest
    first; rows left out for NaN or inf have 0xFFFFFFFF) and ``dist`` (N x k
    Euclidean distances, float64, recomputed exactly)."""

    def __init__(self, idx, dist, n_zero=0, n_excluded=0, first_excluded=0, rescanned=0,
                 seconds=0.0, approx=False):
        self.idx = np.ascontiguousarray(idx, dtype=np.uint32)
        self.dist = np.ascontiguousarray(dist, dtype=np.float64)
        if self.idx.shape != self.dist.shape or self.idx.ndim != 2:
            raise UsageError("idx and dist must be N x k arrays of the same shape")
        self.n_zero = n_zero  # rows whose nearest neighbour is at distance 0
        self.n_excluded = n_excluded  # rows left out for NaN or inf
        self.first_excluded = first_excluded
        self.rescanned = rescanned  # rows whose GEMM margin was thin: checked exactly
        self.seconds = seconds
        self.approx = approx
        # knn="approx": the self-check (a dict: recall, recall_se, rows,
        # target, nprobe_first, nprobe, cells, rounds, note), else None
        self.check = None

    @property
    def n(self):
        return self.idx.shape[0]

    @property
    def k(self):
        return self.idx.shape[1]

    def __repr__(self):
        return "Neighbours(n=%d, k=%d%s)" % (self.n, self.k, ", approx" if self.approx else "")

    def _c(self, k=None):
        """A struct lg_knn over these arrays (kept alive by self)."""
        c = _lib.Knn()
        c.n = self.n
        c.k = self.k
        c.idx = self.idx.ctypes.data_as(_lib.c_u32p)
        c.dist = self.dist.ctypes.data_as(_lib.c_dblp)
        c.n_zero = int(self.n_zero)
        c.n_excluded = int(self.n_excluded)
        c.first_excluded = int(self.first_excluded)
        return c


def _from_c(c, approx=False):
    n, k = c.n, c.k
    idx = np.ctypeslib.as_array(c.idx, shape=(n, k)).copy()
    dist = np.ctypeslib.as_array(c.dist, shape=(n, k)).copy()
    out = Neighbours(idx, dist, c.n_zero, c.n_excluded, c.first_excluded, c.n_rescanned,
                     c.seconds, approx)
    _lib.lib.lg_knn_free(ctypes.byref(c))
    return out


def neighbours(X, k=30, *, knn="exact", threads=0, memory=None, nonfinite="exclude", cells=0,
               nprobe=0, seed=1, recall=0.97, check_rows=500):
    """The k nearest neighbours of every row of X (a row is never its own).

    knn="exact" equals brute-force double-precision kNN; "approx" searches
    the cells of a k-means partition (cells, nprobe: 0 = automatic) and
    checks check_rows sampled rows against exact search; while their
    recall@k is below `recall`, the probes are doubled (recall=0: the
    planned probes).  The result's ``check`` says what it took; a target not
    reached is a warning (RuntimeWarning) and ``check["note"]``; when more
    probes would cost more than an exact search, the search is exact (and a
    warning says so).
    nonfinite="exclude" leaves rows holding NaN or inf out (no list, never a
    neighbour; counted in ``n_excluded``), "fail" raises InputError.
    memory: the budget in bytes or as "2G" (default: a quarter of RAM)."""
    x = as_rows(X)
    n, d = x.shape
    if knn not in ("exact", "approx"):
        raise UsageError("knn takes 'exact' or 'approx' (not %r)" % (knn,))
    if nonfinite not in ("exclude", "fail"):
        raise UsageError("nonfinite takes 'exclude' or 'fail' (not %r)" % (nonfinite,))
    if not 0 <= recall <= 1:
        raise UsageError("recall takes a number in [0, 1] (not %r)" % (recall,))
    if not 0 <= check_rows < 2 ** 32:
        raise UsageError("check_rows takes a count of rows, 0 for no self-check (not %r)"
                         % (check_rows,))
    o = _lib.KnnOpts(k=int(k), threads=int(threads), memory=_size(memory), cells=int(cells),
                     nprobe=int(nprobe), seed=int(seed),
                     exclude_nonfinite=int(nonfinite == "exclude"))
    stop = ctypes.c_int(0)
    o.stop = ctypes.pointer(stop)
    out = _lib.Knn()
    err = _lib.new_error()
    ptr = x.ctypes.data_as(_lib.c_fltp)
    if knn == "exact":
        rc = run_stoppable(lambda: _lib.lib.lg_knn_exact_matrix(ptr, n, d, ctypes.byref(o),
                                                               ctypes.byref(out),
                                                               ctypes.byref(err)), stop)
        _lib.check(rc, err)
        return _from_c(out)
    # the policy of every search: rows holding NaN or inf fail, or are left
    # out (the approximate search gets the finite rows only)
    finite = np.isfinite(x).all(axis=1)
    kept = None
    if not finite.all():
        if nonfinite == "fail":
            bad = int(np.flatnonzero(~finite)[0])
            col = int(np.flatnonzero(~np.isfinite(x[bad]))[0])
            _lib._raise(1, "row %d, column %d is %s: distances to it are undefined (remove or "
                        "repair the non-finite rows, or leave them out)"
                        % (bad, col, "NaN" if np.isnan(x[bad, col]) else "infinite"))
        kept = np.flatnonzero(finite)
        x = np.ascontiguousarray(x[kept])
        n = x.shape[0]
        ptr = x.ctypes.data_as(_lib.c_fltp)
    a = ctypes.c_void_p()
    _lib.check(_lib.lib.lg_knn_approx_open(d, ctypes.byref(o), ctypes.byref(a),
                                           ctypes.byref(err)), err)
    try:
        rc = run_stoppable(lambda: _lib.lib.lg_knn_approx_add(a, ptr, n, ctypes.byref(err)), stop)
        _lib.check(rc, err)
        chk = _lib.KnnCheck()
        if recall > 0 and check_rows > 0:
            rc = run_stoppable(lambda: _lib.lib.lg_knn_approx_tune(
                a, float(recall), int(check_rows), ctypes.byref(out), ctypes.byref(chk),
                ctypes.byref(err)), stop)
            _lib.check(rc, err)
        else:
            _lib.check(_lib.lib.lg_knn_approx_finish(a, ctypes.byref(out), ctypes.byref(err)),
                       err)
            if check_rows > 0:
                rc = _lib.lib.lg_knn_approx_check(a, ctypes.byref(out), int(check_rows),
                                                  ctypes.byref(chk), ctypes.byref(err))
                if rc:
                    _lib.lib.lg_knn_free(ctypes.byref(out))
                    _lib.check(rc, err)
    finally:
        _lib.lib.lg_knn_approx_close(a)
    if chk.exact_cheaper:
        # more probes would cost more than searching exactly: do that
        _lib.lib.lg_knn_free(ctypes.byref(out))
        warnings.warn("approximate neighbours: %s; searched exactly instead"
                      % chk.note.decode("utf-8", "replace"), RuntimeWarning, stacklevel=2)
        return neighbours(X, k, knn="exact", threads=threads, memory=memory,
                          nonfinite=nonfinite)
    nn = _from_c(out, approx=True)
    if check_rows > 0:
        nn.check = {f: getattr(chk, f) for f in ("rows", "recall", "recall_se", "target",
                                                 "rounds", "nprobe_first", "nprobe", "cells")}
        nn.check["note"] = chk.note.decode("utf-8", "replace")
        if nn.check["note"]:
            warnings.warn("approximate neighbours: " + nn.check["note"], RuntimeWarning,
                          stacklevel=2)
    if kept is None:
        return nn
    N = finite.shape[0]
    idx = np.full((N, nn.k), NONE, np.uint32)
    dist = np.full((N, nn.k), np.nan)
    idx[kept] = np.where(nn.idx == NONE, NONE, kept[np.minimum(nn.idx, n - 1)])
    dist[kept] = nn.dist
    out = Neighbours(idx, dist, int((dist[:, 0] == 0).sum()), N - n,
                     int(np.flatnonzero(~finite)[0]), nn.rescanned, nn.seconds, approx=True)
    out.check = nn.check
    return out


def _lists(X, k, **kw):
    if isinstance(X, Neighbours):
        if X.k < k:
            raise UsageError("the Neighbours hold %d per row; this needs %d" % (X.k, k))
        return X
    return neighbours(X, k, **kw)


@dataclass
class TwoNN:
    """TwoNN (Facco et al. 2017), as DADApy computes it.

    ``id``: least squares through the origin of -log(1 - F(mu)) on log mu
    after leaving out the largest ``discard`` fraction of mu = r2 / r1;
    ``id_ml``: (N - 1) / sum log mu; ``bayes_mean`` +- ``bayes_std``: the
    posterior under a Gamma(a, b) prior; ``scale``: the mean of (r1 + r2) / 2,
    the length scale the estimate refers to.  ``value`` and ``error`` are
    ``id`` and ``bayes_std``, as the profile reports them."""
    id: float
    id_ml: float
    bayes_mean: float
    bayes_std: float
    scale: float
    n_used: int
    n_dropped: int

    @property
    def value(self):
        return self.id

    @property
    def error(self):
        return self.bayes_std

    def __float__(self):
        return float(self.id)


_DUP = {"drop": 0, "keep": 1}


def _dup(duplicates):
    if duplicates not in _DUP:
        raise UsageError("duplicates takes 'drop' or 'keep' (not %r)" % (duplicates,))
    return _DUP[duplicates]


def twonn(X, discard=0.1, *, duplicates="drop", prior=(2.0, 5.0), **knn_options):
    """The TwoNN intrinsic dimension of the rows of X (or of Neighbours).

    duplicates="drop" leaves rows whose nearest neighbour is at distance 0
    out (counted in ``n_dropped``); "keep" keeps them as DADApy does.
    knn_options go to :func:`neighbours` (threads, memory, nonfinite)."""
    nn = _lists(X, 2, **knn_options)
    o = _lib.TwonnOpts()
    _lib.lib.lg_twonn_opts_default(ctypes.byref(o))
    o.discard = float(discard)
    o.prior_a, o.prior_b = (float(v) for v in prior)
    o.duplicates = _dup(duplicates)
    r = _lib.TwonnResult()
    err = _lib.new_error()
    c = nn._c()
    _lib.check(_lib.lib.lg_twonn(ctypes.byref(c), ctypes.byref(o), ctypes.byref(r),
                                 ctypes.byref(err)), err)
    return TwoNN(r.id, r.id_ml, r.bayes_mean, r.bayes_std, r.scale, r.n_used, r.n_dropped)


@dataclass
class Gride:
    """GRIDE (Denti et al. 2022) at n1 = 1, 2, 4, ..., n2 = 2 n1: ``ids[s]`` +-
    ``errs[s]`` at the scale ``rs[s]`` (the mean of (r_n1 + r_n2) / 2)."""
    n1: np.ndarray
    n2: np.ndarray
    ids: np.ndarray
    errs: np.ndarray
    rs: np.ndarray
    n_dropped: np.ndarray = field(repr=False)

    def at(self, n2):
        """(id, err) at the scale whose n2 is given."""
        where = np.flatnonzero(self.n2 == n2)
        if not where.size:
            raise UsageError("no GRIDE scale with n2 = %d (have %s)" % (n2, list(self.n2)))
        s = int(where[0])
        return float(self.ids[s]), float(self.errs[s])

    @property
    def value(self):
        return self.ids

    @property
    def error(self):
        return self.errs

    @property
    def scale(self):
        return self.rs


def gride(X, max_rank=64, *, duplicates="drop", **knn_options):
    """GRIDE across scales, up to neighbour rank max_rank (a power of two)."""
    nn = _lists(X, int(max_rank), **knn_options)
    r = _lib.GrideResult()
    err = _lib.new_error()
    c = nn._c()
    _lib.check(_lib.lib.lg_gride(ctypes.byref(c), int(max_rank), _dup(duplicates),
                                 ctypes.byref(r), ctypes.byref(err)), err)
    s = r.scales
    return Gride(np.array(r.n1[:s]), np.array(r.n2[:s]), np.array(r.id[:s]), np.array(r.err[:s]),
                 np.array(r.rs[:s]), np.array(r.n_dropped[:s]))


@dataclass
class KStarGride:
    """k*-GRIDE (Di Noia et al. 2024; DADApy's ``return_ids_kstar_gride``):
    each row's scale k*_i chosen by a likelihood-ratio test of constant
    density, GRIDE on those scales, repeated ``rounds`` times from TwoNN.
    ``id`` +- ``err`` is the last round's; ``ids[r]`` the ID after round r
    (``ids[0]`` the starting one); ``mean_kstar`` the mean scale used;
    ``scale`` the mean of (r_n1 + r_n2) / 2.  ``id`` is NaN when the
    likelihood has no maximum in [1e-3, 1e3] (``at_bound``)."""
    id: float
    err: float
    mean_kstar: float
    scale: float
    ids: np.ndarray
    errs: np.ndarray = field(repr=False)
    mean_kstars: np.ndarray = field(repr=False)
    at_bound: bool = False

    @property
    def value(self):
        return self.id

    @property
    def error(self):
        return self.err

    def __float__(self):
        return float(self.id)


def kstar_gride(X, maxk=100, rounds=5, alpha=1e-6, *, initial_id=None, **knn_options):
    """k*-GRIDE of the rows of X (or of Neighbours with at least maxk
    neighbours); maxk, rounds and alpha as DADApy's maxk, n_iter, alpha."""
    nn = _lists(X, int(maxk), **knn_options)
    o = _lib.KstarOpts()
    _lib.lib.lg_kstar_opts_default(ctypes.byref(o))
    o.maxk, o.rounds, o.alpha = int(maxk), int(rounds), float(alpha)
    if initial_id is not None:
        o.initial_id = float(initial_id)
    r = _lib.KstarResult()
    err = _lib.new_error()
    c = nn._c()
    _lib.check(_lib.lib.lg_gride_kstar(ctypes.byref(c), ctypes.byref(o), ctypes.byref(r),
                                       ctypes.byref(err)), err)
    n = r.rounds + 1
    return KStarGride(r.id, r.err, r.kstar_mean, r.scale, np.array(r.ids[:n]),
                      np.array(r.errs[:n]), np.array(r.kstar_means[:n]), bool(r.at_bound))


@dataclass
class Overlap:
    """A neighbourhood overlap chi_k: the mean over rows of the fraction of
    the k nearest neighbours two representations share (``value``)."""
    value: float
    k: int
    error: float = float("nan")  # no error bar is defined
    unweighted: float = float("nan")
    class_weighted: float = float("nan")

    def __float__(self):
        return float(self.value)


def overlap(X, Y, k=30, **knn_options):
    """chi_k between two representations of the same rows (DADApy's
    ``return_data_overlap``)."""
    a, b = _lists(X, k, **knn_options), _lists(Y, k, **knn_options)
    if a.n != b.n:
        raise UsageError("X has %d rows and Y %d: an overlap compares the same rows" % (a.n, b.n))
    v = ctypes.c_double()
    err = _lib.new_error()
    ca, cb = a._c(), b._c()
    _lib.check(_lib.lib.lg_overlap_data(ctypes.byref(ca), ctypes.byref(cb), int(k),
                                        ctypes.byref(v), ctypes.byref(err)), err)
    return Overlap(v.value, int(k))


@dataclass
class InformationImbalance:
    """The information imbalance between two representations of the same
    rows (Glielmo et al. 2022; DADApy's ``return_information_imbalace``),
    exact over all rows: ``x_to_y`` = Delta(X -> Y), small when Y predicts
    X's neighbourhoods; ``y_to_x`` the other way; ``rows`` with lists in
    both.  ``value`` is (x_to_y, y_to_x)."""
    x_to_y: float
    y_to_x: float
    k: int
    rows: int

    @property
    def value(self):
        return (self.x_to_y, self.y_to_x)


def _ranked(x, queries, k, o, stop):
    """Exact lists of x and the ranks of queries[i, :k] among row i's
    neighbours, counted in the same search."""
    n, d = x.shape
    q = np.ascontiguousarray(queries[:, :k], dtype=np.uint32)
    rank = np.zeros((n, k), np.uint64)
    o.rank_q = q.ctypes.data_as(_lib.c_u32p)
    o.rank_n = k
    o.rank_stride = k
    o.rank_out = rank.ctypes.data_as(ctypes.POINTER(ctypes.c_uint64))
    out = _lib.Knn()
    err = _lib.new_error()
    ptr = x.ctypes.data_as(_lib.c_fltp)
    rc = run_stoppable(lambda: _lib.lib.lg_knn_exact_matrix(ptr, n, d, ctypes.byref(o),
                                                           ctypes.byref(out),
                                                           ctypes.byref(err)), stop)
    o.rank_q, o.rank_n, o.rank_stride, o.rank_out = None, 0, 0, None
    _lib.check(rc, err)
    return _from_c(out), rank


def _imbalance_of(a, b, k, rank):
    v = _lib.Imbalance()
    err = _lib.new_error()
    ca, cb = a._c(), b._c()
    _lib.check(_lib.lib.lg_information_imbalance_counted(
        ctypes.byref(ca), ctypes.byref(cb), int(k),
        rank.ctypes.data_as(ctypes.POINTER(ctypes.c_uint64)), ctypes.byref(v),
        ctypes.byref(err)), err)
    return v


def information_imbalance(X, Y, k=1, *, threads=0, memory=None):
    """Delta(X -> Y) and Delta(Y -> X) over all rows, exact (no subsets):
    the rank of each row's k nearest neighbours in one representation among
    its neighbours in the other is counted inside the exact search of the
    other (each pair computed once, pairs near a threshold decided in
    double), so it equals a brute-force count.  Three searches: X, Y with
    X's neighbours as queries, X again with Y's.  Rows holding NaN or inf are
    left out of both."""
    x, y = as_rows(X, "X"), as_rows(Y, "Y")
    if x.shape[0] != y.shape[0]:
        raise UsageError("X has %d rows and Y %d: the information imbalance compares the same "
                         "rows" % (x.shape[0], y.shape[0]))
    k = int(k)
    if k < 1:
        raise UsageError("k must be at least 1 (not %d)" % k)
    o = _lib.KnnOpts(k=k, threads=int(threads), memory=_size(memory), exclude_nonfinite=1)
    stop = ctypes.c_int(0)
    o.stop = ctypes.pointer(stop)
    a = neighbours(x, k, threads=threads, memory=memory)
    b, rank_xy = _ranked(y, a.idx, k, o, stop)
    _, rank_yx = _ranked(x, b.idx, k, o, stop)
    xy, yx = _imbalance_of(a, b, k, rank_xy), _imbalance_of(b, a, k, rank_yx)
    return InformationImbalance(xy.value, yx.value, k, int(xy.rows))


def label_ids(labels, n=None):
    """Labels as int64 ids (integers kept; other values numbered in sorted order)."""
    y = np.asarray(labels)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise UsageError("labels must be one per row (got shape %s)" % (y.shape,))
    if n is not None and y.shape[0] != n:
        raise UsageError("%d labels for %d rows" % (y.shape[0], n))
    if y.dtype.kind in "iub":
        return np.ascontiguousarray(y, dtype=np.int64)
    if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        return np.ascontiguousarray(y, dtype=np.int64)
    return np.unique(y, return_inverse=True)[1].astype(np.int64)


def label_overlap(X, labels, k=30, *, class_weighted=False, class_fraction=None, **knn_options):
    """chi_k with the labels: the fraction of each row's k nearest neighbours
    that share its label, averaged over rows (``unweighted``, as in the
    paper) or with each row weighted by 1 / the size of its class
    (``class_weighted``, DADApy's default); ``value`` is the one asked for.
    class_fraction: each row uses k_i = class_fraction x the size of its class."""
    y = label_ids(labels)
    kk = int(k)
    if class_fraction:
        counts = np.bincount(np.unique(y, return_inverse=True)[1])
        kk = max(kk, int(np.floor(class_fraction * counts.max())), 1)
    nn = _lists(X, kk, **knn_options)
    if y.shape[0] != nn.n:
        raise UsageError("%d labels for %d rows" % (y.shape[0], nn.n))
    r = _lib.LabelOverlap()
    err = _lib.new_error()
    c = nn._c()
    _lib.check(_lib.lib.lg_overlap_labels(ctypes.byref(c), y.ctypes.data_as(_lib.c_i64p), int(k),
                                          float(class_fraction or 0), ctypes.byref(r),
                                          ctypes.byref(err)), err)
    v = r.class_weighted if class_weighted else r.unweighted
    return Overlap(v, int(k), unweighted=r.unweighted, class_weighted=r.class_weighted)

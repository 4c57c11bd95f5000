"""Loading liblayergeom and declaring the C functions the package calls.

ctypes, not cffi: it is in the standard library, so installing the package
needs no compiler and no extra Debian package, and the C API is small and
plain (status codes, flat structs).  The structs mirrored here are checked
against the loaded library with lg_abi_sizeof, so a package and a library
of different versions refuse to work together instead of misreading memory.
"""

import ctypes
import ctypes.util
import os
import sys

from .errors import _raise

_HERE = os.path.dirname(os.path.abspath(__file__))


def _candidates():
    env = os.environ.get("LAYERGEOM_LIBRARY")
    if env:
        yield env
        return
    # bundled by `pip install` (setup.py copies the library it was built with)
    for name in ("liblayergeom.so.0", "liblayergeom.so"):
        yield os.path.join(_HERE, "_lib", name)
    # a source checkout: python/layergeom next to build/
    root = os.path.dirname(os.path.dirname(_HERE))
    yield os.path.join(root, "build", "liblayergeom.so")
    found = ctypes.util.find_library("layergeom")
    if found:
        yield found


def _load():
    tried = []
    for path in _candidates():
        if os.path.sep in path and not os.path.exists(path):
            tried.append(path)
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
    raise ImportError(
        "layergeom: cannot find liblayergeom (tried: %s). Build the project with CMake, "
        "then `pip install ./python`, or set LAYERGEOM_LIBRARY to the library's path."
        % "; ".join(tried) if tried else "nothing")


lib, path = _load()

c_u8p = ctypes.POINTER(ctypes.c_uint8)
c_u32p = ctypes.POINTER(ctypes.c_uint32)
c_i64p = ctypes.POINTER(ctypes.c_int64)
c_dblp = ctypes.POINTER(ctypes.c_double)
c_fltp = ctypes.POINTER(ctypes.c_float)


class Error_t(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("msg", ctypes.c_char * 512)]


class KnnOpts(ctypes.Structure):
    _fields_ = [("k", ctypes.c_uint32), ("threads", ctypes.c_int), ("memory", ctypes.c_uint64),
                ("tile", ctypes.c_uint32), ("cells", ctypes.c_uint32),
                ("nprobe", ctypes.c_uint32), ("seed", ctypes.c_uint64),
                ("exclude_nonfinite", ctypes.c_int), ("scratch_dir", ctypes.c_char_p),
                ("team", ctypes.c_void_p), ("stop", ctypes.POINTER(ctypes.c_int)),
                ("rank_q", c_u32p), ("rank_n", ctypes.c_uint32),
                ("rank_stride", ctypes.c_uint32),
                ("rank_out", ctypes.POINTER(ctypes.c_uint64))]


class Knn(ctypes.Structure):
    _fields_ = [("n", ctypes.c_uint64), ("k", ctypes.c_uint32), ("idx", c_u32p),
                ("dist", c_dblp), ("n_zero", ctypes.c_uint64),
                ("n_rescanned", ctypes.c_uint64), ("panels", ctypes.c_uint64),
                ("n_excluded", ctypes.c_uint64), ("first_excluded", ctypes.c_uint64),
                ("seconds", ctypes.c_double)]


class Imbalance(ctypes.Structure):
    _fields_ = [("value", ctypes.c_double), ("k", ctypes.c_uint32), ("rows", ctypes.c_uint64),
                ("from_lists", ctypes.c_uint64), ("counted", ctypes.c_uint64)]


class KnnCheck(ctypes.Structure):
    _fields_ = [("rows", ctypes.c_uint64), ("recall", ctypes.c_double),
                ("recall_se", ctypes.c_double), ("twonn_approx", ctypes.c_double),
                ("twonn_exact", ctypes.c_double), ("twonn_rel_err", ctypes.c_double),
                ("overlap_err_bound", ctypes.c_double), ("target", ctypes.c_double),
                ("rounds", ctypes.c_uint32), ("nprobe_first", ctypes.c_uint32),
                ("nprobe", ctypes.c_uint32), ("cells", ctypes.c_uint32),
                ("search_seconds", ctypes.c_double), ("pairs", ctypes.c_uint64),
                ("exact_cheaper", ctypes.c_int), ("note", ctypes.c_char * 160)]


class TwonnOpts(ctypes.Structure):
    _fields_ = [("discard", ctypes.c_double), ("prior_a", ctypes.c_double),
                ("prior_b", ctypes.c_double), ("duplicates", ctypes.c_int)]


class TwonnResult(ctypes.Structure):
    _fields_ = [("id", ctypes.c_double), ("id_ml", ctypes.c_double),
                ("bayes_mean", ctypes.c_double), ("bayes_std", ctypes.c_double),
                ("scale", ctypes.c_double), ("n_used", ctypes.c_uint64),
                ("n_dropped", ctypes.c_uint64)]


GRIDE_MAX_SCALES = 16


class GrideResult(ctypes.Structure):
    _fields_ = [("scales", ctypes.c_int), ("n1", ctypes.c_uint32 * GRIDE_MAX_SCALES),
                ("n2", ctypes.c_uint32 * GRIDE_MAX_SCALES),
                ("id", ctypes.c_double * GRIDE_MAX_SCALES),
                ("err", ctypes.c_double * GRIDE_MAX_SCALES),
                ("rs", ctypes.c_double * GRIDE_MAX_SCALES),
                ("n_dropped", ctypes.c_uint64 * GRIDE_MAX_SCALES),
                ("at_bound", ctypes.c_uint32)]


KSTAR_MAX_ROUNDS = 32


class KstarOpts(ctypes.Structure):
    _fields_ = [("maxk", ctypes.c_uint32), ("rounds", ctypes.c_int), ("alpha", ctypes.c_double),
                ("initial_id", ctypes.c_double), ("twonn", TwonnOpts)]


class KstarResult(ctypes.Structure):
    _fields_ = [("id", ctypes.c_double), ("err", ctypes.c_double), ("scale", ctypes.c_double),
                ("kstar_mean", ctypes.c_double), ("rounds", ctypes.c_int),
                ("at_bound", ctypes.c_int), ("n_used", ctypes.c_uint64),
                ("n_dropped", ctypes.c_uint64),
                ("ids", ctypes.c_double * (KSTAR_MAX_ROUNDS + 1)),
                ("errs", ctypes.c_double * (KSTAR_MAX_ROUNDS + 1)),
                ("kstar_means", ctypes.c_double * (KSTAR_MAX_ROUNDS + 1))]


class LabelOverlap(ctypes.Structure):
    _fields_ = [("unweighted", ctypes.c_double), ("class_weighted", ctypes.c_double)]


class LayerInfo(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint32), ("name", ctypes.c_char_p), ("n", ctypes.c_uint64),
                ("d", ctypes.c_uint32), ("dtype", ctypes.c_int), ("codec", ctypes.c_int),
                ("filter", ctypes.c_int), ("n_chunks", ctypes.c_uint32),
                ("bytes_stored", ctypes.c_uint64), ("bytes_raw", ctypes.c_uint64),
                ("content_crc", ctypes.c_uint32), ("record_offset", ctypes.c_uint64)]


class WriterOpts(ctypes.Structure):
    _fields_ = [("codec", ctypes.c_int), ("level", ctypes.c_int), ("filter", ctypes.c_int),
                ("dtype", ctypes.c_int), ("chunk_rows", ctypes.c_uint32),
                ("durable", ctypes.c_int), ("commit_seconds", ctypes.c_double),
                ("commit_bytes", ctypes.c_uint64)]


LAYER_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t,
                            ctypes.c_size_t, ctypes.c_double)

E = ctypes.POINTER(Error_t)
P = ctypes.c_void_p
_decl = {
    "lg_abi_sizeof": (ctypes.c_size_t, [ctypes.c_char_p]),
    "lg_status_name": (ctypes.c_char_p, [ctypes.c_int]),
    "lg_free": (None, [P]),
    "lg_blas_kernel": (ctypes.c_char_p, []),
    "lg_blas_better_kernel": (ctypes.c_char_p, []),
    "lg_cpu_count": (ctypes.c_int, []),
    "lg_default_memory": (ctypes.c_uint64, []),
    "lg_parse_size": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint64)]),
    # kNN and estimators
    "lg_knn_exact_matrix": (ctypes.c_int, [c_fltp, ctypes.c_uint64, ctypes.c_uint32,
                                           ctypes.POINTER(KnnOpts), ctypes.POINTER(Knn), E]),
    "lg_knn_free": (None, [ctypes.POINTER(Knn)]),
    "lg_knn_approx_open": (ctypes.c_int, [ctypes.c_uint32, ctypes.POINTER(KnnOpts),
                                          ctypes.POINTER(P), E]),
    "lg_knn_approx_add": (ctypes.c_int, [P, c_fltp, ctypes.c_uint64, E]),
    "lg_knn_approx_finish": (ctypes.c_int, [P, ctypes.POINTER(Knn), E]),
    "lg_knn_approx_close": (None, [P]),
    "lg_knn_approx_check": (ctypes.c_int, [P, ctypes.POINTER(Knn), ctypes.c_uint32,
                                           ctypes.POINTER(KnnCheck), E]),
    "lg_knn_approx_tune": (ctypes.c_int, [P, ctypes.c_double, ctypes.c_uint32,
                                          ctypes.POINTER(Knn), ctypes.POINTER(KnnCheck), E]),
    "lg_twonn_opts_default": (None, [ctypes.POINTER(TwonnOpts)]),
    "lg_twonn": (ctypes.c_int, [ctypes.POINTER(Knn), ctypes.POINTER(TwonnOpts),
                                ctypes.POINTER(TwonnResult), E]),
    "lg_kstar_opts_default": (None, [ctypes.POINTER(KstarOpts)]),
    "lg_gride_kstar": (ctypes.c_int, [ctypes.POINTER(Knn), ctypes.POINTER(KstarOpts),
                                      ctypes.POINTER(KstarResult), E]),
    "lg_gride": (ctypes.c_int, [ctypes.POINTER(Knn), ctypes.c_uint32, ctypes.c_int,
                                ctypes.POINTER(GrideResult), E]),
    "lg_overlap_data": (ctypes.c_int, [ctypes.POINTER(Knn), ctypes.POINTER(Knn), ctypes.c_uint32,
                                       c_dblp, E]),
    "lg_information_imbalance_counted": (ctypes.c_int, [ctypes.POINTER(Knn), ctypes.POINTER(Knn),
                                                        ctypes.c_uint32,
                                                        ctypes.POINTER(ctypes.c_uint64),
                                                        ctypes.POINTER(Imbalance), E]),
    "lg_overlap_labels": (ctypes.c_int, [ctypes.POINTER(Knn), c_i64p, ctypes.c_uint32,
                                         ctypes.c_double, ctypes.POINTER(LabelOverlap), E]),
    # the store
    "lg_store_open": (ctypes.c_int, [ctypes.c_char_p, ctypes.c_uint, ctypes.POINTER(P), E]),
    "lg_store_close": (None, [P]),
    "lg_store_layer_count": (ctypes.c_size_t, [P]),
    "lg_store_layer": (ctypes.c_int, [P, ctypes.c_size_t, ctypes.POINTER(LayerInfo)]),
    "lg_store_find_layer": (ctypes.c_long, [P, ctypes.c_char_p]),
    "lg_store_rows": (ctypes.c_uint64, [P]),
    "lg_store_file_size": (ctypes.c_uint64, [P]),
    "lg_store_recovery": (ctypes.c_char_p, [P]),
    "lg_store_label_set_count": (ctypes.c_size_t, [P]),
    "lg_store_label_set_name": (ctypes.c_char_p, [P, ctypes.c_size_t]),
    "lg_store_labels": (ctypes.c_int, [P, ctypes.c_char_p, ctypes.POINTER(c_i64p),
                                       ctypes.POINTER(ctypes.c_uint64), E]),
    "lg_store_meta_count": (ctypes.c_size_t, [P]),
    "lg_store_meta_at": (ctypes.c_int, [P, ctypes.c_size_t, ctypes.POINTER(ctypes.c_char_p),
                                        ctypes.POINTER(P), ctypes.POINTER(ctypes.c_size_t)]),
    "lg_cursor_open": (ctypes.c_int, [P, ctypes.c_size_t, ctypes.c_size_t, ctypes.POINTER(P), E]),
    "lg_cursor_close": (None, [P]),
    "lg_cursor_read": (ctypes.c_int, [P, ctypes.c_uint64, ctypes.c_size_t, c_fltp, E]),
    "lg_cursor_read_raw": (ctypes.c_int, [P, ctypes.c_uint64, ctypes.c_size_t, P, E]),
    "lg_cursor_seek": (ctypes.c_int, [P, ctypes.c_uint64, E]),
    "lg_cursor_in_place": (ctypes.c_int, [P]),
    "lg_cursor_next": (ctypes.c_int, [P, ctypes.POINTER(c_fltp), ctypes.POINTER(ctypes.c_uint64),
                                      ctypes.POINTER(ctypes.c_size_t), E]),
    "lg_store_verify": (ctypes.c_int, [ctypes.c_char_p, P, P, E]),
    # writing
    "lg_writer_opts_default": (None, [ctypes.POINTER(WriterOpts)]),
    "lg_writer_create": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(WriterOpts),
                                        ctypes.POINTER(P), E]),
    "lg_writer_append": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(WriterOpts),
                                        ctypes.POINTER(P), E]),
    "lg_writer_layer": (ctypes.c_int, [P, ctypes.c_char_p, ctypes.c_uint32, ctypes.c_int,
                                       ctypes.POINTER(ctypes.c_size_t), E]),
    "lg_writer_add_rows": (ctypes.c_int, [P, ctypes.c_size_t, P, ctypes.c_uint64, E]),
    "lg_writer_add_labels": (ctypes.c_int, [P, ctypes.c_char_p, c_i64p, ctypes.c_uint64, E]),
    "lg_writer_rows_of": (ctypes.c_uint64, [P, ctypes.c_size_t]),
    "lg_writer_rows_committed": (ctypes.c_uint64, [P]),
    "lg_writer_meta": (ctypes.c_int, [P, ctypes.c_char_p, P, ctypes.c_size_t, E]),
    "lg_writer_labels": (ctypes.c_int, [P, ctypes.c_char_p, c_i64p, ctypes.c_uint64, E]),
    "lg_writer_commit": (ctypes.c_int, [P, E]),
    "lg_writer_close": (ctypes.c_int, [P, E]),
    "lg_writer_abort": (None, [P]),
    # the profile job
    "lg_job_create": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(P), E]),
    "lg_job_free": (None, [P]),
    "lg_job_set": (ctypes.c_int, [P, ctypes.c_char_p, ctypes.c_char_p, E]),
    "lg_job_setting_count": (ctypes.c_size_t, []),
    "lg_job_setting": (ctypes.c_int, [ctypes.c_size_t, ctypes.POINTER(ctypes.c_char_p),
                                      ctypes.POINTER(ctypes.c_char_p),
                                      ctypes.POINTER(ctypes.c_char_p)]),
    "lg_job_set_labels": (ctypes.c_int, [P, c_i64p, ctypes.c_uint64, ctypes.c_char_p, E]),
    "lg_job_set_stop": (None, [P, ctypes.POINTER(ctypes.c_int)]),
    "lg_job_on_layer": (None, [P, LAYER_FN, P]),
    "lg_job_run": (ctypes.c_int, [P, E]),
    "lg_job_warning": (ctypes.c_char_p, [P]),
    "lg_job_report_string": (ctypes.c_int, [P, ctypes.c_char_p, ctypes.POINTER(P),
                                            ctypes.POINTER(ctypes.c_size_t), E]),
}
for _name, (_res, _args) in _decl.items():
    _f = getattr(lib, _name)
    _f.restype = _res
    _f.argtypes = _args

for _struct, _cname in ((Error_t, "lg_error"), (KnnOpts, "lg_knn_opts"), (Knn, "lg_knn"),
                        (KnnCheck, "lg_knn_check"),
                        (TwonnOpts, "lg_twonn_opts"), (TwonnResult, "lg_twonn_result"),
                        (GrideResult, "lg_gride_result"), (LabelOverlap, "lg_label_overlap"),
                        (Imbalance, "lg_imbalance"),
                        (KstarOpts, "lg_kstar_opts"), (KstarResult, "lg_kstar_result"),
                        (LayerInfo, "lg_layer_info"), (WriterOpts, "lg_writer_opts")):
    _have = lib.lg_abi_sizeof(_cname.encode())
    if _have != ctypes.sizeof(_struct):
        raise ImportError("layergeom: %s is %d bytes in %s but %d in this package: the package "
                          "and the library are of different versions" %
                          (_cname, _have, path, ctypes.sizeof(_struct)))


def check(rc, err):
    """Raises the layergeom.Error subclass of a non-zero status."""
    if rc:
        _raise(rc, err.msg.decode("utf-8", "replace"))


def new_error():
    return Error_t()

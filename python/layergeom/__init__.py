"""layergeom: the geometry of a neural network's hidden representations,
layer by layer, on activation dumps larger than memory.

Estimators on arrays (DADApy's definitions; exact neighbour lists by
blocked GEMM)::

    import layergeom as lg
    lg.twonn(X).id                 # TwoNN intrinsic dimension (+ id_ml, bayes_mean/std)
    lg.gride(X, max_rank=64).ids   # GRIDE at n2 = 2, 4, ..., 64
    lg.kstar_gride(X).id           # k*-GRIDE: a scale per row, chosen by the data
    lg.overlap(X, Y, k=30).value   # neighbourhood overlap chi_k of two representations
    lg.information_imbalance(X, Y).value   # (Delta(X -> Y), Delta(Y -> X)), exact
    lg.label_overlap(X, y, k=30).value
    nn = lg.neighbours(X, k=64)    # compute the lists once, pass nn to any estimator

The store and the profile::

    with lg.Writer("run.lgs") as w:          # batch by batch, crash-safe
        w.add_batch({"layer0": h0, "layer1": h1}, labels=y)
    p = lg.profile("run.lgs", k=30)          # the numbers of `layergeom profile`
    p.recommended, p.reason, p.to_pandas(), p.report("r.html")
    lg.Store("run.lgs")["layer0"]            # a layer as a numpy array

PyTorch (when installed): ``layergeom.torch.record(model, "run.lgs",
modules=...)`` writes the hidden states of the chosen modules as the model
runs.  Errors are layergeom.Error subclasses carrying the library's message
and status.  docs/python.md has the whole tour.
"""

from . import _lib
from .errors import (BusyError, CorruptError, Error, InputError, IOError_, MemoryError_,
                     NotFoundError, StoppedError, UsageError)
from .estimators import (Gride, InformationImbalance, KStarGride, Neighbours, Overlap, TwoNN,
                         gride, information_imbalance, kstar_gride, label_overlap, neighbours,
                         overlap, twonn)
from .profile import Profile, profile, settings
from .store import Layer, Store, Writer

__version__ = "0.1.0"
library_path = _lib.path

__all__ = ["Error", "InputError", "UsageError", "IOError_", "CorruptError", "MemoryError_",
           "BusyError", "NotFoundError", "StoppedError", "Neighbours", "neighbours", "TwoNN",
           "twonn", "Gride", "gride", "KStarGride", "kstar_gride", "Overlap", "overlap",
           "label_overlap", "InformationImbalance", "information_imbalance", "Profile", "profile",
           "settings", "Store", "Writer", "Layer", "blas_kernel", "library_path"]


def blas_kernel():
    """The OpenBLAS kernels in use, and a better choice for this CPU when
    OpenBLAS fell back to a generic one (else None): start Python with
    OPENBLAS_CORETYPE set to it (before numpy loads OpenBLAS) for the speed
    the command line gets."""
    k = _lib.lib.lg_blas_kernel()
    b = _lib.lib.lg_blas_better_kernel()
    return k.decode() if k else "unknown", b.decode() if b else None


def _warn_slow_blas():
    import os
    import warnings
    if os.environ.get("OPENBLAS_CORETYPE") or os.environ.get("LAYERGEOM_BLAS") == "keep":
        return
    now, better = blas_kernel()
    if better:
        warnings.warn("layergeom: OpenBLAS uses its generic '%s' kernels on this CPU, several "
                      "times slower; start Python with OPENBLAS_CORETYPE=%s (LAYERGEOM_BLAS=keep "
                      "silences this)" % (now, better), RuntimeWarning, stacklevel=2)


_warn_slow_blas()

"""The Python binding's overhead: layergeom.twonn on an array against the
kNN time the library itself measured, in one process.

    OPENBLAS_CORETYPE=SkylakeX PYTHONPATH=python python3 bench/python_overhead.py x.npy

(Whole-process timings against `layergeom profile x.lgs --k 1 --gride-max 2
--no-cache --no-labels -q`, run by hand, give the rest: Python's start and
numpy's import.)"""

import sys
import time

import numpy as np

import layergeom as lg

X = np.load(sys.argv[1])
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
walls, knns = [], []
for _ in range(runs):
    t = time.perf_counter()
    nn = lg.neighbours(X, k=2)
    r = lg.twonn(nn)
    walls.append(time.perf_counter() - t)
    knns.append(nn.seconds)
w, k = np.median(walls), np.median(knns)
print("N %d D %d: twonn %.3f s in Python, of which the library's kNN %.3f s: overhead %.4f s "
      "(%.2f%%); ID %.3f" % (X.shape[0], X.shape[1], w, k, w - k, 100 * (w - k) / w, r.id))

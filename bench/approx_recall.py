"""The approximate search's recall on data sets that are hard for it.

    python3 bench/approx_recall.py [ROWS] [DIM] [WORKDIR] [-- PROFILE_ARGS...]

Makes synthetic layers (ROWS x DIM float32, default 50 000 x 256):
  manifold  an 8-dimensional curved manifold (sin/cos of a latent) in DIM
  clusters  40 Gaussian clusters of different widths and sizes
  aniso     a Gaussian with a power-law spectrum (variance ~ 1/j)
each once as it is and once shifted by +1e4 on every coordinate (the common
offset that real activations often have), packs each into a store with
`layergeom pack`, runs `layergeom profile --knn approx --json` on it (plus
PROFILE_ARGS), and prints the self-check's recall, what the search needed
(cells, probes, rounds) and the time.  Needs numpy; the binary is
build/layergeom unless LAYERGEOM is set.
"""
import json
import os
import subprocess
import sys
import time

import numpy as np


def manifold(rng, n, d):
    z = rng.uniform(-1, 1, (n, 8))
    w = rng.standard_normal((16, d)) / 4
    h = np.concatenate([np.sin(2 * z), np.cos(3 * z)], axis=1)
    return h @ w


def clusters(rng, n, d):
    k = 40
    centres = rng.standard_normal((k, d)) * 3
    sizes = rng.dirichlet(np.ones(k) * 2) * n
    which = np.minimum(np.searchsorted(np.cumsum(sizes), np.arange(n)), k - 1)
    widths = rng.uniform(0.3, 1.5, k)
    return centres[which] + rng.standard_normal((n, d)) * widths[which, None]


def aniso(rng, n, d):
    scale = 1 / np.sqrt(np.arange(1, d + 1))
    return rng.standard_normal((n, d)) * scale


SETS = {"manifold": manifold, "clusters": clusters, "aniso": aniso}


def store_for(name, offset, n, d, work, exe):
    tag = "%s%s-%dx%d" % (name, "-off" if offset else "", n, d)
    path = os.path.join(work, tag + ".lgs")
    if os.path.exists(path):
        return tag, path
    rng = np.random.default_rng(11)
    x = SETS[name](rng, n, d) + (1e4 if offset else 0.0)
    npy = os.path.join(work, tag + ".npy")
    np.save(npy, x.astype(np.float32)[None])
    subprocess.run([exe, "pack", "-q", "-o", path, npy], check=True)
    os.remove(npy)
    return tag, path


def main():
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    n = int(argv[0]) if len(argv) > 0 else 50000
    d = int(argv[1]) if len(argv) > 1 else 256
    work = argv[2] if len(argv) > 2 else "/tmp/approx_recall"
    exe = os.environ.get("LAYERGEOM", "build/layergeom")
    os.makedirs(work, exist_ok=True)
    print("%-22s %7s %6s %6s %7s %8s" % ("data", "recall", "cells", "probes", "rounds", "seconds"))
    for name in SETS:
        for offset in (False, True):
            tag, path = store_for(name, offset, n, d, work, exe)
            t0 = time.monotonic()
            out = subprocess.run([exe, "profile", path, "--knn", "approx", "--no-cache",
                                  "--json", "-"] + extra,
                                 check=True, capture_output=True, text=True).stdout
            sec = time.monotonic() - t0
            ap = json.loads(out)["layers"][0]["approx"]
            print("%-22s %7.4f %6s %6s %7s %8.1f" % (
                tag, ap["recall"], ap.get("cells", "-"), ap.get("nprobe", "-"),
                ap.get("rounds", "-"), sec))
            sys.stdout.flush()


if __name__ == "__main__":
    main()

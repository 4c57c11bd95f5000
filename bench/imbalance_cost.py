"""The information imbalance's cost against the neighbour search, in one run
(run by hand):  /usr/bin/python3 bench/imbalance_cost.py [N] [D] [layers] [keep] [runs]

Writes layers whose neighbourhoods drift from one to the next (`keep` is the
cosine between consecutive layers' latent coordinates: 1 keeps them, 0 makes
each layer independent), profiles them with the CLI with and without the
imbalance (alternated, `runs` times each), and prints per layer, from the
JSONs, the kNN seconds of both, the imbalance's own seconds and what the
imbalance costs in all (the search's extra time plus its own) over one
search without it.  The goal: at most 1."""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CLI = os.environ.get("LAYERGEOM", os.path.join(HERE, "..", "build", "layergeom"))


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    d = int(sys.argv[2]) if len(sys.argv) > 2 else 384
    layers = int(sys.argv[3]) if len(sys.argv) > 3 else 6
    keep = float(sys.argv[4]) if len(sys.argv) > 4 else float(np.cos(0.5))
    reps = int(sys.argv[5]) if len(sys.argv) > 5 else 3
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        base = rng.standard_normal((n, 12)).astype(np.float32)
        files = []
        for l in range(layers):
            other = rng.standard_normal((n, 12)).astype(np.float32)
            base = (keep * base + np.sqrt(1 - keep * keep) * other).astype(np.float32)
            w = rng.standard_normal((12, d)).astype(np.float32)
            x = np.tanh(base @ w * 0.3) + 0.1 * rng.standard_normal((n, d)).astype(np.float32)
            files.append(os.path.join(tmp, "l%d.npy" % l))
            np.save(files[-1], x.astype(np.float32))
        store = os.path.join(tmp, "s.lgs")
        subprocess.run([CLI, "pack", "-q", "-o", store] + files, check=True)
        # the same profile without the imbalance, alternated, to see what
        # counting inside the search adds to it
        runs = {"ii": [], "none": []}
        for rep in range(reps):
            for kind, extra in (("ii", []), ("none", ["--ii-k", "0"])):
                out = subprocess.run([CLI, "profile", store, "--no-cache", "--json", "-"] + extra,
                                     check=True, capture_output=True, text=True).stdout
                runs[kind].append(json.loads(out))
    print("N %d, D %d, %d layers, keep %.3f, %d runs each (medians)" % (n, d, layers, keep, reps))
    print("%-6s %6s %9s %9s %7s %7s %8s %11s" % ("layer", "chi", "knn s", "knn s", "II s",
                                              "counted", "by", "II cost"))
    print("%-6s %6s %9s %9s %7s %7s %8s %11s" % ("", "", "(no II)", "(II)", "", "", "",
                                              "/ knn pass"))
    for li, l in enumerate(runs["ii"][0]["layers"]):
        ii = l.get("imbalance_prev")
        if not ii:
            continue
        med = lambda v: float(np.median(v))
        k0 = med([r["layers"][li]["knn"]["seconds"] for r in runs["none"]])
        k1 = med([r["layers"][li]["knn"]["seconds"] for r in runs["ii"]])
        t = med([r["layers"][li]["imbalance_prev"]["seconds"] for r in runs["ii"]])
        print("%-6s %6.3f %9.2f %9.2f %7.2f %7d %8s %11.2f" % (
            l["name"], l["overlap_prev"]["30"], k0, k1, t, ii["ranks_counted"],
            ii["from_prev_by"] + "/" + ii["to_prev_by"], (k1 - k0 + t) / k0))

if __name__ == "__main__":
    main()

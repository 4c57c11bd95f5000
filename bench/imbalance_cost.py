"""The information imbalance's cost against the neighbour search, in one run
(run by hand):  /usr/bin/python3 bench/imbalance_cost.py [N] [D] [layers] [keep]

Writes layers whose neighbourhoods drift from one to the next (`keep` is the
cosine between consecutive layers' latent coordinates: 1 keeps them, 0 makes
each layer independent), profiles them with the CLI, and prints per layer the
kNN seconds, the imbalance's seconds and their ratio, from the JSON."""

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
        out = subprocess.run([CLI, "profile", store, "--no-cache", "--json", "-"], check=True,
                             capture_output=True, text=True).stdout
    prof = json.loads(out)
    print("N %d, D %d, %d layers, keep %.3f" % (n, d, layers, keep))
    print("%-6s %8s %8s %8s %8s %7s" % ("layer", "chi", "knn s", "II s", "II/knn", "counted"))
    for l in prof["layers"]:
        ii = l.get("imbalance_prev")
        if not ii:
            continue
        ks = l["knn"]["seconds"]
        print("%-6s %8.3f %8.2f %8.2f %8.2f %7d" % (l["name"], l["overlap_prev"]["30"], ks,
                                                  ii["seconds"], ii["seconds"] / ks,
                                                  ii["ranks_counted"]))


if __name__ == "__main__":
    main()

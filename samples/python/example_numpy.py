"""A numpy-only producer: a random 6-layer tanh network on 2000 inputs drawn
from 8 Gaussian clusters, each layer's activations streamed to standard output.

    python3 samples/python/example_numpy.py | build/layergeom ingest -o toy.lgs -
    build/layergeom profile toy.lgs
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from layergeom_stream import StreamWriter  # noqa: E402


def main(n=2000, width=256, layers=6, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 8, size=n)
    centres = rng.normal(size=(8, 12))
    x = centres[labels] + 0.5 * rng.normal(size=(n, 12))  # a 12-dimensional input
    with StreamWriter() as w:
        w.write_meta(model="random tanh network", inputs="8 Gaussian clusters in 12-D")
        h = x
        for l in range(layers):
            weights = rng.normal(size=(h.shape[1], width)) / np.sqrt(h.shape[1])
            h = np.tanh(h @ weights)
            for block in np.array_split(h.astype(np.float32), 4):  # as it might arrive
                w.write_rows("layer%02d" % l, block)
        w.write_labels(labels)


if __name__ == "__main__":
    main()

"""A numpy-only producer: a toy 8-layer network on 2000 inputs of 8 classes,
each layer's activations streamed to standard output batch by batch.

    python3 samples/python/example_numpy.py | build/layergeom ingest -o toy.lgs -
    build/layergeom profile toy.lgs

The toy is built to behave as trained networks do in Valeriani et al. (2023):
its first layers spread each class over more and more directions (the
intrinsic dimension rises to a peak), its last layers squeeze every class
onto a few directions while pulling the classes apart (the ID falls to a
plateau, and the overlap with the labels grows).  What to look at in the
profile: the ID column rising to a peak at layer 3, falling to a plateau in
layers 6-7; the recommended layer at that minimum ("lowest ID after the first
ID peak"); chi(lab), the overlap with the labels, low before the peak and
near 1 after it: the layers after the peak carry the classes; chi(l-1) low
where the representation changes most.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from layergeom_stream import StreamWriter  # noqa: E402

# directions each class spreads over, layer by layer: up to a peak, down to a plateau
SPREAD = [4, 8, 12, 16, 10, 5, 4, 4]
# how far apart the classes are, layer by layer
SEPARATION = [0.1, 0.1, 0.12, 0.15, 0.3, 0.6, 1.0, 1.0]


def main(n=2000, width=256, batch=250, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 8, size=n)
    centres = rng.normal(size=(8, 16))
    latent = rng.uniform(-1, 1, size=(n, max(SPREAD)))  # each input's place in its class
    weights = [rng.normal(size=(16 + d, width)) / np.sqrt(16 + d) for d in SPREAD]
    with StreamWriter() as w:
        w.write_meta(model="toy network (peak and plateau)", inputs="8 classes, 2000 inputs")
        for start in range(0, n, batch):  # as a model would give them: every layer of a batch
            rows = slice(start, start + batch)
            hidden = {}
            for l, (d, sep) in enumerate(zip(SPREAD, SEPARATION)):
                z = np.hstack([sep * centres[labels[rows]], latent[rows, :d]])
                hidden["layer%02d" % l] = np.tanh(z @ weights[l]).astype(np.float32)
            w.write_batch(hidden, labels=labels[rows])


if __name__ == "__main__":
    main()

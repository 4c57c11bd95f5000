"""A synthetic model for the benchmarks: batch by batch, every layer at once.

    python3 bench/synth_producer.py LAYERS ROWS DIM [BATCH] [ROWS_PER_SECOND]

Writes the stream form to stdout (pipe it into `layergeom ingest -o S -`).
Layer l of input i is tanh-free and cheap to make, so the producer is
faster than a disk: a random 16-dimensional latent point z_i mapped by a
fixed random matrix per layer, (z_i W_l), with the first 64 columns bent
(sin) so that layers differ.  ROWS_PER_SECOND > 0 paces it like a model
that takes time per batch (0: as fast as it can).
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "samples", "python"))
from layergeom_stream import StreamWriter  # noqa: E402


def main():
    layers, rows, dim = (int(a) for a in sys.argv[1:4])
    batch = int(sys.argv[4]) if len(sys.argv) > 4 else 500
    rate = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
    rng = np.random.default_rng(7)
    maps = [rng.standard_normal((16, dim)).astype(np.float32) / 4 for _ in range(layers)]
    bend = [1.0 + l / 4.0 for l in range(layers)]
    t0 = time.monotonic()
    with StreamWriter() as w:
        w.write_meta(model="synthetic-%dx%dx%d" % (layers, rows, dim))
        for start in range(0, rows, batch):
            b = min(batch, rows - start)
            z = rng.standard_normal((b, 16)).astype(np.float32)
            out = []
            for l in range(layers):
                h = z @ maps[l]
                h[:, :64] = np.sin(bend[l] * h[:, :64])
                out.append(h)
            w.write_batch(out, labels=(np.arange(start, start + b) % 10))
            if rate > 0:
                wait = t0 + (start + b) / rate - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
    sys.stderr.write("producer: %d rows x %d layers x %d in %.1f s\n"
                     % (rows, layers, dim, time.monotonic() - t0))


if __name__ == "__main__":
    main()

"""Stream each transformer block's mean-pooled hidden states while the model
runs, with forward hooks (needs torch; any nn.Module with blocks works).

    python3 samples/python/example_torch.py | build/layergeom ingest -o run.lgs -
    build/layergeom profile run.lgs

Adapt `blocks` and `batches` to your model: here a small randomly initialised
nn.TransformerEncoder on random token embeddings, so that it runs anywhere
torch is installed.  For a Hugging Face model, hook model.encoder.layer[i]
(or model.model.layers[i]) and pool output[0] with the attention mask.
"""

import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from layergeom_stream import StreamWriter  # noqa: E402


def main(n=1024, batch=64, d_model=128, n_layers=6, seq=32):
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(d_model, nhead=4, batch_first=True)
    model = torch.nn.TransformerEncoder(layer, num_layers=n_layers).eval()
    blocks = list(model.layers)
    captured = {}

    def hook(index):
        def save(module, inputs, output):
            captured[index] = output.mean(dim=1)  # mean over tokens: (batch, d_model)
        return save

    handles = [b.register_forward_hook(hook(i)) for i, b in enumerate(blocks)]
    # layergeom stores one layer at a time: keep each block's rows until the end
    # of the data set (or run the data set once per block for huge N)
    rows = [[] for _ in blocks]
    with torch.no_grad():
        for start in range(0, n, batch):
            tokens = torch.randn(batch, seq, d_model)
            model(tokens)
            for i in range(len(blocks)):
                rows[i].append(captured[i].float().numpy())
    for h in handles:
        h.remove()
    with StreamWriter() as w:
        w.write_meta(model="nn.TransformerEncoder (random init)", pooling="mean over tokens")
        for i, r in enumerate(rows):
            w.write_layer("block%02d" % i, np.concatenate(r))


if __name__ == "__main__":
    main()

"""Stream every transformer block's hidden states while the model runs, batch
by batch, with forward hooks (needs torch; any nn.Module with blocks works).

    python3 samples/python/example_torch.py | build/layergeom ingest -o run.lgs -
    build/layergeom profile run.lgs

Only the current batch is held: each forward pass's hook outputs are sent at
once (every layer of the batch), and `ingest` commits every few seconds, so a
run of a million inputs needs no more memory than one batch, and a producer
that dies loses only its last seconds (`ingest --append` then resumes).

Adapt `blocks` and `batches` to your model: here a small randomly initialised
nn.TransformerEncoder on random token embeddings with padding, so that it runs
anywhere torch is installed.  For a Hugging Face model see example_hf.py.
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from layergeom_stream import StreamWriter  # noqa: E402


def masked_mean(hidden, mask):
    """Mean over the tokens the attention mask keeps: (B, T, D), (B, T) -> (B, D)."""
    m = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1)


def main(n=1024, batch=64, d_model=128, n_layers=6, seq=32, out=None):
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(d_model, nhead=4, batch_first=True)
    # enable_nested_tensor=False: in eval mode with a padding mask, PyTorch's
    # fast path would otherwise pass nested tensors (padding dropped) between
    # the blocks, and the hooks would see those
    model = torch.nn.TransformerEncoder(layer, num_layers=n_layers,
                                        enable_nested_tensor=False).eval()
    blocks = list(model.layers)
    captured = {}

    def hook(index):
        def save(module, inputs, output):
            captured[index] = output
        return save

    handles = [b.register_forward_hook(hook(i)) for i, b in enumerate(blocks)]
    with StreamWriter(out) as w, torch.no_grad():
        w.write_meta(model="nn.TransformerEncoder (random init)", pooling="mean over tokens")
        for start in range(0, n, batch):
            b = min(batch, n - start)
            tokens = torch.randn(b, seq, d_model)
            lengths = torch.randint(seq // 4, seq + 1, (b,))
            mask = torch.arange(seq)[None, :] < lengths[:, None]  # True: a real token
            model(tokens, src_key_padding_mask=~mask)
            # every layer of this batch at once; nothing is kept afterwards
            w.write_batch({"block%02d" % i: masked_mean(captured[i], mask).float().numpy()
                           for i in range(len(blocks))},
                          labels=(lengths > seq // 2).long().numpy())
    for h in handles:
        h.remove()


if __name__ == "__main__":
    main()

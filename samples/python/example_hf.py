"""Stream a Hugging Face model's hidden states (output_hidden_states=True),
batch by batch, pooled per input: mean over the tokens of the attention mask,
the last real token (decoder LLMs), or the first token (CLS, encoders).

    python3 samples/python/example_hf.py MODEL_DIR [mean|last|first] < texts.txt \\
        | build/layergeom ingest -o run.lgs -

MODEL_DIR is a local model directory (this machine fetches nothing).  Without
`transformers`, or without a model, `--demo` runs the same code on a stand-in
that returns hidden states of the same shape, so the pooling can be checked.
Labels: an optional tab-separated integer before each text ("3\\tsome text").
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from layergeom_stream import StreamWriter  # noqa: E402


def pool(hidden, mask, how):
    """hidden: (B, T, D) array, mask: (B, T) of 0/1.  Returns (B, D) float32."""
    mask = mask.astype(bool)
    if how == "mean":
        m = mask[:, :, None].astype(np.float64)
        return ((hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1)).astype(np.float32)
    if how == "last":  # the last real token, whatever the padding side
        last = mask.shape[1] - 1 - np.argmax(mask[:, ::-1], axis=1)
        return hidden[np.arange(hidden.shape[0]), last].astype(np.float32)
    if how == "first":  # the first real token (CLS for BERT-like encoders)
        first = np.argmax(mask, axis=1)
        return hidden[np.arange(hidden.shape[0]), first].astype(np.float32)
    raise ValueError("pooling is mean, last or first, not %r" % how)


def batches(lines, size):
    for s in range(0, len(lines), size):
        yield lines[s:s + size]


def read_texts(stream):
    texts, labels = [], []
    for line in stream:
        line = line.rstrip("\n")
        if not line:
            continue
        head, tab, rest = line.partition("\t")
        if tab and head.lstrip("-").isdigit():
            labels.append(int(head))
            texts.append(rest)
        else:
            texts.append(line)
    return texts, (labels if len(labels) == len(texts) else None)


def run_hf(model_dir, how, texts, labels, batch=16, out=None):
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    with StreamWriter(out) as w, torch.no_grad():
        w.write_meta(model=os.path.basename(os.path.normpath(model_dir)), pooling=how)
        for k, chunk in enumerate(batches(texts, batch)):
            enc = tok(chunk, padding=True, truncation=True, return_tensors="pt")
            hs = model(**enc, output_hidden_states=True).hidden_states  # L+1 x (B, T, D)
            mask = enc["attention_mask"].numpy()
            y = None if labels is None else labels[k * batch:k * batch + len(chunk)]
            w.write_batch({"hidden%02d" % i: pool(h.float().numpy(), mask, how)
                           for i, h in enumerate(hs)}, labels=y)


def run_demo(how, n=300, batch=32, layers=5, d=24, seq=12, out=None):
    """The same pipeline on a stand-in model: right-padded random hidden states."""
    rng = np.random.default_rng(0)
    with StreamWriter(out) as w:
        w.write_meta(model="demo stand-in", pooling=how)
        for start in range(0, n, batch):
            b = min(batch, n - start)
            lengths = rng.integers(2, seq + 1, b)
            mask = (np.arange(seq)[None, :] < lengths[:, None]).astype(np.int64)
            hs = [rng.standard_normal((b, seq, d)).astype(np.float32) for _ in range(layers)]
            w.write_batch({"hidden%02d" % i: pool(h, mask, how) for i, h in enumerate(hs)},
                          labels=lengths % 3)


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    how = args[1] if len(args) > 1 else "mean"
    if "--demo" in argv or not args:
        run_demo(how)
        return
    texts, labels = read_texts(sys.stdin)
    run_hf(args[0], how, texts, labels)


if __name__ == "__main__":
    main(sys.argv)

"""Recording a PyTorch model's hidden states into a store while it runs.

    import layergeom.torch as lgt
    with lgt.record(model, "run.lgs", modules=model.encoder.layers,
                    pooling="mean") as rec:
        for x, mask, y in loader:
            rec.mask(mask)            # the batch's attention mask (optional)
            model(x)                  # the hooks write every module's output
            rec.labels(y)             # the batch's labels (optional)

Forward hooks capture each chosen module's output; once every module has
given this batch's output, the batch is pooled and written batch-major
(every layer at once) and nothing is kept: the data set is never held.
"""

import numpy as np
import torch

from .errors import UsageError
from .store import Writer

POOLING = ("mean", "first", "last", "tokens", "none")


def _tensor(output):
    """The hidden states in a module's output (tuples: the first tensor;
    Hugging Face outputs: last_hidden_state)."""
    if isinstance(output, torch.Tensor):
        return output
    if hasattr(output, "last_hidden_state"):
        return output.last_hidden_state
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise UsageError("a module's output is %s: no tensor to record" % type(output).__name__)


def pool(hidden, pooling="mean", mask=None):
    """(B, T, D) hidden states -> rows: mean over the tokens the mask keeps,
    the first or last kept token, every kept token ("tokens"), or as they
    are for (B, D) outputs ("none").  mask: (B, T), nonzero = kept."""
    h = hidden.detach()
    if getattr(h, "is_nested", False):
        h = h.to_padded_tensor(0.0)
    if h.dim() == 2 or pooling == "none":
        return h.reshape(h.shape[0], -1).float().cpu().numpy()
    if h.dim() != 3:
        raise UsageError("hidden states of shape %s: expected (B, T, D)" % (tuple(h.shape),))
    B, T, D = h.shape
    if mask is None:
        m = torch.ones(B, T, dtype=torch.bool, device=h.device)
    else:
        m = torch.as_tensor(mask, device=h.device).bool()
        if m.shape[0] != B or m.shape[1] < T:
            raise UsageError("the mask is %s for hidden states %s" % (tuple(m.shape), (B, T, D)))
        m = m[:, :T]
    if pooling == "mean":
        w = m.to(h.dtype).unsqueeze(-1)
        return ((h * w).sum(1) / w.sum(1).clamp(min=1)).float().cpu().numpy()
    if pooling in ("first", "last"):
        pos = torch.arange(T, device=h.device).expand(B, T)
        if pooling == "first":
            idx = torch.where(m, pos, torch.full_like(pos, T)).min(1).values.clamp(max=T - 1)
        else:
            idx = torch.where(m, pos, torch.full_like(pos, -1)).max(1).values.clamp(min=0)
        return h[torch.arange(B, device=h.device), idx].float().cpu().numpy()
    if pooling == "tokens":
        return h[m].float().cpu().numpy()
    raise UsageError("pooling takes %s (not %r)" % ("/".join(POOLING), pooling))


class record:
    """A context manager writing the outputs of `modules` (a list, a
    ModuleList, or {name: module}) to a new store at path, batch by batch.
    pooling: "mean" | "first" | "last" | "tokens" | "none"; mask: a fixed
    mask, or set each batch's with rec.mask(m).  Writer options (codec,
    dtype, commit_seconds, append) pass through."""

    def __init__(self, model, path, modules=None, pooling="mean", mask=None, names=None,
                 **writer_options):
        if pooling not in POOLING:
            raise UsageError("pooling takes %s (not %r)" % ("/".join(POOLING), pooling))
        if modules is None:
            raise UsageError("record needs the modules whose outputs to record")
        if isinstance(modules, dict):
            items = list(modules.items())
        else:
            mods = list(modules)
            if names is None:
                names = ["layer%02d" % i for i in range(len(mods))]
            items = list(zip(names, mods))
        self.model = model
        self.items = items
        self.pooling = pooling
        self._mask = mask
        self._labels = None
        self._pending = {}
        self._handles = []
        self.batches = 0
        self.rows = 0
        self.writer = Writer(path, **writer_options)

    def mask(self, m):
        """The attention mask of the next batch, (B, T), nonzero = kept."""
        self._mask = m

    def labels(self, y):
        """The labels of the batch just run (one per input)."""
        if self._pending:
            self._labels = y
        else:
            self.writer.add_labels(np.asarray(y.cpu() if hasattr(y, "cpu") else y))

    def _hook(self, name):
        def save(module, inputs, output):
            self._pending[name] = pool(_tensor(output), self.pooling, self._mask)
            if len(self._pending) == len(self.items):
                self._flush()
        return save

    def _flush(self):
        batch = {name: self._pending[name] for name, _ in self.items}
        self._pending = {}
        self.writer.add_batch(batch)
        self.batches += 1
        self.rows += next(iter(batch.values())).shape[0]

    def __enter__(self):
        for name, m in self.items:
            self._handles.append(m.register_forward_hook(self._hook(name)))
        return self

    def __exit__(self, typ, exc, tb):
        for h in self._handles:
            h.remove()
        self._handles = []
        if typ is None and self._pending:
            missing = [n for n, _ in self.items if n not in self._pending]
            self.writer.abort()
            raise UsageError("the last batch has no output from %s" % ", ".join(missing))
        self.writer.__exit__(typ, exc, tb)
        return False


def write_hidden_states(writer, hidden_states, pooling="mean", mask=None, labels=None,
                        names=None):
    """One batch of a Hugging Face model's ``output_hidden_states`` (a tuple
    of (B, T, D) tensors, embeddings first) into a Writer, every layer at
    once: ``write_hidden_states(w, out.hidden_states, mask=batch["attention_mask"])``."""
    hs = list(hidden_states)
    names = names or ["layer%02d" % i for i in range(len(hs))]
    if len(names) != len(hs):
        raise UsageError("%d names for %d hidden states" % (len(names), len(hs)))
    writer.add_batch({n: pool(h, pooling, mask) for n, h in zip(names, hs)},
                     labels=None if labels is None else np.asarray(
                         labels.cpu() if hasattr(labels, "cpu") else labels))

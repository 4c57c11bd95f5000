"""layergeom.torch: hooks write a model's hidden states batch-major while it
runs; the store equals the activations computed directly."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import layergeom as lg  # noqa: E402
import layergeom.torch as lgt  # noqa: E402


def model_and_data(n=96, seq=12, d=32, layers=3):
    torch.manual_seed(0)
    block = torch.nn.TransformerEncoderLayer(d, nhead=4, batch_first=True, dropout=0.0)
    model = torch.nn.TransformerEncoder(block, num_layers=layers,
                                        enable_nested_tensor=False).eval()
    x = torch.randn(n, seq, d)
    lengths = torch.randint(seq // 3, seq + 1, (n,))
    mask = torch.arange(seq)[None, :] < lengths[:, None]
    return model, x, mask


def direct(model, x, mask, pooling):
    """Every block's output for all inputs at once, pooled by hand."""
    outs = []
    h = x
    with torch.no_grad():
        for blk in model.layers:
            h = blk(h, src_key_padding_mask=~mask)
            outs.append(h)
    rows = []
    for h in outs:
        if pooling == "mean":
            m = mask.float().unsqueeze(-1)
            rows.append(((h * m).sum(1) / m.sum(1)).numpy())
        elif pooling == "last":
            last = mask.long().sum(1) - 1
            rows.append(h[torch.arange(h.shape[0]), last].numpy())
        elif pooling == "first":
            rows.append(h[:, 0].numpy())
        else:
            rows.append(h[mask].numpy())
    return rows


@pytest.mark.parametrize("pooling", ["mean", "last", "first", "tokens"])
def test_record_equals_direct(tmp_path, pooling):
    model, x, mask = model_and_data()
    path = tmp_path / ("%s.lgs" % pooling)
    labels = (mask.sum(1) > 6).long()
    with lgt.record(model, path, modules=model.layers, pooling=pooling) as rec, \
            torch.no_grad():
        for s in range(0, x.shape[0], 32):
            rec.mask(mask[s:s + 32])
            model(x[s:s + 32], src_key_padding_mask=~mask[s:s + 32])
            if pooling != "tokens":
                rec.labels(labels[s:s + 32])
    assert rec.batches == 3
    want = direct(model, x, mask, pooling)
    s = lg.Store(path)
    assert s.names == ["layer00", "layer01", "layer02"]
    for i, w in enumerate(want):
        np.testing.assert_allclose(s.read(i), w, rtol=1e-5, atol=1e-5)
    if pooling != "tokens":
        assert (s.labels() == labels.numpy()).all()
    # and it profiles
    p = lg.profile(path, cache=False, k=5)
    assert len(p.layers) == 3


def test_hidden_states_helper(tmp_path):
    model, x, mask = model_and_data(n=64)
    path = tmp_path / "hf.lgs"
    with lg.Writer(path) as w, torch.no_grad():
        for s in range(0, 64, 16):
            h = [x[s:s + 16]]
            for blk in model.layers:
                h.append(blk(h[-1], src_key_padding_mask=~mask[s:s + 16]))
            lgt.write_hidden_states(w, tuple(h), mask=mask[s:s + 16],
                                    labels=torch.zeros(16, dtype=torch.long))
    st = lg.Store(path)
    assert st.names == ["layer00", "layer01", "layer02", "layer03"] and st.rows == 64
    m = mask.float().unsqueeze(-1)
    np.testing.assert_allclose(st.read(0), ((x * m).sum(1) / m.sum(1)).numpy(), rtol=1e-5,
                               atol=1e-6)


def test_missing_module_output_is_an_error(tmp_path):
    model, x, mask = model_and_data(n=8)
    extra = torch.nn.Linear(4, 4)  # never called by the model
    with pytest.raises(lg.UsageError, match="no output from"):
        with lgt.record(model, tmp_path / "m.lgs", modules={"b0": model.layers[0],
                                                             "unused": extra}) as rec, \
                torch.no_grad():
            model(x)
    assert not rec._handles

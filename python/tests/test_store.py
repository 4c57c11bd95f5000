"""Store and Writer from Python: batch-major writing, reading back, zero
copy, crash safety, errors."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import layergeom as lg
from conftest import ROOT, SAMPLE, cli


def batches(rng, n_batches=5, b=40, dims=(8, 16, 4)):
    for _ in range(n_batches):
        yield {"l%d" % i: rng.standard_normal((b, d)).astype(np.float32)
               for i, d in enumerate(dims)}, rng.integers(0, 3, b)


def test_writer_batch_major_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "run.lgs"
    got = {}
    ys = []
    with lg.Writer(path, commit_seconds=0) as w:
        w.set_meta(model="test", pooling="mean")
        for batch, y in batches(rng):
            w.add_batch(batch, labels=y)
            ys.append(y)
            for k, v in batch.items():
                got.setdefault(k, []).append(v)
    with lg.Store(path) as s:
        assert s.names == ["l0", "l1", "l2"] and s.rows == 200
        assert s.label_sets == ["labels"]
        assert (s.labels() == np.concatenate(ys)).all()
        assert s.meta == {"model": "test", "pooling": "mean"}
        for k, parts in got.items():
            assert np.array_equal(s[k], np.concatenate(parts))
        assert np.array_equal(s.read("l1", 37, 91), np.concatenate(got["l1"])[37:91])
        assert s.verify()
    # the CLI reads the same store
    info = cli("info", str(path)).stdout
    assert "l2" in info and "200" in info


def test_append_rows_later(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "a.lgs"
    first = rng.standard_normal((50, 6)).astype(np.float32)
    more = rng.standard_normal((30, 6)).astype(np.float32)
    with lg.Writer(path) as w:
        w.add_batch({"x": first, "y": first * 2})
    with lg.Writer(path, append=True) as w:
        w.add_batch({"x": more, "y": more * 2})
    s = lg.Store(path)
    assert s.rows == 80
    assert np.array_equal(s["y"], np.concatenate([first, more]) * 2)


def test_zero_copy_view_outlives_the_store(tmp_path):
    path = tmp_path / "z.lgs"
    x = np.arange(4000, dtype=np.float32).reshape(500, 8)
    with lg.Writer(path) as w:
        w.add_rows("x", x)
    s = lg.Store(path)
    v = s.read("x")
    assert not v.flags.writeable and not v.flags.owndata
    assert np.array_equal(v, x)
    s.close()
    del s
    assert float(v[499, 7]) == 3999.0  # the mapping is still held by the view
    c = lg.Store(path).read("x", copy=True)
    assert c.flags.writeable and np.array_equal(c, x)


def test_compressed_and_converted(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((300, 10))
    path = tmp_path / "c.lgs"
    with lg.Writer(path, codec="zstd", dtype="f16", shuffle=True) as w:
        w.add_rows("x", x)
    s = lg.Store(path)
    L = s.layers[0]
    assert (L.dtype, L.codec) == ("f16", "zstd")
    assert np.array_equal(s["x"], x.astype(np.float16).astype(np.float32))


def test_exception_in_with_keeps_only_commits(tmp_path):
    path = tmp_path / "e.lgs"
    x = np.ones((10, 3), np.float32)
    with pytest.raises(RuntimeError):
        with lg.Writer(path, commit_seconds=0) as w:
            w.add_batch({"a": x, "b": x})
            w.commit()
            w.add_batch({"a": x, "b": x})
            raise RuntimeError("the model failed")
    assert lg.Store(path).rows == 10


def test_killed_producer_keeps_what_was_committed(tmp_path):
    path = tmp_path / "k.lgs"
    code = textwrap.dedent("""
        import os, numpy as np, layergeom as lg
        w = lg.Writer(%r, commit_seconds=0)
        x = np.ones((64, 5), np.float32)
        for i in range(3):
            w.add_batch({"a": x * i, "b": x})
            w.commit()
        w.add_batch({"a": x, "b": x})   # not committed
        os.kill(os.getpid(), 9)
    """ % str(path))
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(lg.__file__)),
               LAYERGEOM_BLAS="keep")
    r = subprocess.run([sys.executable, "-c", code], env=env)
    assert r.returncode == -signal.SIGKILL
    s = lg.Store(path)
    assert s.rows == 192 and s.names == ["a", "b"]
    assert float(s["a"][191, 0]) == 2.0


def test_store_errors(tmp_path):
    with pytest.raises(lg.Error) as e:
        lg.Store(tmp_path / "missing.lgs")
    assert "missing.lgs" in e.value.message
    bad = tmp_path / "bad.lgs"
    bad.write_bytes(b"not a store at all" * 10)
    with pytest.raises(lg.Error) as e:
        lg.Store(bad)
    assert "bad.lgs" in str(e.value)
    s = lg.Store(SAMPLE)
    with pytest.raises(lg.NotFoundError, match="no layer 'nope'"):
        s.read("nope")
    path = tmp_path / "w.lgs"
    with lg.Writer(path) as w:
        w.add_rows("x", np.ones((4, 2)))
    with pytest.raises(lg.Error, match="exists"):
        lg.Writer(path)
    with pytest.raises(lg.UsageError, match="same rows"):
        with lg.Writer(tmp_path / "u.lgs") as w:
            w.add_batch({"a": np.ones((4, 2)), "b": np.ones((5, 2))})


def test_writer_busy(tmp_path):
    path = tmp_path / "b.lgs"
    w = lg.Writer(path)
    w.add_rows("x", np.ones((4, 2)))
    w.commit()
    with pytest.raises(lg.BusyError):
        lg.Writer(path, append=True)
    w.close()

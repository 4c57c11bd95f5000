"""layergeom.profile against the command line's JSON on the same store, on
arrays, with labels; progress, Ctrl-C, reports, pandas."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import layergeom as lg
from conftest import ROOT, SAMPLE, cli


def strip(d):
    """The JSON without what differs from run to run (timings, the cache)."""
    if isinstance(d, dict):
        return {k: strip(v) for k, v in d.items() if k not in ("seconds", "cache", "cached")}
    if isinstance(d, list):
        return [strip(v) for v in d]
    return d


def test_equals_cli_json_on_the_sample():
    want = json.loads(cli("profile", SAMPLE, "--json", "-", "--no-cache").stdout)
    p = lg.profile(SAMPLE, cache=False)
    assert strip(p.to_dict()) == strip(want)
    assert p.recommended == want["recommended_layer"]["index"]
    assert "peak" in p.reason
    assert p.plateau == want["recommended_layer"]["plateau"]
    assert len(p.ids) == 7 and np.isfinite(p.ids).all()


def test_settings_equal_cli_options():
    args = ["--k", "10", "--id", "gride", "--gride-rank", "8", "--layers", "1,3,layer05",
            "--decimation", "--overlap-matrix"]
    want = json.loads(cli("profile", SAMPLE, "--json", "-", "--no-cache", *args).stdout)
    p = lg.profile(SAMPLE, k=10, id="gride", gride_rank=8, layers=[1, 3, "layer05"],
                   decimation=True, overlap_matrix=True, cache=False)
    assert strip(p.to_dict()) == strip(want)
    assert [l["name"] for l in p.layers] == ["layer01", "layer03", "layer05"]


def test_arrays_equal_cli_on_packed_files(tmp_path):
    rng = np.random.default_rng(0)
    Z = rng.uniform(size=(1500, 4))
    layers = [Z @ rng.standard_normal((4, 20)), np.tanh(Z @ rng.standard_normal((4, 30))),
              rng.standard_normal((1500, 6))]
    layers = [a.astype(np.float32) for a in layers]
    y = (Z[:, 0] > 0.5).astype(np.int64)
    files = []
    for i, a in enumerate(layers):
        files.append(str(tmp_path / ("layer%02d.npy" % i)))
        np.save(files[-1], a)
    np.save(tmp_path / "y.npy", y)
    store = str(tmp_path / "p.lgs")
    cli("pack", "-o", store, *files, "--labels", str(tmp_path / "y.npy"))
    want = json.loads(cli("profile", store, "--json", "-", "--no-cache").stdout)
    p = lg.profile(layers, labels=y)
    got, want = strip(p.to_dict()), strip(want)
    for d in (got, want):
        d.pop("store")
        d["parameters"].pop("labels")
    assert got == want
    # names from a dict
    p2 = lg.profile({"a": layers[0], "b": layers[1]})
    assert p2.names == ["a", "b"]


def test_labels_checked_by_the_library():
    with pytest.raises(lg.InputError, match="999 labels for 1000 rows"):
        lg.profile(SAMPLE, labels=np.zeros(999, np.int64), cache=False)
    with pytest.raises(lg.UsageError, match="no setting"):
        lg.profile(SAMPLE, kk=3)
    with pytest.raises(lg.UsageError, match="k takes"):
        lg.profile(SAMPLE, k=0)


def test_progress_callback():
    seen = []
    lg.profile(SAMPLE, cache=False, layers=[0, 1, 2],
               progress=lambda name, done, total, v: seen.append((name, done, total)))
    assert seen == [("layer00", 1, 3), ("layer01", 2, 3), ("layer02", 3, 3)]


def test_reports(tmp_path):
    p = lg.profile(SAMPLE, cache=False)
    html = p.report(str(tmp_path / "r.html"))
    text = open(html).read()
    assert text.startswith("<!DOCTYPE html>") and "<svg" in text
    assert "layer06" in p.table()
    assert p.csv().splitlines()[0].startswith("index")
    assert p.svg().lstrip().startswith("<svg") or "<svg" in p.svg()[:200]


def test_to_pandas():
    pd = pytest.importorskip("pandas")
    p = lg.profile(SAMPLE, cache=False)
    df = p.to_pandas()
    assert isinstance(df, pd.DataFrame) and len(df) == 7
    assert np.isnan(df["overlap_prev"][0]) and np.isfinite(df["overlap_prev"][1:]).all()
    assert df["recommended"].sum() == 1 and df["recommended"][p.recommended]
    assert df["depth"].iloc[-1] == 1.0
    assert "gride_16" in df.columns and "overlap_prev.30" not in df.columns


def test_ctrl_c_stops_a_profile(tmp_path):
    """SIGINT during a long exact search: KeyboardInterrupt within a second,
    not at the end of the search."""
    code = textwrap.dedent("""
        import sys, time, numpy as np, layergeom as lg
        X = np.random.default_rng(0).standard_normal((60000, 256)).astype(np.float32)
        print("ready", flush=True)
        t = time.time()
        try:
            lg.neighbours(X, k=10, threads=1)
            print("finished", flush=True)
        except KeyboardInterrupt:
            print("interrupted %.2f" % (time.time() - t), flush=True)
    """)
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(lg.__file__)),
               LAYERGEOM_BLAS="keep")
    pr = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                          text=True)
    assert pr.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    t = time.time()
    pr.send_signal(signal.SIGINT)
    out = pr.communicate(timeout=60)[0]
    assert out.startswith("interrupted"), out
    assert time.time() - t < 5


def test_gil_released_during_a_search():
    """Another Python thread runs while the library searches."""
    import threading
    ticks = []
    done = threading.Event()

    def tick():
        while not done.is_set():
            ticks.append(1)
            time.sleep(0.001)
    X = np.random.default_rng(1).standard_normal((12000, 128)).astype(np.float32)
    t = threading.Thread(target=tick)
    t.start()
    t0 = time.time()
    lg.neighbours(X, k=10, threads=1)
    elapsed = time.time() - t0
    done.set()
    t.join()
    assert elapsed > 0.2 and len(ticks) > 0.2 * elapsed / 0.001 * 0.1


def test_tqdm_progress(capsys):
    pytest.importorskip("tqdm")
    p = lg.profile(SAMPLE, cache=False, layers=[0, 1], progress=True)
    assert len(p.layers) == 2
    assert "2/2" in capsys.readouterr().err


def test_several_k_at_once():
    """--k 10,30: the overlaps at both k, equal to two runs of one k each."""
    both = lg.profile(SAMPLE, k=[10, 30], cache=False).to_dict()
    assert both["parameters"]["k"] == 10 and both["parameters"]["k_all"] == [10, 30]
    for k in (10, 30):
        one = lg.profile(SAMPLE, k=k, cache=False).to_dict()
        for a, b in zip(both["layers"], one["layers"]):
            for key in ("overlap_prev", "overlap_labels", "overlap_labels_class_weighted"):
                if b[key] is None:
                    assert a[key] is None
                else:
                    assert a[key][str(k)] == b[key][str(k)], (key, k)
    csv = cli("profile", SAMPLE, "--no-cache", "-k", "10,30", "--csv", "-", "-q").stdout
    assert "overlap_prev_k30" in csv.splitlines()[0]
    with pytest.raises(lg.UsageError, match="up to 9"):
        lg.profile(SAMPLE, k="1,2,3,4,5,6,7,8,9,10", cache=False)


def test_kstar_and_per_class_from_python():
    """--id kstar and --per-class as keywords: the numbers the CLI gives, and
    the k*-GRIDE of the profile equal to lg.kstar_gride on the layer."""
    p = lg.profile(SAMPLE, id="kstar", per_class=True, layers="0,1", no_cache=True)
    d = json.loads(cli("profile", SAMPLE, "--id", "kstar", "--per-class", "--layers", "0,1",
                       "--no-cache", "--json", "-").stdout)
    for mine, theirs in zip(p.layers, d["layers"]):
        assert mine["kstar"]["id"] == theirs["kstar"]["id"]
        assert mine["groups"]["id"] == theirs["groups"]["id"]
        assert mine["groups"]["of"] == "class" and mine["groups"]["count"] == 16
    X = lg.Store(SAMPLE)[0]
    k = lg.kstar_gride(np.asarray(X, dtype=np.float32))
    assert abs(k.id - p.ids[0]) <= 1e-9 * k.id

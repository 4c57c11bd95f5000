"""docs/json-schema.md lists every key the profile JSON can hold: profiles
with every option that adds keys are checked against it."""

import json
import os
import re

from conftest import ROOT, SAMPLE, cli

OPTION_SETS = [[], ["--overlap-matrix", "--decimation"], ["--knn", "approx"],
               ["--preset", "paper", "--no-labels"], ["--layers", "2-4", "--id", "gride"],
               ["-k", "10,30"], ["--id", "kstar", "--layers", "0", "--dup-tol", "1e-3x"],
               ["--per-class", "--group-rank", "4", "--layers", "0,1", "--ii-subsets", "400"]]


def keys_of(o, out):
    if isinstance(o, dict):
        for k, v in o.items():
            if not re.fullmatch(r"\d+", k):  # the k of an overlap ("30") is data
                out.add(k)
            keys_of(v, out)
    elif isinstance(o, list):
        for v in o:
            keys_of(v, out)
    return out


def test_every_key_is_documented():
    doc = open(os.path.join(ROOT, "docs", "json-schema.md"), encoding="utf-8").read()
    documented = set(re.findall(r'"([a-z_0-9]+)"\s*:', doc))
    seen = set()
    for args in OPTION_SETS:
        out = cli("profile", SAMPLE, "--no-cache", "--json", "-", *args).stdout
        keys_of(json.loads(out), seen)
    missing = sorted(seen - documented)
    assert not missing, "keys the JSON has but docs/json-schema.md does not list: %s" % missing
    # and the test can fail: the documented set is not everything
    assert "no_such_key" not in documented


def test_plateau_lists_its_layers():
    d = json.loads(cli("profile", SAMPLE, "--no-cache", "--json", "-").stdout)
    r = d["recommended_layer"]
    assert r["index"] in r["plateau"]
    assert r["plateau"] == list(range(r["plateau"][0], r["plateau"][-1] + 1))

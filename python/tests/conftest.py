"""Shared pieces of the Python tests: where the reference data, the CLI and
the bundled sample are."""

import json
import os
import subprocess

import numpy as np
import pytest

ROOT = os.environ.get("LAYERGEOM_SOURCE_DIR") or \
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("LAYERGEOM_SHARED_DIR", os.path.join(ROOT, "..", "shared"))
REFERENCE = os.path.join(SHARED, "reference")
CLI = os.environ.get("LAYERGEOM_CLI", os.path.join(ROOT, "build", "layergeom"))
SAMPLE = os.path.join(ROOT, "samples", "fortunes.lgs")


@pytest.fixture(scope="session")
def values():
    path = os.path.join(REFERENCE, "values.json")
    if not os.path.exists(path):
        pytest.skip("no reference data at %s" % REFERENCE)
    with open(path) as f:
        return json.load(f)["sets"]


def ref_array(name):
    return np.load(os.path.join(REFERENCE, name))


def cli(*args, check=True):
    if not os.path.exists(CLI):
        pytest.skip("no command-line program at %s" % CLI)
    r = subprocess.run([CLI, *args], capture_output=True, text=True)
    if check and r.returncode:
        raise AssertionError("layergeom %s: exit %d: %s" % (" ".join(args), r.returncode,
                                                             r.stderr))
    return r

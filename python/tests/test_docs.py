"""docs/python.md is executed: its python blocks, in order, in one namespace."""

import os
import re

from conftest import ROOT


def test_python_md_runs(tmp_path, monkeypatch):
    path = os.path.join(ROOT, "docs", "python.md")
    text = open(path, encoding="utf-8").read()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)
    ns = {}
    for i, code in enumerate(blocks):
        exec(compile(code, "%s block %d" % (path, i + 1), "exec"), ns)
    assert 4.5 < ns["t"].id < 5.5
    assert ns["p"].recommended == 2

#!/bin/sh
# The Python package as a user installs it: a virtualenv (with the system's
# numpy, torch, pandas), `pip install --no-build-isolation` of python/
# (offline: Debian's setuptools), then the pytest suite against the
# installed package, including the examples of docs/python.md.
#   test_python.sh BUILD_DIR SOURCE_DIR SHARED_DIR
set -eu
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
shared=$3
py=/usr/bin/python3
$py -c 'import numpy, pytest, venv' 2>/dev/null || { echo "skip: python3 with numpy, pytest, venv needed"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# a copy of the package directory: pip builds in place, and the source tree stays clean
cp -r "$src/python" "$tmp/pkg"
rm -rf "$tmp/pkg/build" "$tmp/pkg"/*.egg-info
$py -m venv --system-site-packages "$tmp/venv"
LAYERGEOM_BUILD_DIR="$build" "$tmp/venv/bin/pip" install -q --no-build-isolation --no-index "$tmp/pkg"
cd "$tmp"
# the package found is the installed one, with the library it bundles
"$tmp/venv/bin/python" -c '
import layergeom, sys
assert "/venv/" in layergeom.__file__, layergeom.__file__
assert layergeom.library_path.startswith(layergeom.__path__[0]), layergeom.library_path
'
LAYERGEOM_BLAS=keep LAYERGEOM_CLI="$build/layergeom" LAYERGEOM_SHARED_DIR="$shared" \
LAYERGEOM_SOURCE_DIR="$src" \
  "$tmp/venv/bin/python" -m pytest -q -p no:cacheprovider "$src/python/tests"

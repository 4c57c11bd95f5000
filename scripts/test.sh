#!/bin/sh
# Sets up, builds (warnings are errors) and runs the whole test suite.
# This is the README's test command, and what CI runs.
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -DLAYERGEOM_WERROR=ON
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j2

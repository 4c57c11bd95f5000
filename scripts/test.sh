#!/bin/sh
# Sets up, builds (warnings are errors) and runs the whole test suite.
# This is the README's test command, and what CI runs.
#   scripts/test.sh              release build with MPI in build/ (mpirun tests included)
#   scripts/test.sh --sanitize   the same suite under AddressSanitizer + UBSan, in build-asan/,
#                                built without MPI (so that build is tested too)
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh --mpi --python
if [ "${1:-}" = "--sanitize" ]; then
  cmake -S . -B build-asan -DLAYERGEOM_WERROR=ON -DLAYERGEOM_SANITIZE=ON -DLAYERGEOM_BENCH=OFF \
        -DCMAKE_BUILD_TYPE=Debug
  cmake --build build-asan -j"$(nproc)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j2
else
  cmake -S . -B build -DLAYERGEOM_WERROR=ON -DLAYERGEOM_MPI=ON
  cmake --build build -j"$(nproc)"
  ctest --test-dir build --output-on-failure -j2
fi

#!/bin/sh
# Builds the libFuzzer targets (clang, ASan + UBSan) and runs each on its
# checked-in corpus for SECONDS (default 60), two at a time.  New inputs go to
# build-fuzz/corpus-*, not into the repository; a crash leaves its input in
# build-fuzz/ and fails the run.
#   scripts/fuzz.sh 60        the CI smoke run
#   scripts/fuzz.sh 1800      a real session
set -eu
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
scripts/setup.sh --fuzz
CC=clang cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DLAYERGEOM_FUZZ=ON \
  -DLAYERGEOM_TESTS=OFF -DLAYERGEOM_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build build-fuzz -j"$(nproc)" > /dev/null
run() {
  mkdir -p "build-fuzz/corpus-$1"
  (cd build-fuzz && "./tests/fuzz/fuzz_$1" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 \
      -print_final_stats=1 "corpus-$1" "../tests/fuzz/corpus/$1" > "fuzz-$1.log" 2>&1)
  status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "build-fuzz/fuzz-$1.log")
  echo "fuzz_$1: ${runs:-?} executions in ${SECONDS_EACH} s, exit $status"
  [ "$status" -eq 0 ] || { tail -n 30 "build-fuzz/fuzz-$1.log"; return 1; }
}
fail=0
run npy & a=$!
run safetensors & b=$!
wait $a || fail=1
wait $b || fail=1
run store & a=$!
run stream & b=$!
wait $a || fail=1
wait $b || fail=1
run payload || fail=1
[ "$fail" -eq 0 ] && echo "5 passed, 0 failed" || { echo "fuzzing found a problem"; exit 1; }

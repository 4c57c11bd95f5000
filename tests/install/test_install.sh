#!/bin/sh
# Installs the project into a temporary prefix, then builds the minimal
# program of docs/api.md against it twice -- with pkg-config and with
# CMake's find_package -- and checks that both print the command line's JSON
# for the bundled sample (timings aside).
#   test_install.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
sample="$src/samples/fortunes.lgs"
libdir=$(dirname "$(find "$tmp/prefix" -name 'liblayergeom.so' | head -1)")
cp -r "$src/tests/install/consumer" "$tmp/consumer"
# the first C block of docs/api.md is the program
/usr/bin/python3 - "$src/docs/api.md" "$tmp/consumer/consumer.c" <<'PY'
import re, sys
blocks = re.findall(r"```c\n(.*?)```", open(sys.argv[1]).read(), re.S)
open(sys.argv[2], "w").write(blocks[0])
PY
"$build/layergeom" profile "$sample" --no-cache --json "$tmp/want.json" -q
same() { # JSON files equal but for timings
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys
def strip(d):
    if isinstance(d, dict):
        return {k: strip(v) for k, v in d.items() if k not in ("seconds",)}
    if isinstance(d, list):
        return [strip(v) for v in d]
    return d
a, b = (strip(json.load(open(p))) for p in sys.argv[1:3])
sys.exit(0 if a == b else 1)
PY
}

# pkg-config
pc=$(dirname "$(find "$tmp/prefix" -name layergeom.pc)")
cc -o "$tmp/pc_consumer" "$tmp/consumer/consumer.c" \
  $(PKG_CONFIG_PATH="$pc" pkg-config --cflags --libs layergeom)
LD_LIBRARY_PATH="$libdir" "$tmp/pc_consumer" "$sample" json no-cache=1 > "$tmp/pc.json"
same "$tmp/pc.json" "$tmp/want.json" || { echo "pkg-config consumer: JSON differs from the CLI's"; exit 1; }

# CMake package
cmake -S "$tmp/consumer" -B "$tmp/cm" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cm" >/dev/null
LD_LIBRARY_PATH="$libdir" "$tmp/cm/consumer" "$sample" json no-cache=1 k=10 > "$tmp/cm.json"
"$build/layergeom" profile "$sample" --no-cache --k 10 --json "$tmp/want10.json" -q
same "$tmp/cm.json" "$tmp/want10.json" || { echo "find_package consumer: JSON differs from the CLI's"; exit 1; }
# a bad setting is refused with the library's message
if LD_LIBRARY_PATH="$libdir" "$tmp/cm/consumer" "$sample" json k=0 2> "$tmp/err"; then
  echo "k=0 was accepted"; exit 1
fi
grep -q "k takes an integer" "$tmp/err"
echo "install: pkg-config and find_package builds of docs/api.md's program print the CLI's JSON"

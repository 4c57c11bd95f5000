#!/bin/sh
# Installs the project into a temporary prefix, then builds a tiny program
# against it twice -- with pkg-config and with CMake's find_package -- and
# checks that both give the command line's numbers on the bundled sample.
#   test_install.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
sample="$src/samples/fortunes.lgs"
want=$("$build/layergeom" profile "$sample" --no-cache --json - |
  /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print("recommended %d twonn0 %.12g" % (d["recommended_layer"]["index"], d["layers"][0]["twonn"]["id"]))')
libdir=$(dirname "$(find "$tmp/prefix" -name 'liblayergeom.so' | head -1)")

# pkg-config
pc=$(dirname "$(find "$tmp/prefix" -name layergeom.pc)")
cc -o "$tmp/pc_consumer" "$src/tests/install/consumer/consumer.c" \
  $(PKG_CONFIG_PATH="$pc" pkg-config --cflags --libs layergeom)
got=$(LD_LIBRARY_PATH="$libdir" "$tmp/pc_consumer" "$sample")
[ "$got" = "$want" ] || { echo "pkg-config consumer: '$got', CLI: '$want'"; exit 1; }

# CMake package
cmake -S "$src/tests/install/consumer" -B "$tmp/cm" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cm" >/dev/null
got=$(LD_LIBRARY_PATH="$libdir" "$tmp/cm/consumer" "$sample")
[ "$got" = "$want" ] || { echo "find_package consumer: '$got', CLI: '$want'"; exit 1; }

# the public API is exported
nm -D --defined-only "$libdir/liblayergeom.so" | grep -q ' T lg_job_run$'
echo "install: pkg-config and find_package consumers agree with the CLI: $want"

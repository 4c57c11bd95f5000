#!/bin/sh
# One layer larger than the memory budget, profiled approximately.
#   bench/approx_million.sh DIR [ROWS DIM MEMORY]
# defaults: 1 000 000 rows x 1 024 float32 (4.1 GB), --memory 2G.  The
# synthetic model (synth_producer.py: a 16-dimensional latent through a
# random map) writes the store through `ingest`; then
# `profile --knn approx --memory MEMORY` runs on it with the page cache
# dropped first (when this user may: root), sampling peak RssAnon and
# RssFile from /proc every 0.2 s and the bytes it read from the disk
# (/proc/PID/io read_bytes; mapped reads count there too) as passes over
# the store.  Needs about 2 x ROWS x DIM x 4 bytes free in DIR (the store
# and the search's scratch file).
set -eu
DIR=$1
ROWS=${2:-1000000} DIM=${3:-1024} MEM=${4:-2G}
HERE=$(cd "$(dirname "$0")" && pwd)
L=${LAYERGEOM:-$HERE/../build/layergeom}
PY=${PYTHON:-/usr/bin/python3}
S=$DIR/million.lgs
mkdir -p "$DIR"
if [ ! -f "$S" ]; then
  t0=$(date +%s.%N)
  "$PY" "$HERE/synth_producer.py" 1 "$ROWS" "$DIM" 5000 | "$L" ingest -q -o "$S" -
  t1=$(date +%s.%N)
  printf 'store: %s rows x %s float32 written in %.1f s\n' "$ROWS" "$DIM" "$(echo "$t1 - $t0" | bc -l)"
fi
size=$(stat -c %s "$S")
sync
[ -w /proc/sys/vm/drop_caches ] && echo 3 > /proc/sys/vm/drop_caches || true
t0=$(date +%s.%N)
"$L" profile "$S" --knn approx --memory "$MEM" --no-cache -q --json "$DIR/million.json" \
  --scratch "$DIR" &
p=$!
anon=0 file=0 rd=0
while kill -0 "$p" 2>/dev/null; do
  a=$(sed -n 's/^RssAnon:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$p/status" 2>/dev/null || true)
  f=$(sed -n 's/^RssFile:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$p/status" 2>/dev/null || true)
  r=$(sed -n 's/^read_bytes:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$p/io" 2>/dev/null || true)
  [ "${a:-0}" -gt "$anon" ] && anon=$a
  [ "${f:-0}" -gt "$file" ] && file=$f
  [ "${r:-0}" -gt "$rd" ] && rd=$r
  sleep 0.2
done
wait $p
t1=$(date +%s.%N)
printf 'profile --knn approx --memory %s: %.1f s wall; peak RssAnon %d MiB, RssFile %d MiB; read %.0f MB from disk = %.2f passes over the %.0f MB store\n' \
  "$MEM" "$(echo "$t1 - $t0" | bc -l)" $((anon / 1024)) $((file / 1024)) \
  "$(echo "$rd / 1000000" | bc -l)" "$(echo "$rd / $size" | bc -l)" "$(echo "$size / 1000000" | bc -l)"
"$PY" - "$DIR/million.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
for l in p["layers"]:
    a = l.get("approx") or {}
    print("layer %s: kNN %.1f s; ID %.3f; self-check recall %.4f (target %s: %s of %s cells probed, "
          "%s at first); note: %s" % (l["name"], l["knn"]["seconds"],
                                      l["intrinsic_dimension"]["value"], a.get("recall", 0),
                                      a.get("recall_target"), a.get("nprobe"), a.get("cells"),
                                      a.get("nprobe_first"), l.get("note")))
PY

#!/bin/sh
# A dump bigger than RAM, batch by batch through a pipe, then profiled in a
# small memory budget.  Rerun it with smaller sizes to try it quickly.
#   bench/beyond_ram.sh DIR [LAYERS ROWS DIM BATCH MEMORY]
# defaults: 96 layers x 16 000 rows x 5 120 float32 (31.5 GB), batches of
# 500, --memory 2G.  Needs about LAYERS x ROWS x DIM x 4 bytes free in DIR.
# Prints: the disk's sequential write rate (dd, fdatasync) and ingest's, in
# the same run; for each profile (exact, approx): wall time, the kNN's share,
# peak RssAnon and RssFile (sampled from /proc every 0.2 s).
set -eu
DIR=$1
LAYERS=${2:-96} ROWS=${3:-16000} DIM=${4:-5120} BATCH=${5:-500} MEM=${6:-2G}
HERE=$(cd "$(dirname "$0")" && pwd)
L=${LAYERGEOM:-$HERE/../build/layergeom}
PY=${PYTHON:-/usr/bin/python3}
S=$DIR/big.lgs
rm -rf "$S" "$S.lgcache" "$DIR/dd.tmp"

# peak RssAnon / RssFile of a running process, sampled until it ends
watch_rss() {
  pid=$1 out=$2 anon=0 file=0
  while kill -0 "$pid" 2>/dev/null; do
    a=$(sed -n 's/^RssAnon:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$pid/status" 2>/dev/null)
    f=$(sed -n 's/^RssFile:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$pid/status" 2>/dev/null)
    [ "${a:-0}" -gt "$anon" ] && anon=$a
    [ "${f:-0}" -gt "$file" ] && file=$f
    sleep 0.2
  done
  echo "$anon $file" > "$out"
}

bytes=$((LAYERS * ROWS * DIM * 4))
echo "dump: $LAYERS layers x $ROWS rows x $DIM float32 = $((bytes / 1000000)) MB raw"
# the disk, in the same run: 4 GB written sequentially, synced
t0=$(date +%s.%N)
dd if=/dev/zero of="$DIR/dd.tmp" bs=16M count=256 conv=fdatasync 2>/dev/null
t1=$(date +%s.%N)
rm -f "$DIR/dd.tmp"
disk=$(echo "4294.967296 / ($t1 - $t0)" | bc -l)
printf 'disk: %.0f MB/s sequential write (dd, 4 GB, fdatasync)\n' "$disk"

t0=$(date +%s.%N)
"$PY" "$HERE/synth_producer.py" "$LAYERS" "$ROWS" "$DIM" "$BATCH" | "$L" ingest -q -o "$S" - &
ing=$!
sleep 0.5
watch_rss "$(pgrep -n -f "layergeom ingest -q -o $S" || echo $ing)" "$DIR/rss.ingest" &
wi=$!
wait $ing
wait $wi
t1=$(date +%s.%N)
sync
rate=$(echo "$bytes / 1000000 / ($t1 - $t0)" | bc -l)
printf 'ingest: %.1f s, %.0f MB/s = %.2f of the disk'"'"'s rate; peak RssAnon/RssFile KiB: %s\n' \
  "$(echo "$t1 - $t0" | bc -l)" "$rate" "$(echo "$rate / $disk" | bc -l)" "$(cat "$DIR/rss.ingest")"
"$L" info "$S" | head -1

for knn in exact approx; do
  rm -rf "$S.lgcache"
  t0=$(date +%s.%N)
  "$L" profile "$S" --knn "$knn" --memory "$MEM" --no-cache -q --json "$DIR/$knn.json" &
  p=$!
  watch_rss "$p" "$DIR/rss.$knn" &
  w=$!
  wait $p
  wait $w
  t1=$(date +%s.%N)
  knn_s=$("$PY" -c "import json,sys; p=json.load(open(sys.argv[1])); print('%.1f' % sum(l['knn']['seconds'] for l in p['layers']))" "$DIR/$knn.json")
  printf 'profile --knn %s --memory %s: %.1f s wall, of which kNN %s s; peak RssAnon/RssFile KiB: %s\n' \
    "$knn" "$MEM" "$(echo "$t1 - $t0" | bc -l)" "$knn_s" "$(cat "$DIR/rss.$knn")"
done
"$PY" - "$DIR" <<'PY'
import json, sys
a, b = (json.load(open(sys.argv[1] + f)) for f in ("/exact.json", "/approx.json"))
ids = [(x["intrinsic_dimension"]["value"], y["intrinsic_dimension"]["value"])
       for x, y in zip(a["layers"], b["layers"])]
rec = [y["approx"]["recall"] for y in b["layers"] if y.get("approx")]
r = lambda p: (p.get("recommended_layer") or {}).get("index")
print("recommended layer: exact %s, approx %s; largest relative ID difference %.4f; "
      "self-check recall %.3f..%.3f" % (r(a), r(b), max(abs(x - y) / x for x, y in ids),
                                        min(rec or [0]), max(rec or [0])))
PY

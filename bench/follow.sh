#!/bin/sh
# Live profiling of a batch-by-batch producer (profile --follow), and the
# time from the producer's end to the final table.
#   bench/follow.sh DIR [LAYERS ROWS DIM BATCH ROWS_PER_SECOND]
# defaults: 24 layers x 50 000 rows x 768, batches of 250, 150 rows/s
set -eu
DIR=$1
LAYERS=${2:-24} ROWS=${3:-50000} DIM=${4:-768} BATCH=${5:-250} RATE=${6:-150}
HERE=$(cd "$(dirname "$0")" && pwd)
L=${LAYERGEOM:-$HERE/../build/layergeom}
PY=${PYTHON:-/usr/bin/python3}
S=$DIR/follow.lgs
rm -rf "$S" "$S.lgcache"
("$PY" "$HERE/synth_producer.py" "$LAYERS" "$ROWS" "$DIM" "$BATCH" "$RATE" | "$L" ingest -q -o "$S" -;
 date +%s.%N > "$DIR/producer.end") &
sleep 1
"$L" profile "$S" --follow --poll 1 --json "$DIR/follow.json" > "$DIR/follow.table" 2> "$DIR/follow.err"
date +%s.%N > "$DIR/follow.end"
wait
"$PY" - "$DIR" <<'PY'
import sys, json
d = sys.argv[1]
pe = float(open(d + "/producer.end").read()); fe = float(open(d + "/follow.end").read())
live = [l for l in open(d + "/follow.err") if l.startswith("live:")]
print("running-view updates: %d; rows at the updates: %s" % (len(live), ", ".join(l.split()[1] for l in live)))
print("from the producer's end to the final table: %.1f s" % (fe - pe))
PY
# the same store profiled offline, no cache: the numbers must agree
"$L" profile "$S" --no-cache --json "$DIR/offline.json" -q
"$PY" - "$DIR" <<'PY'
import sys, json
d = sys.argv[1]
def strip(o):
    if isinstance(o, dict):
        return {k: strip(v) for k, v in o.items()
                if k not in ("seconds", "knn", "cache", "from_prev_by", "to_prev_by")}
    if isinstance(o, list):
        return [strip(v) for v in o]
    return o
a, b = (strip(json.load(open(d + f))) for f in ("/follow.json", "/offline.json"))
print("follow equals offline:", a == b)
PY

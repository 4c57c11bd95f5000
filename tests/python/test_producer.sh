#!/bin/sh
# The Python producer (numpy only) piped into 'layergeom ingest' gives the same
# store contents as 'layergeom pack' of the same arrays; a producer that dies
# mid-record leaves every complete layer.  Skipped (77) without numpy.
set -eu
CLI=$1
SRC=$2
PY=/usr/bin/python3
[ -x "$PY" ] && "$PY" -c "import numpy" 2>/dev/null || { echo "no python3-numpy: skipped"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export PYTHONPATH="$SRC/samples/python"

"$PY" - "$T" <<'PY'
import sys, numpy as np
T = sys.argv[1]
r = np.random.default_rng(5)
np.save(T + "/l0.npy", r.standard_normal((300, 17)).astype(np.float32))
np.save(T + "/l1.npy", r.standard_normal((300, 33)).astype(np.float16))
np.save(T + "/l2.npy", r.standard_normal((300, 8)))
np.save(T + "/y.npy", r.integers(0, 5, 300))
PY

"$CLI" pack -q -o "$T/packed.lgs" --labels "$T/y.npy" "$T/l0.npy" "$T/l1.npy" "$T/l2.npy"

# the stream form, a layer in blocks, through a pipe
"$PY" - "$T" <<'PY' | "$CLI" ingest -q -o "$T/streamed.lgs" -
import sys, numpy as np
from layergeom_stream import StreamWriter
T = sys.argv[1]
with StreamWriter(chunk_bytes=1000) as w:
    w.write_layer("l0", np.load(T + "/l0.npy"))
    for block in np.array_split(np.load(T + "/l1.npy"), 7):
        w.write_rows("l1", block)
    w.write_layer("l2", np.load(T + "/l2.npy"))
    w.write_labels(np.load(T + "/y.npy"))
PY

# .npy frames
"$PY" - "$T" <<'PY' | "$CLI" ingest -q -o "$T/framed.lgs" -
import sys, numpy as np
T = sys.argv[1]
out = sys.stdout.buffer
for name in ("l0", "l1", "l2"):
    out.write(b"LGNPY layer=%s\n" % name.encode())
    np.save(out, np.load(T + "/%s.npy" % name))
out.write(b"LGNPY labels=labels\n")
np.save(out, np.load(T + "/y.npy"))
out.write(b"LGNPY close\n")
PY

# name, rows, columns, type and the CRC of the contents (chunking may differ)
layers() {
  "$CLI" info --json "$1" | sed -n '/"layers"/,/"label_sets"/p' |
    sed -n 's/.*\("name": "[^"]*", "n": [0-9]*, "d": [0-9]*, "dtype": "[a-z0-9]*"\).*\("content_crc32c": "[0-9a-f]*"\).*/\1 \2/p'
}
layers "$T/packed.lgs" > "$T/a"
layers "$T/streamed.lgs" > "$T/b"
layers "$T/framed.lgs" > "$T/c"
[ "$(wc -l < "$T/a")" -eq 3 ] || { echo "FAIL: packed store should have 3 layers"; exit 1; }
cmp "$T/a" "$T/b" || { echo "FAIL: stream form differs from pack"; diff "$T/a" "$T/b"; exit 1; }
cmp "$T/a" "$T/c" || { echo "FAIL: .npy frames differ from pack"; diff "$T/a" "$T/c"; exit 1; }
for f in packed streamed framed; do
  "$CLI" export "$T/$f.lgs" --labels -o "$T/$f.y.npy"
done
cmp "$T/packed.y.npy" "$T/streamed.y.npy" && cmp "$T/packed.y.npy" "$T/framed.y.npy"

# a producer that dies in the middle of a record
set +e
"$PY" - "$T" <<'PY' | "$CLI" ingest -o "$T/died.lgs" - 2> "$T/err"
import os, sys, numpy as np
from layergeom_stream import StreamWriter
T = sys.argv[1]
w = StreamWriter(chunk_bytes=4096)
w.write_layer("l0", np.load(T + "/l0.npy"))
w.write_layer("l2", np.load(T + "/l2.npy"))
w.write_rows("l1", np.load(T + "/l1.npy"))
sys.stdout.buffer.write(b"\x00" * 100)   # half of a record header
sys.stdout.buffer.flush()
os._exit(9)                               # killed: no END record
PY
status=$?
set -e
[ "$status" -eq 1 ] || { echo "FAIL: ingest of a dead producer exited $status"; cat "$T/err"; exit 1; }
grep -q "keeps 2 layers of 300 rows" "$T/err" || { echo "FAIL: message"; cat "$T/err"; exit 1; }
grep -q "offset" "$T/err" || { echo "FAIL: no offset in the message"; cat "$T/err"; exit 1; }
"$CLI" verify "$T/died.lgs" > /dev/null
[ "$("$CLI" info --json "$T/died.lgs" | grep -c '"content_crc32c"')" -eq 2 ]

# batch by batch (format 1.1): every layer of a batch at once, labels alongside
"$PY" - "$T" <<'PY' | "$CLI" ingest -q -o "$T/batched.lgs" -
import sys, numpy as np
from layergeom_stream import StreamWriter
T = sys.argv[1]
L = {n: np.load(T + "/%s.npy" % n) for n in ("l0", "l1", "l2")}
y = np.load(T + "/y.npy")
with StreamWriter(chunk_bytes=1000) as w:
    for s in range(0, 300, 23):
        w.write_batch({n: a[s:s + 23] for n, a in L.items()}, labels=y[s:s + 23])
PY
layers "$T/batched.lgs" > "$T/d"
cmp "$T/a" "$T/d" || { echo "FAIL: batch-major stream differs from pack"; diff "$T/a" "$T/d"; exit 1; }
"$CLI" export "$T/batched.lgs" --labels -o "$T/batched.y.npy"
cmp "$T/packed.y.npy" "$T/batched.y.npy"

# .npy frames batch by batch: a layer name that comes back continues its layer
"$PY" - "$T" <<'PY' | "$CLI" ingest -q -o "$T/bframed.lgs" -
import sys, numpy as np
T = sys.argv[1]
out = sys.stdout.buffer
L = {n: np.load(T + "/%s.npy" % n) for n in ("l0", "l1", "l2")}
for s in range(0, 300, 50):
    for n, a in L.items():
        out.write(b"LGNPY layer=%s\n" % n.encode())
        np.save(out, a[s:s + 50])
out.write(b"LGNPY labels=labels\n")
np.save(out, np.load(T + "/y.npy"))
out.write(b"LGNPY close\n")
PY
layers "$T/bframed.lgs" > "$T/e"
cmp "$T/a" "$T/e" || { echo "FAIL: batch .npy frames differ from pack"; diff "$T/a" "$T/e"; exit 1; }

# a batch producer killed mid-batch keeps whole batches only; --append resumes it
set +e
"$PY" - "$T" <<'PY' | "$CLI" ingest --commit-every 0.000001 -o "$T/resumed.lgs" - 2> "$T/err"
import os, sys, numpy as np
from layergeom_stream import StreamWriter
T = sys.argv[1]
L = {n: np.load(T + "/%s.npy" % n) for n in ("l0", "l1", "l2")}
y = np.load(T + "/y.npy")
import io
w = StreamWriter(chunk_bytes=1000)
for s in range(0, 120, 20):
    w.write_batch({n: a[s:s + 20] for n, a in L.items()}, labels=y[s:s + 20])
real, w.out = w.out, io.BytesIO()
w.write_batch({n: a[120:140] for n, a in L.items()}, labels=y[120:140])
part = w.out.getvalue()
real.write(part[:len(part) * 2 // 3])   # two thirds of the batch of rows 120..139
real.flush()
os._exit(9)        # killed there
PY
status=$?
set -e
[ "$status" -eq 1 ] || { echo "FAIL: ingest of a killed batch producer exited $status"; cat "$T/err"; exit 1; }
grep -q "keeps 3 layers of 120 rows" "$T/err" || { echo "FAIL: message"; cat "$T/err"; exit 1; }
"$CLI" verify "$T/resumed.lgs" > /dev/null
N=$("$CLI" info --json "$T/resumed.lgs" | sed -n 's/.*"rows": \([0-9]*\),.*/\1/p' | head -1)
[ "$N" = 120 ] || { echo "FAIL: resumed store has $N rows"; exit 1; }
"$PY" - "$T" "$N" <<'PY' | "$CLI" ingest -q --append -o "$T/resumed.lgs" -
import sys, numpy as np
from layergeom_stream import StreamWriter
T, N = sys.argv[1], int(sys.argv[2])
L = {n: np.load(T + "/%s.npy" % n) for n in ("l0", "l1", "l2")}
y = np.load(T + "/y.npy")
with StreamWriter() as w:
    for s in range(N, 300, 45):
        w.write_batch({n: a[s:s + 45] for n, a in L.items()}, labels=y[s:s + 45])
PY
layers "$T/resumed.lgs" > "$T/f"
cmp "$T/a" "$T/f" || { echo "FAIL: resumed store differs from pack"; diff "$T/a" "$T/f"; exit 1; }
"$CLI" export "$T/resumed.lgs" --labels -o "$T/resumed.y.npy"
cmp "$T/packed.y.npy" "$T/resumed.y.npy"

# kill -9 of ingest itself in the middle of a batch-by-batch dump: the store
# keeps its last commit, and --append resumes from there to the same store
"$PY" - "$T" <<'PY' > "$T/slow.lgsx"
import sys, numpy as np
from layergeom_stream import StreamWriter
T = sys.argv[1]
L = {n: np.load(T + "/%s.npy" % n) for n in ("l0", "l1", "l2")}
y = np.load(T + "/y.npy")
with StreamWriter(chunk_bytes=1000) as w:
    for s in range(0, 300, 10):
        w.write_batch({n: a[s:s + 10] for n, a in L.items()}, labels=y[s:s + 10])
PY
# a pipe that trickles: about a third of the stream, then ingest is killed
( head -c $(( $(wc -c < "$T/slow.lgsx") / 3 )) "$T/slow.lgsx"; sleep 3 ) |
  "$CLI" ingest -q --commit-every 0.000001 -o "$T/killed.lgs" - &
sleep 1
pkill -9 -f "ingest -q --commit-every 0.000001 -o $T/killed.lgs" || true
wait 2>/dev/null || true
N=$("$CLI" info --json "$T/killed.lgs" | sed -n 's/.*"rows": \([0-9]*\),.*/\1/p' | head -1)
[ -n "$N" ] && [ "$N" -gt 0 ] && [ "$N" -lt 300 ] || { echo "FAIL: killed ingest kept ${N:-?} rows"; exit 1; }
"$PY" - "$T" "$N" <<'PY' | "$CLI" ingest -q --append -o "$T/killed.lgs" -
import sys, numpy as np
from layergeom_stream import StreamWriter
T, N = sys.argv[1], int(sys.argv[2])
L = {n: np.load(T + "/%s.npy" % n) for n in ("l0", "l1", "l2")}
y = np.load(T + "/y.npy")
with StreamWriter() as w:
    w.write_batch({n: a[N:] for n, a in L.items()}, labels=y[N:])
PY
"$CLI" verify "$T/killed.lgs" > /dev/null
layers "$T/killed.lgs" > "$T/g"
cmp "$T/a" "$T/g" || { echo "FAIL: store resumed after kill -9 differs from pack"; diff "$T/a" "$T/g"; exit 1; }

# the Hugging Face example's pooling (mean over the mask, last and first real
# token, either padding side) against a direct computation, and its stand-in run
"$PY" - <<'PY'
import numpy as np
from example_hf import pool
r = np.random.default_rng(1)
h = r.standard_normal((3, 5, 4))
right = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
left = right[:, ::-1].copy()
for mask in (right, left):
    for i in range(3):
        keep = np.nonzero(mask[i])[0]
        assert np.allclose(pool(h, mask, "mean")[i], h[i, keep].mean(0), atol=1e-6)
        assert np.array_equal(pool(h, mask, "last")[i], h[i, keep[-1]].astype(np.float32))
        assert np.array_equal(pool(h, mask, "first")[i], h[i, keep[0]].astype(np.float32))
PY
"$PY" "$SRC/samples/python/example_hf.py" --demo last | "$CLI" ingest -q -o "$T/hf.lgs" -
"$CLI" info "$T/hf.lgs" | grep -q "5 layers, 300 rows" || { echo "FAIL: example_hf demo"; exit 1; }
if "$PY" -c "import torch" 2>/dev/null; then
  "$PY" "$SRC/samples/python/example_torch.py" | "$CLI" ingest -q -o "$T/torch.lgs" -
  "$CLI" info "$T/torch.lgs" | grep -q "6 layers, 1024 rows" || { echo "FAIL: example_torch"; exit 1; }
fi
# the numpy example shows the method: an ID peak, then a plateau, the
# recommended layer at the minimum after the peak
"$PY" "$SRC/samples/python/example_numpy.py" | "$CLI" ingest -q -o "$T/toy.lgs" -
"$CLI" profile "$T/toy.lgs" --no-cache --json "$T/toy.json" -q
"$PY" - "$T/toy.json" <<'PY' || { echo "FAIL: example_numpy has no peak and plateau"; exit 1; }
import json, sys
r = json.load(open(sys.argv[1]))["recommended_layer"]
assert r["peak_index"] == 3 and r["index"] >= 6 and len(r["plateau"]) >= 2, r
PY
echo "9 passed, 0 failed"

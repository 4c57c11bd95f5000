#!/bin/sh
# pack --batches (files joined along the rows), --tokens (per-token arrays
# pooled or one row per token, with a mask), natural order of layer files, and
# the warning for stacks that look like batches.  Skipped (77) without numpy.
set -eu
CLI=$1
PY=/usr/bin/python3
[ -x "$PY" ] && "$PY" -c "import numpy" 2>/dev/null || { echo "no python3-numpy: skipped"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T"
"$PY" - <<'PY'
import numpy as np
r = np.random.default_rng(3)
L, N, D, T = 4, 600, 12, 7
A = r.standard_normal((L, N, D)).astype(np.float32)
for b in range(6):                                   # 6 batches of every layer
    np.save("batch_%d.npy" % b, A[:, b * 100:(b + 1) * 100])
for l in range(12):                                  # layer_1 .. layer_12
    np.save("layer_%d.npy" % (l + 1), np.full((50, 3), l, np.float32))
np.save("y.npy", r.integers(0, 3, N))
H = r.standard_normal((L, N, T, D)).astype(np.float16)
M = r.random((N, T)) < 0.7
M[:, 0] = True
np.save("tok.npy", H)
np.save("mask.npy", M)
np.save("exp_mean.npy", np.stack([[H[l, i][M[i]].astype(np.float64).mean(0) for i in range(N)]
                                  for l in range(L)]).astype(np.float32))
np.save("exp_first.npy", H[:, :, 0, :].astype(np.float32))
np.save("exp_last.npy", np.stack([[H[l, i][np.nonzero(M[i])[0][-1]] for i in range(N)]
                                  for l in range(L)]).astype(np.float32))
np.save("exp_all.npy", np.stack([H[l][M] for l in range(L)]))
np.save("exp_meanall.npy", H.astype(np.float64).mean(2).astype(np.float32))
PY
fail() { echo "FAIL: $*"; exit 1; }
pass=0

# --batches: 6 files of (4, 100, 12) make 4 layers of 600 rows, equal to the arrays
"$CLI" pack -q -o b.lgs --batches batch_0.npy batch_1.npy batch_2.npy batch_3.npy batch_4.npy \
  batch_5.npy --labels y.npy
"$CLI" info b.lgs | grep -q "4 layers, 600 rows" || fail "--batches: $("$CLI" info b.lgs | head -1)"
for l in 0 1 2 3; do "$CLI" export b.lgs --layer $l -o b$l.npy; done
"$PY" -c "
import numpy as np
A = np.concatenate([np.load('batch_%d.npy' % b) for b in range(6)], axis=1)
for l in range(4):
    assert (np.load('b%d.npy' % l) == A[l]).all(), l
" || fail "--batches: contents"
pass=$((pass + 1))

# --batches of safetensors files (one tensor per layer, the names kept)
"$PY" - <<'PY'
import json, struct, numpy as np
A = np.concatenate([np.load("batch_%d.npy" % b) for b in range(6)], axis=1)
for b in range(3):
    part = A[:, b * 200:(b + 1) * 200]
    head, data, at = {}, b"", 0
    for l in range(4):
        raw = np.ascontiguousarray(part[l]).tobytes()
        head["model.layers.%d" % l] = {"dtype": "F32", "shape": list(part[l].shape),
                                       "data_offsets": [at, at + len(raw)]}
        data += raw
        at += len(raw)
    h = json.dumps(head).encode()
    open("st_%d.safetensors" % b, "wb").write(struct.pack("<Q", len(h)) + h + data)
PY
"$CLI" pack -q -o st.lgs --batches st_0.safetensors st_1.safetensors st_2.safetensors
"$CLI" info st.lgs | grep -q "model.layers.3 *600" || fail "safetensors batches: $("$CLI" info st.lgs)"
"$CLI" export st.lgs --layer 2 -o st2.npy
cmp st2.npy b2.npy || fail "safetensors batches: contents"
pass=$((pass + 1))

# --batches --append: more rows of every layer, labels alongside
"$CLI" pack -q -o ba.lgs --batches batch_0.npy batch_1.npy --labels y.npy 2>/dev/null && fail "labels count not checked"
"$PY" -c "import numpy as np; y = np.load('y.npy'); np.save('y0.npy', y[:200]); np.save('y1.npy', y[200:])"
"$CLI" pack -q -o ba.lgs --batches batch_0.npy batch_1.npy --labels y0.npy
"$CLI" pack -q -o ba.lgs --append --batches batch_2.npy batch_3.npy batch_4.npy batch_5.npy --labels y1.npy
"$CLI" export ba.lgs --layer 3 -o ba3.npy
"$CLI" export ba.lgs --labels -o bay.npy
"$CLI" export b.lgs --labels -o by.npy
cmp ba3.npy b3.npy && cmp bay.npy by.npy || fail "--batches --append differs from one pack"
pass=$((pass + 1))

# stacks without --batches: a warning that says what to use
"$CLI" pack -o w.lgs batch_*.npy 2> w.err > /dev/null
grep -q "use --batches" w.err || fail "no warning for 6 stacked files: $(cat w.err)"
pass=$((pass + 1))

# layer files in the shell's string order are taken in natural order
"$CLI" pack -o n.lgs layer_*.npy 2> n.err > /dev/null
grep -q "natural order" n.err || fail "no note on the order: $(cat n.err)"
"$CLI" info n.lgs | awk '$1 ~ /^[0-9]+$/ {print $2}' | tr '\n' ' ' > n.order
[ "$(cat n.order)" = "layer_1 layer_2 layer_3 layer_4 layer_5 layer_6 layer_7 layer_8 layer_9 layer_10 layer_11 layer_12 " ] ||
  fail "order: $(cat n.order)"
# an order chosen by hand is kept
"$CLI" pack -q -o h.lgs layer_3.npy layer_1.npy layer_2.npy
[ "$("$CLI" info h.lgs | awk '$1 ~ /^[0-9]+$/ {print $2}' | tr '\n' ' ')" = "layer_3 layer_1 layer_2 " ] ||
  fail "hand order not kept"
pass=$((pass + 1))

# --tokens: mean, first, last over the mask; all = every kept token a row; mean without a mask
for mode in mean first last all; do
  "$CLI" pack -q -o t_$mode.lgs --tokens $mode --mask mask.npy tok.npy
  for l in 0 1 2 3; do "$CLI" export t_$mode.lgs --layer $l -o t_${mode}_$l.npy; done
done
"$CLI" pack -q -o t_meanall.lgs --tokens mean tok.npy
for l in 0 1 2 3; do "$CLI" export t_meanall.lgs --layer $l -o t_meanall_$l.npy; done
"$PY" -c "
import numpy as np
for mode in ('mean', 'first', 'last', 'all', 'meanall'):
    e = np.load('exp_%s.npy' % mode)
    for l in range(4):
        g = np.load('t_%s_%d.npy' % (mode, l))
        assert g.shape == e[l].shape, (mode, l, g.shape, e[l].shape)
        assert (g == e[l]).all(), (mode, l, abs(g.astype(float) - e[l]).max())
" || fail "--tokens contents"
# --tokens all stores each token's input as the label set "input" (for --groups)
"$CLI" export t_all.lgs --labels input -o t_all_input.npy || fail "no input label set"
"$PY" -c "
import numpy as np
M = np.load('mask.npy')
want = np.nonzero(M)[0]
got = np.load('t_all_input.npy')
assert (got == want).all(), (got[:10], want[:10])
" || fail "--tokens all: the input label set"
"$CLI" info t_mean.lgs | grep -q "labels 'input'" && fail "pooled tokens got an input set"
pass=$((pass + 1))

# bad input: a 2-D array with --tokens, a mask of the wrong shape
set +e
"$CLI" pack -q -o bad.lgs --tokens mean layer_1.npy 2> bad.err; s1=$?
"$CLI" pack -q -o bad2.lgs --tokens mean --mask y.npy tok.npy 2> bad2.err; s2=$?
"$PY" -c "
import numpy as np
a = np.load('batch_0.npy')
np.save('odd_layers.npy', a[:3])                      # 3 layers instead of 4
np.save('odd_dim.npy', a[:, :, :10].copy())           # 10 columns instead of 12
"
"$CLI" pack -q -o bad3.lgs --batches batch_0.npy odd_layers.npy 2> bad3.err; s3=$?
"$CLI" pack -q -o bad4.lgs --batches batch_0.npy odd_dim.npy 2> bad4.err; s4=$?
set -e
[ $s3 -eq 1 ] && grep -q "odd_layers.npy: 3 layers" bad3.err || fail "batch of 3 layers: $s3 $(cat bad3.err)"
[ $s4 -eq 1 ] && grep -q "odd_dim.npy: layer 0 has 100 rows of 10 columns" bad4.err ||
  fail "batch of 10 columns: $s4 $(cat bad4.err)"
[ ! -e bad3.lgs ] && [ ! -e bad4.lgs ] || fail "a refused --batches pack left a store"
[ $s1 -eq 1 ] && grep -q "(N, T, D)" bad.err || fail "2-D with --tokens: $s1 $(cat bad.err)"
[ $s2 -eq 1 ] && grep -q "y.npy" bad2.err || fail "bad mask: $s2 $(cat bad2.err)"
[ ! -e bad.lgs ] && [ ! -e bad2.lgs ] || fail "a failed pack left a store"
pass=$((pass + 1))
echo "$pass passed, 0 failed"

#!/bin/sh
# The HTML report, the SVG figure and the comparison page: well-formed, with
# the parts a reader needs; rendered in headless Chromium when it is there.
set -eu
CLI=$1
SAMPLE=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$CLI" profile "$SAMPLE" --no-cache --overlap-matrix -q --report "$T/r.html" --plot "$T/r.svg" \
  --json "$T/a.json"
"$CLI" profile "$SAMPLE" --no-cache --id ml -q --json "$T/b.json"
"$CLI" profile "$SAMPLE" --no-cache --id kstar --decimation --preset paper -q --report "$T/k.html"
"$CLI" profile "$SAMPLE" --no-cache --id kstar --decimation --per-class -q --report "$T/d.html"
"$CLI" compare "$T/a.json" "$T/b.json" --report "$T/c.html" --plot "$T/c.svg" > "$T/c.txt"

grep -q "recommends layer" "$T/c.txt" || fail "compare prints no recommendation"
for f in r.html r.svg c.html c.svg; do
  [ -s "$T/$f" ] || fail "$f is empty"
done
grep -q "<script" "$T/r.html" && fail "the report must not contain scripts"
if grep -o 'https\?://[^"]*' "$T/r.html" | grep -v '^http://www.w3.org/' | grep -q .; then
  fail "the report refers to something outside itself"
fi
# 7 layers: 7 ID points and 7 + 6 + 7 overlap points on the main figure
n=$(grep -o 'class="point"' "$T/r.svg" | wc -l)
[ "$n" -ge 20 ] || fail "the main figure has $n points"
grep -q 'class="recommended"' "$T/r.svg" || fail "no recommended-layer marker"
grep -q "relative depth" "$T/r.svg" || fail "no x-axis label"
grep -q "intrinsic dimension" "$T/r.svg" || fail "no y-axis label"
grep -q "Recommended layer" "$T/r.html" || fail "the report states no recommendation"
grep -q "Neighbourhood overlap between layers" "$T/r.html" || fail "no heat map"
grep -q "<table>" "$T/r.html" || fail "no table"
# decimation as its own figure, k* on the GRIDE figure, the warning of a small-N preset
grep -q "ID against the rows used" "$T/d.html" || fail "no decimation figure"
grep -q "Diamonds: k\*-GRIDE" "$T/d.html" || fail "no k* marker on the GRIDE figure"
grep -q "<th>mean k\*</th>" "$T/d.html" || fail "no k* column"
grep -q "ID of each class's own rows" "$T/d.html" || fail "no per-class figure"
grep -q "ID against the distance scale" "$T/d.html" || fail "no GRIDE figure against the distance"
grep -q "Information imbalance with the previous layer" "$T/d.html" || fail "no imbalance figure"
grep -q 'class="warning"' "$T/k.html" || fail "the paper preset at N = 1000 gives no warning"
grep -q 'class="warning"' "$T/d.html" && fail "a warning without cause"

PY=/usr/bin/python3
if [ -x "$PY" ]; then
  "$PY" - "$T" <<'PY' || fail "not well-formed XML"
import sys, xml.etree.ElementTree as ET
for f in ("r.html", "r.svg", "c.html", "c.svg", "k.html", "d.html"):
    ET.parse(sys.argv[1] + "/" + f)
PY
fi

B=$(command -v chromium || command -v chromium-browser || true)
if [ -n "$B" ]; then
  for f in r c d; do
    timeout 120 "$B" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
      --disable-background-networking --disable-component-update --disable-sync \
      --user-data-dir="$T/profile" --window-size=1080,1600 --screenshot="$T/$f.png" \
      "file://$T/$f.html" > /dev/null 2>&1 || fail "chromium could not render $f.html"
    size=$(wc -c < "$T/$f.png")
    # a blank page compresses to a few kilobytes; the figures make it far larger
    [ "$size" -gt 40000 ] || fail "$f.png is only $size bytes: nothing drawn?"
  done
  echo "rendered in $B"
else
  echo "no chromium: rendering not checked"
fi
echo "4 passed, 0 failed"

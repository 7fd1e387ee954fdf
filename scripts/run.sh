#!/usr/bin/env bash
# The main job: installs dependencies, builds websd (native tool, WebAssembly engine, web app), draws websd.png
# with the native tool, then serves the browser app on localhost and prints its URL (Ctrl+C stops it).
#   scripts/run.sh [MODEL] [PROMPT]
# MODEL is a diffusers folder or a single-file .safetensors; it is converted to a web pack that the page offers.
# Without one the tiny test model is used (random weights: it draws noise-like pictures, but exactly the ones
# diffusers draws). PORT sets the port (default 8080).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset native-release >/dev/null
cmake --build --preset native-release
cmake --preset wasm-release >/dev/null
cmake --build --preset wasm-release
websd=build/native-release/src/websd
model="${1:-${WEBSD_FIXTURES:-../shared/fixtures}/tiny-sd1/model}"
prompt="${2:-a photo of an astronaut riding a horse on mars}"
"$websd" info --model "$model"
"$websd" generate --model "$model" --prompt "$prompt" --seed 1234 -o websd.png
echo "wrote $(pwd)/websd.png"

# The page offers the model as a pack (converted once; again when the model changes).
name="$(basename "${model%.safetensors}")"
[[ $name == model ]] && name="$(basename "$(dirname "$model")")"
pack="build/packs/$name"
if [[ ! -f $pack/manifest.json || $model -nt $pack/manifest.json ]]; then
  rm -rf "$pack"
  "$websd" convert "$model" -o "$pack"
fi
(cd web && npm run build -- --model "$name=../$pack")
cd web && exec node scripts/serve.mjs --port "${PORT:-8080}"

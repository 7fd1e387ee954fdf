#!/usr/bin/env bash
# The main job: installs dependencies, builds websd (native tool, WebAssembly engine, web app), draws websd.png
# with the native tool, then serves the browser app on localhost and prints its URL (Ctrl+C stops it).
#   scripts/run.sh [MODEL] [PROMPT]
# MODEL is a diffusers folder or a single-file .safetensors; it is converted to a web pack that the page offers
# after the demo model. Without one, websd's own demo model draws (models/websd-shapes: coloured shapes at 128x128,
# trained by tools/demo-model). PORT sets the port (default 8080).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset native-release >/dev/null
cmake --build --preset native-release
cmake --preset wasm-release >/dev/null
cmake --build --preset wasm-release
websd=build/native-release/src/websd
demo=models/websd-shapes
model="${1:-$demo}"
if [[ $model == "$demo" ]]; then prompt="${2:-a big red circle on the left on a blue background}"
else prompt="${2:-a photo of an astronaut riding a horse on mars}"; fi
"$websd" info --model "$model"
"$websd" generate --model "$model" --prompt "$prompt" --seed 1234 -o websd.png
echo "wrote $(pwd)/websd.png"

# The page offers the demo model first, then MODEL.
scripts/build-web.sh "$model"
cd web && exec node scripts/serve.mjs --port "${PORT:-8080}"

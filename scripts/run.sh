#!/usr/bin/env bash
# Installs dependencies, builds websd and generates an image: `scripts/run.sh [MODEL] [PROMPT]`. MODEL is a
# diffusers folder or a single-file .safetensors; without one the tiny test model is used (random weights: it
# draws noise-like pictures, but exactly the ones diffusers draws).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset native-release >/dev/null
cmake --build --preset native-release
websd=build/native-release/src/websd
model="${1:-${WEBSD_FIXTURES:-../shared/fixtures}/tiny-sd1/model}"
prompt="${2:-a photo of an astronaut riding a horse on mars}"
"$websd" info --model "$model"
"$websd" generate --model "$model" --prompt "$prompt" --seed 1234 -o websd.png
echo "wrote $(pwd)/websd.png"

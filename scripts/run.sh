#!/usr/bin/env bash
# Installs dependencies, builds websd and runs it: shows what a model folder holds and times the SD 1.5 networks
# on this machine. Pass a diffusers model folder to inspect it; without one the tiny test model is used.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset native-release >/dev/null
cmake --build --preset native-release
websd=build/native-release/src/websd
model="${1:-${WEBSD_FIXTURES:-../shared/fixtures}/tiny-sd1/model}"
"$websd" info --model "$model"
"$websd" bench --width 256 --height 256

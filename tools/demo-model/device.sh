#!/usr/bin/env bash
# On the GPU machine (device run): trains with the checkpoints carried in .train/ckpt and puts the new checkpoints,
# the exported folder, the sample sheets and the log under $OUT, split into parts small enough to come back.
#   bash tools/demo-model/device.sh [--smoke] TRAIN_ARGS...   e.g. --minutes 7.5 vae unet export sample
# .train/ (git-ignored) holds diffusers-src.tar.xz, clip-tokenizer/{vocab.json,merges.txt} and ckpt/; see README.md.
set -uo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
train="$repo/.train"
work=/tmp/demo-model
mkdir -p "$work" "$train/ckpt" "${OUT:=$work/out}"
tar -C "$work" -xJf "$train/diffusers-src.tar.xz"
export PYTHONPATH="$work/src" PYTHONUNBUFFERED=1
cd "$repo/tools/demo-model"
common=(--tokenizer "$train/clip-tokenizer")
if [[ ${1:-} == --smoke ]]; then  # every stage for a few steps in a scratch folder, before the real run
  shift
  python3 train.py vae unet export sample --smoke 20 --ckpt "$work/smoke" --export "$work/smoke/websd-shapes" \
    "${common[@]}" || exit 1
fi
python3 train.py "$@" --ckpt "$train/ckpt" --export "$train/ckpt/websd-shapes" "${common[@]}" 2>&1 | tee "$work/log.txt"
rc=${PIPESTATUS[0]}
nvidia-smi --query-gpu=name,memory.used --format=csv >> "$work/log.txt" 2>&1
tar -C "$train" -cf - ckpt | split -b 15M -d - "$OUT/ckpt.tar.part"
cp "$work/log.txt" "$OUT/"
exit "$rc"

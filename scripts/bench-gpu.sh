#!/usr/bin/env bash
# The GPU benchmark, run on a machine with a GPU from the bundle scripts/pack-device.sh makes:
#   bash out/device/run.sh bash scripts/bench-gpu.sh [networks|limits|lab|images|lora|controlnet|peer|all] [RESULTS_DIR]
# Everything lands in RESULTS_DIR (default ./bench-results) as JSON, and the summary prints websd beside the
# PyTorch peer measured in the same run (js/bench-summary.mjs):
#   networks  SD 1.5 text encoder, UNet (batch 2) and VAE decode at 512x512, medians of 7 runs: f16 weights with
#             Dawn's robustness on (as in a browser; with the per-dispatch profile), robustness off, q8 weights;
#             SDXL's UNet and VAE at 1024x1024
#   limits    under WebGPU's default limits (128 MiB per binding): the SD 1.5 UNet, and a whole image (the VAE
#             decodes in tiles there)
#   lab       the kernel lab: every numbered kernel variant at real SD shapes, checked and timed
#   images    whole 20-step 512x512 images (3 in one process): seconds per image, ms per step, peak GPU memory
#   lora      what using and switching LoRAs costs (bench-node --lora-rank): SD 1.5 at 512x512, 4 steps, LoRAs of
#             rank 16 and 128: seconds per image and bytes uploaded with none, a first use, the same again, a switch,
#             another scale and none again (docs/lora.md)
#   controlnet  SD 1.5's UNet (batch 2) with one ControlNet at 512x512, medians of 7 runs, with every network for the
#             planned and the device's peak memory; beside scripts/peer_controlnet.py (PyTorch, same GPU)
#   peer      the PyTorch peer (../shared/peers/torch_peer.py, carried in the bundle) on the same GPU
set -euo pipefail
what="${1:-all}"
out="${2:-bench-results}"
mkdir -p "$out"
here="$(cd "$(dirname "$0")/.." && pwd)"
bundle="${WEBSD_BUNDLE:-$here}"
tok="${WEBSD_FIXTURES:-../shared/fixtures}/clip-tokenizer"
# Dawn rounds timestamps to 65.5 µs unless told not to: profiles need them exact.
exact=(--dawn-flag disable-dawn-features=timestamp_quantization)
bench() { node js/bench-node.mjs "${exact[@]}" "$@"; }
robust_off=(--dawn-flag enable-dawn-features=disable_robustness)

if [[ $what == peer || $what == all ]]; then
  if python3 -c 'import torch' 2>/dev/null && [[ -f $bundle/torch_peer.py ]]; then
    mkdir -p /tmp/peer && tar -C /tmp/peer -xJf "$bundle/diffusers-src.tar.xz"
    python3 "$bundle/torch_peer.py" /tmp/peer/src --sdxl | tee "$out/peer.jsonl"
  else
    echo "bench-gpu: no PyTorch or no torch_peer.py here: the peer is skipped"
  fi
fi
if [[ $what == networks || $what == all ]]; then
  bench --arch sd15 --runs 7 --profile "$out/profile-sd15.json" --json "$out/sd15-f16.json"
  bench --arch sd15 --runs 7 "${robust_off[@]}" --json "$out/sd15-f16-norobust.json"
  bench --arch sd15 --runs 7 --dtype q8 --json "$out/sd15-q8.json"
  bench --arch sdxl --runs 5 --only unet,vae --profile "$out/profile-sdxl.json" --json "$out/sdxl-f16.json"
fi
if [[ $what == limits || $what == all ]]; then
  limit=(--limit maxStorageBufferBindingSize=134217728)
  bench --arch sd15 --runs 5 --only unet "${limit[@]}" --json "$out/sd15-f16-default-limits.json"
  bench --arch sd15 --generate 1 --tokenizer "$tok" --steps 20 "${limit[@]}" --json "$out/sd15-images-default-limits.json"
fi
if [[ $what == lab || $what == all ]]; then
  node js/webgpu-suite.mjs lab --in node --repeats 5 "${exact[@]}" | tee "$out/lab.txt"
fi
if [[ $what == images || $what == all ]]; then
  bench --arch sd15 --generate 3 --tokenizer "$tok" --steps 20 --json "$out/sd15-images.json"
fi
if [[ $what == lora || $what == all ]]; then
  for rank in 16 128; do
    bench --arch sd15 --generate 1 --tokenizer "$tok" --steps 4 --runs 3 --lora-rank "$rank" \
      --json "$out/sd15-lora-r$rank.json" | tee "$out/sd15-lora-r$rank.txt"
  done
fi
if [[ $what == controlnet || $what == all ]]; then
  bench --arch sd15 --runs 7 --only unet --json "$out/sd15-unet.json"
  bench --arch sd15 --runs 7 --only text,unet,vae,controlnet --json "$out/sd15-controlnet.json"
  if python3 -c 'import torch' 2>/dev/null && [[ -f $bundle/diffusers-src.tar.xz ]]; then
    mkdir -p /tmp/peer && tar -C /tmp/peer -xJf "$bundle/diffusers-src.tar.xz"
    python3 scripts/peer_controlnet.py /tmp/peer/src | tee "$out/peer-controlnet.jsonl"
  fi
fi
node js/bench-summary.mjs "$out"

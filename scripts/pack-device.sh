#!/usr/bin/env bash
# Packs what running websd.wasm on Dawn needs on a machine without Node or a registry (the GPU device machine)
# into out/device/ (git-ignored, about 50 MB): a compressed Node binary, the `webgpu` npm package for linux-x64,
# the wasm modules and js/, and the tiny fixtures. On that machine `bash out/device/run.sh CMD...` unpacks them
# into /tmp/websd and runs CMD there (see README, "On a GPU machine"). Run after the wasm build.
set -euo pipefail
cd "$(dirname "$0")/.."
out=out/device
rm -rf "$out" && mkdir -p "$out"
fixtures="${WEBSD_FIXTURES:-../shared/fixtures}"
for f in build/wasm-release/src/wasm/websd.wasm build/wasm-release/tests/web/websd_webtests.wasm \
         js/node_modules/webgpu/package.json; do
  [[ -e $f ]] || { echo "pack-device: $f is missing: run scripts/test.sh (or the wasm build and npm ci) first" >&2; exit 1; }
done
xz -T2 -6 -c "$(command -v node)" > "$out/node.xz"
# webgpu (without the other platforms' binaries) with its dependencies, and fast-png (with its fflate and iobuffer).
tar -C js/node_modules -cJf "$out/node_modules.tar.xz" --exclude='webgpu/dist/darwin-*' --exclude='webgpu/dist/win32-*' \
    --exclude='webgpu/dist/linux-arm64' webgpu debug ms fast-png fflate iobuffer
tar -cJf "$out/websd.tar.xz" js/lib js/websd-node.mjs js/bench-node.mjs js/webgpu-suite.mjs js/test/fixtures.mjs js/package.json \
    scripts/bench-gpu.sh scripts/peer_controlnet.py scripts/make_random_model.py js/bench-summary.mjs \
    build/wasm-release/src/wasm/websd.{js,wasm,worker.js} build/wasm-release/tests/web/websd_webtests.{js,wasm,worker.js}
# Which fixtures travel: all of them do not fit the 64 MiB a device run carries beside Node and Dawn, so pick
# (WEBSD_DEVICE_FIXTURES="tiny-lcm tiny-sdxl" for the other families). The repository itself travels too (the demo
# model is 16 MiB of it), which leaves room for about one family.
read -r -a models <<< "${WEBSD_DEVICE_FIXTURES:-tiny-sd1 clip-tokenizer}"
tar -C "$fixtures" -cJf "$out/fixtures.tar.xz" "${models[@]}"
# The PyTorch peer that GPU benchmarks run beside websd (scripts/bench-gpu.sh), when it is at hand.
peers="${WEBSD_PEERS:-../shared/peers}"
[[ -f $peers/torch_peer.py ]] && cp "$peers/torch_peer.py" "$peers/diffusers-src.tar.xz" "$out/"
cat > "$out/run.sh" <<'RUN'
#!/usr/bin/env bash
# Unpacks the bundle into /tmp/websd (once) and runs the given command there with the bundled Node.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir=/tmp/websd
if [[ ! -x $dir/bin/node ]]; then
  mkdir -p "$dir/bin" "$dir/js/node_modules"
  xz -dc "$here/node.xz" > "$dir/bin/node" && chmod +x "$dir/bin/node"
  tar -C "$dir/js/node_modules" -xJf "$here/node_modules.tar.xz"
fi
# The modules and fixtures change from one bundle to the next: unpack them every time.
tar -C "$dir" -xJf "$here/websd.tar.xz"
rm -rf "$dir/fixtures" && mkdir -p "$dir/fixtures" && tar -C "$dir/fixtures" -xJf "$here/fixtures.tar.xz"
export PATH="$dir/bin:$PATH" WEBSD_FIXTURES="$dir/fixtures" WEBSD_BUNDLE="$here"
cd "$dir"
exec "$@"
RUN
du -sh "$out"/*
# A device run carries the tracked tree and this bundle, 64 MiB in all: say so here rather than at the device.
total=$(( $(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1) + $(du -cb "$out"/* | tail -1 | cut -f1) ))
if (( total > 63 * 1024 * 1024 )); then
  echo "pack-device: the repository and the bundle come to $(( total >> 20 )) MiB, over the 64 MiB a device run carries;" \
       "pick fewer fixtures with WEBSD_DEVICE_FIXTURES" >&2
  exit 1
fi

#!/usr/bin/env bash
# The CPU benchmark: `websd bench` (SD 1.5 at 512x512, random f16 weights) and the PyTorch peer (diffusers' UNet
# and VAE, random fp32 weights; ../shared/peers/cpu) interleaved in rounds on this machine, then the table of
# medians with ratios (scripts/bench_cpu_summary.py). Not part of the test suite.
#   bash scripts/bench-cpu.sh [ROUNDS] [RESULTS_DIR]      (default 3 rounds, bench-results/cpu)
# Environment: WEBSD_THREADS (default: all cores), WEBSD_BENCH_ARGS (more `websd bench` flags, e.g.
# "--sgemm portable" or "--winograd off"), WEBSD_PEERS (default ../shared/peers), WEBSD_BENCH_TINY=1 (tiny
# configurations and one run: checks that the command works, in seconds; what CI runs).
# It installs Debian's python3-torch (and what diffusers imports) where missing (as root), and unpacks the peer's
# diffusers source.
set -euo pipefail
rounds="${1:-3}"
out="${2:-bench-results/cpu}"
here="$(cd "$(dirname "$0")/.." && pwd)"
peers="${WEBSD_PEERS:-$here/../shared/peers}/cpu"
threads="${WEBSD_THREADS:-$(nproc)}"
websd="${WEBSD_BIN:-$here/build/native-release/src/websd}"
tiny="${WEBSD_BENCH_TINY:-0}"
mkdir -p "$out"

[ -x "$websd" ] || { echo "bench-cpu: $websd is missing: build it first (cmake --preset native-release && cmake --build --preset native-release)" >&2; exit 1; }
[ -f "$peers/torch_cpu_peer.py" ] || { echo "bench-cpu: no PyTorch peer at $peers (set WEBSD_PEERS)" >&2; exit 1; }
# torch 1.13 and what diffusers 0.31 imports at start (the stubs stand in for the rest).
if ! /usr/bin/python3 -c 'import torch, packaging, tqdm, filelock, regex, requests, PIL, importlib_metadata' 2>/dev/null; then
  echo "bench-cpu: installing Debian's python3-torch and what diffusers imports" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-torch python3-packaging python3-tqdm python3-filelock \
    python3-regex python3-requests python3-pil python3-importlib-metadata >&2
fi
peer_dir="$(mktemp -d)"
trap 'rm -rf "$peer_dir"' EXIT
tar -C "$peer_dir" -xJf "$peers/diffusers-0.31-src.tar.xz"
tar -C "$peer_dir" -xJf "$peers/stubs.tar.xz"

websd_args=(bench --threads "$threads" --runs 1)
peer_args=(--threads "$threads" --runs 1)
if [ "$tiny" = 1 ]; then
  websd_args+=(--arch "${WEBSD_FIXTURES:-$here/../shared/fixtures}/tiny-sd1/model")
  peer_args+=(--tiny)
fi
# shellcheck disable=SC2206
websd_args+=(${WEBSD_BENCH_ARGS:-})

peer() {
  PYTHONPATH="$peer_dir/stubs:$peer_dir/src" OMP_NUM_THREADS="$threads" \
    /usr/bin/python3 "$peers/torch_cpu_peer.py" "$@" "${peer_args[@]}"
}

# Each round: websd's UNet, the peer's UNet, websd's VAE, the peer's VAE, so that a machine that slows down
# (other load, clocks) slows both alike. websd's peak RSS is measured by a run of all its networks.
for r in $(seq 1 "$rounds"); do
  echo "round $r/$rounds" >&2
  "$websd" "${websd_args[@]}" --only unet --json "$out/websd-unet-$r.json" >&2
  peer unet > "$out/torch-unet-$r.json"
  "$websd" "${websd_args[@]}" --only vae --json "$out/websd-vae-$r.json" >&2
  peer vae > "$out/torch-vae-$r.json"
done
"$websd" "${websd_args[@]}" --json "$out/websd-all.json" >&2
/usr/bin/python3 "$here/scripts/bench_cpu_summary.py" "$out"

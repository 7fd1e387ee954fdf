#!/usr/bin/env bash
# Installs what building and testing websd needs: Debian packages, and the npm packages pinned in
# js/package-lock.json. Safe to run repeatedly.
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config
  libgtest-dev            # GoogleTest (tests)
  nlohmann-json3-dev      # JSON: configs, safetensors headers, tokenizer files
  libcli11-dev            # command-line parsing of the websd tool
  libopenblas-pthread-dev # optimised sgemm for the native cpu backend
  libpng-dev              # PNG output
  libstb-dev              # stb_image_resize: control images scaled to the generation size
  libssl-dev              # SHA-256 of pack shards (OpenSSL)
  emscripten node-acorn   # the WebAssembly build (optimised links run acorn under Node)
  clang libclang-rt-dev   # scripts/fuzz.sh: libFuzzer and the sanitizers' runtimes (clang 14 comes with emscripten)
  nodejs                  # the JS host, the Node runner and the browser tests (js/)
  chromium                # headless WebGPU (SwiftShader) for the browser tests
)

sudo_cmd=()
[[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "websd: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ! command -v npm >/dev/null; then  # Debian's nodejs comes without npm (NodeSource's includes it)
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends npm
fi

# js/ and web/ need Node 20 or newer (their package.json engines; playwright-core requires it); Debian 12 ships 18.
node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if ((node_major < 20)); then
  echo "websd: Node.js 20 or newer is needed, found $(node --version 2>/dev/null || echo none)." >&2
  echo "websd: install a newer nodejs package (Debian 13's, or NodeSource's node_20.x for Debian 12), then run this again." >&2
  exit 1
fi

# The pinned npm packages of js/ (the wasm host, browser tests) and web/ (the app's bundler, type checker and
# server), each installed again only when its lock file changes.
for dir in js web; do
  d="$(dirname "$0")/../$dir"
  if ! cmp -s "$d/package-lock.json" "$d/node_modules/.websd-lock"; then
    echo "websd: installing $dir/ packages (npm ci)"
    (cd "$d" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$d/package-lock.json" "$d/node_modules/.websd-lock"
  fi
done

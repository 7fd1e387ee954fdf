#!/usr/bin/env bash
# Installs what building and testing websd needs, from Debian packages only. Safe to run repeatedly.
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config
  libgtest-dev            # GoogleTest (tests)
  nlohmann-json3-dev      # JSON: configs, safetensors headers, tokenizer files
  libcli11-dev            # command-line parsing of the websd tool
  libopenblas-pthread-dev # optimised sgemm for the native cpu backend
  libpng-dev              # PNG output
  libssl-dev              # SHA-256 of pack shards (OpenSSL)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "websd: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

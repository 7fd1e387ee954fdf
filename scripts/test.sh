#!/usr/bin/env bash
# Installs dependencies, builds websd (release) and runs every test. Fixtures are read from ../shared/fixtures
# (or $WEBSD_FIXTURES).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset native-release >/dev/null
cmake --build --preset native-release
ctest --preset native-release -j2 "$@"

#!/usr/bin/env bash
# Installs dependencies, builds websd (native release, WebAssembly, the web app) and runs every test: the native
# suites (ctest), the JS suites (js/test: websd.wasm on its cpu backend in Node, the webgpu backend in headless
# Chromium and in Node+Dawn), then the web app end to end in headless Chromium (web/test). Fixtures are read from
# ../shared/fixtures (or $WEBSD_FIXTURES).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset native-release >/dev/null
cmake --build --preset native-release
ctest --preset native-release -j2 "$@"
cmake --preset wasm-release >/dev/null
cmake --build --preset wasm-release
(cd js && node --test test/*.test.mjs)
scripts/build-web.sh
(cd web && npm test)

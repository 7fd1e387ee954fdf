#!/usr/bin/env bash
# Installs dependencies, builds websd (native release and sanitized, WebAssembly, the web app) and runs every test:
# the native suites (ctest, under ASan + UBSan), the JS suites (js/test: websd.wasm on its cpu backend in Node, the
# webgpu backend in headless Chromium and in Node+Dawn), then the web app end to end in headless Chromium
# (web/test). Fixtures are read from ../shared/fixtures (or $WEBSD_FIXTURES).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset native-release >/dev/null
cmake --build --preset native-release
# The native suite under AddressSanitizer and UBSan (clang), every test but the demo model's two caption tests:
# those are minutes of arithmetic over code the tiny fixtures' tests run too, so they run in the release build
# (what users run) alone. `ctest --preset native-release` runs the whole suite there.
cmake --preset native-debug-asan >/dev/null
cmake --build --preset native-debug-asan
ctest --preset native-debug-asan -j2 -E '^DemoModel\.' "$@"
ctest --preset native-release -j2 -R '^DemoModel\.' "$@"
cmake --preset wasm-release >/dev/null
cmake --build --preset wasm-release
(cd js && node --test test/*.test.mjs)
scripts/build-web.sh
(cd web && npm test)

#!/usr/bin/env bash
# Fuzzes every parser of outside data (tests/fuzz: safetensors, configs, prompts, tokenizer files, pack manifests,
# PNG images, LoRA and embedding files) with libFuzzer, AddressSanitizer and UBSan (the `fuzz` CMake preset, clang):
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]      (default 60 s each, every target)
# Each target starts from its seed corpus (tests/fuzz/corpus/TARGET) and keeps what it finds in
# build/fuzz/corpus/TARGET; a crash, a sanitizer report, an uncaught exception other than websd::Error, a hang (10 s)
# or 2 GiB of memory stops it with the input saved as build/fuzz/artifacts/TARGET-*, and this script fails.
# CI runs a short smoke of it (scripts/test.sh); long runs are this command with a larger SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
((${#targets[@]})) || targets=(safetensors config prompt tokenizer_files pack_manifest png adapters)
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target "${targets[@]/#/fuzz_}"
mkdir -p build/fuzz/artifacts
status=0
for t in "${targets[@]}"; do
  mkdir -p "build/fuzz/corpus/$t"
  log="build/fuzz/fuzz_$t.log"
  if build/fuzz/tests/fuzz/"fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
       -print_final_stats=1 -artifact_prefix="build/fuzz/artifacts/$t-" \
       "build/fuzz/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz $t: ${runs:-?} inputs in ${seconds} s, no failure (corpus $(ls "build/fuzz/corpus/$t" | wc -l) files)"
  else
    status=1
    echo "fuzz $t: FAILED; the input is in build/fuzz/artifacts/$t-*; the report:" >&2
    grep -v "^#" "$log" | tail -40 >&2
  fi
done
exit "$status"

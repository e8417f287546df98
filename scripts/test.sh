#!/usr/bin/env bash
# Builds dsinfer and runs everything CI holds it to: the test suite (Release), the same
# suite under AddressSanitizer + UndefinedBehaviorSanitizer, the clang-format check, the
# AArch64 cross build with its kernel tests under emulation (scripts/check-aarch64.sh), and a
# bounded libFuzzer run of the GGUF and safetensors parsers (scripts/fuzz.sh).
# DSINFER_TEST_LABEL_EXCLUDE (default "slow") names ctest labels to skip;
# DSINFER_FUZZ_SECONDS (default 60) is how long each fuzz target runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
jobs=$(nproc)
exclude=${DSINFER_TEST_LABEL_EXCLUDE:-slow}

echo "== format check"
bash scripts/check-format.sh

echo "== release build and tests"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build
ctest --test-dir build --output-on-failure -j "$jobs" -LE "$exclude"

echo "== sanitizer build (ASan+UBSan) and tests"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDSINFER_SANITIZE=ON \
  -DDSINFER_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" -LE "${exclude}|nosan"

echo "== AArch64 cross build and kernel tests (emulated)"
bash scripts/check-aarch64.sh

echo "== fuzz (bounded)"
bash scripts/fuzz.sh "${DSINFER_FUZZ_SECONDS:-60}"

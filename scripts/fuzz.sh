#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/) with clang in build-fuzz/ and runs each of them:
# first once over every committed input in tests/fuzz/corpus/<target>/ (seeds and regression
# inputs), then fuzzing for SECONDS_PER_TARGET seconds (default 60) from a working copy of
# that corpus. Exits non-zero if any input crashes, leaks, times out or trips ASan/UBSan; the
# input that did is left in build-fuzz/artifacts/<target>/.
#
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET]
#
# CMAKE_BUILD_PARALLEL_LEVEL limits the build's parallelism, as for any CMake build.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
if ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET]" >&2
  exit 2
fi
if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz: clang++ not found (libFuzzer needs clang; scripts/install-deps.sh installs it)" >&2
  exit 1
fi
targets=(gguf_fuzz safetensors_fuzz)
build=build-fuzz

echo "fuzz: configuring $build with clang (DSINFER_FUZZ=ON, no tests, no benchmarks)"
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DDSINFER_FUZZ=ON \
  -DDSINFER_BUILD_TESTS=OFF -DDSINFER_BUILD_BENCH=OFF -DDSINFER_DEFAULT_MODEL= >/dev/null
echo "fuzz: building ${targets[*]}"
cmake --build "$build" --target "${targets[@]}"

# Options shared by the replay and the fuzzing runs: a slow input (10 s) or one that needs
# over 2 GiB is a finding, like a crash.
common=(-rss_limit_mb=2048 -timeout=10 -max_len=65536)
export UBSAN_OPTIONS=print_stacktrace=1
failed=()
for t in "${targets[@]}"; do
  seeds=tests/fuzz/corpus/$t
  work=$build/corpus/$t
  artifacts=$build/artifacts/$t
  log=$build/logs/$t.log
  mkdir -p "$work" "$artifacts" "$(dirname "$log")"
  inputs=("$seeds"/*)
  echo "fuzz: $t: replaying the ${#inputs[@]} committed inputs in $seeds/"
  if ! "$build/$t" "${common[@]}" -artifact_prefix="$artifacts/" "${inputs[@]}" >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz: $t: a committed input fails (log: $log)"
    failed+=("$t")
    continue
  fi
  cp "$seeds"/* "$work"/
  dict=tests/fuzz/${t%_fuzz}.dict
  echo "fuzz: $t: fuzzing for ${seconds}s (working corpus $work/, dictionary $dict)"
  if "$build/$t" "${common[@]}" -max_total_time="$seconds" -print_final_stats=1 \
    -dict="$dict" -artifact_prefix="$artifacts/" "$work" >"$log" 2>&1; then
    grep -E '^(#[0-9]+ *DONE|Done|stat::number_of_executed_units|stat::peak_rss_mb|stat::new_units_added)' \
      "$log" || true
  else
    tail -n 80 "$log"
    echo "fuzz: $t: FAILED; the input is in $artifacts/ (log: $log)"
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failures in: ${failed[*]}"
  exit 1
fi
echo "fuzz: all targets passed"

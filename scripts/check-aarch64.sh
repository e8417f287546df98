#!/usr/bin/env bash
# Cross-compiles the engine library for 64-bit ARM Linux (its kernel table there is NEON,
# src/backend/cpu/kernels_neon.cpp) and runs the kernel tests (tests/unit/backend) under
# user-mode emulation: every table the AArch64 build carries against the float64 and scalar
# references. Warnings are errors here too.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh aarch64
dir=${DSINFER_AARCH64_BUILD:-build-aarch64}
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DDSINFER_BUILD_BENCH=OFF >/dev/null
cmake --build "$dir" --target dsinfer_core dsinfer_kernel_tests
qemu-aarch64 -L /usr/aarch64-linux-gnu "$dir/tests/dsinfer_kernel_tests" --gtest_brief=1

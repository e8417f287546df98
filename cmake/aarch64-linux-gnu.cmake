# Cross-compiling for 64-bit ARM Linux with Debian's g++-aarch64-linux-gnu. Used by
# scripts/check-aarch64.sh to check that the engine library (with its NEON kernel table)
# compiles for AArch64; the header-only dependencies come from the build machine.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

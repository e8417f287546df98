#!/usr/bin/env bash
# Installs every Debian package dsinfer needs to build, test and benchmark.
# Idempotent: does nothing when all packages are already present.
# With the argument `aarch64`, also the AArch64 cross compiler and user-mode emulator that
# scripts/check-aarch64.sh uses.
set -euo pipefail
pkgs=(
  build-essential cmake ninja-build pkg-config clang clang-format
  libclang-rt-dev  # libFuzzer and the sanitizer runtimes for clang (scripts/fuzz.sh)
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev libpcre2-dev libcpp-httplib-dev libcli11-dev libreadline-dev
  python3 python3-numpy python3-jinja2 python3-torch
  tmux
)
if [ "${1:-}" = aarch64 ]; then
  pkgs+=(g++-aarch64-linux-gnu qemu-user)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm (the server tests use the official openai client) may come from outside
# Debian's packages; only install Debian's when the commands are missing.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

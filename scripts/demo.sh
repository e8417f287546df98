#!/usr/bin/env bash
# Builds dsinfer and asks the embedded default model (models/tiny-r1, compiled into the
# binary) a question. Its reasoning is shown dimmed, then the answer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
question=${1:-"What is 347 + 589?"}
echo "\$ dsinfer run -p \"$question\""
./build/dsinfer run -p "$question"

#!/bin/sh
# Full training run for models/tiny-r1 (CPU).
# One intra-op thread: on a 2-core machine shared with other jobs, OpenMP with
# 2 threads was ~10x slower than 1 thread (oversubscription).
# Debian's PyTorch links the reference BLAS (libblas.so.3); OpenBLAS
# (apt: libopenblas0-pthread) is ~25x faster for the matmuls, so it is
# preferred for this process only when installed.
set -e
cd "$(dirname "$0")/../.."
OB=/usr/lib/x86_64-linux-gnu/openblas-pthread
if [ -e "$OB/libblas.so.3" ]; then
  export LD_LIBRARY_PATH="$OB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
exec nice -n 5 /usr/bin/python3 tools/train/train.py --out models/tiny-r1 --minutes 42 "$@"

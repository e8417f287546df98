#!/usr/bin/python3
"""Compare two logits files (little-endian float32, row-major [n_positions, vocab]).

  compare.py A.bin B.bin --vocab V [--atol 1e-4] [--max-median X] [--max-p90 Y]
             [--max-worst-median Z] [--min-top1 F] [--stats]

For every position it takes the median and the 90th percentile of |A - B| over the
vocabulary; it prints the max |A - B|, the median over positions of those per-position
medians and p90s ("typical"), their worst position, and top-1 agreement. Exit status 1
when a bound is exceeded:
  --atol                max |A - B| (f32 engine vs float64 reference; default 1e-4)
  --max-median          median over positions of the per-position median |dlogit|
  --max-p90             median over positions of the per-position p90 |dlogit|
  --max-worst-median    the largest per-position median |dlogit|
For bf16 runs on the sharp models pass --atol inf --max-median 0.05 --max-p90 0.12
(docs/numerics.md explains the numbers; a single routing flip can legitimately move one
position far, so the typical values, not the worst position, are bounded).
"""

import argparse
import sys

import numpy as np


def load(path, vocab):
    a = np.fromfile(path, dtype="<f4")
    if a.size % vocab:
        raise SystemExit(f"{path}: {a.size} floats is not a multiple of vocab {vocab}")
    return a.reshape(-1, vocab).astype(np.float64)


def compare(a, b):
    """Statistics of |a - b| for [n, vocab] arrays."""
    d = np.abs(a - b)
    med = np.median(d, axis=1)
    p90 = np.percentile(d, 90, axis=1)
    return {
        "positions": a.shape[0],
        "max_abs": float(d.max()) if d.size else 0.0,
        "pos_median": med,
        "pos_p90": p90,
        "worst_median": float(med.max()) if d.size else 0.0,
        "typical_median": float(np.median(med)) if d.size else 0.0,
        "typical_p90": float(np.median(p90)) if d.size else 0.0,
        "worst_p90": float(p90.max()) if d.size else 0.0,
        "top1_agree": float(np.mean(a.argmax(1) == b.argmax(1))) if d.size else 1.0,
        "nonfinite": int((~np.isfinite(a)).sum() + (~np.isfinite(b)).sum()),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--vocab", type=int, required=True)
    ap.add_argument("--atol", type=float, default=1e-4, help="max |A-B| allowed (default 1e-4)")
    ap.add_argument("--max-median", type=float,
                    help="bound on the median over positions of the per-position median |dlogit|")
    ap.add_argument("--max-p90", type=float,
                    help="bound on the median over positions of the per-position p90 |dlogit|")
    ap.add_argument("--max-worst-median", type=float,
                    help="bound on the largest per-position median |dlogit|")
    ap.add_argument("--min-top1", type=float, help="minimum fraction of positions whose argmax agrees")
    ap.add_argument("--stats", action="store_true", help="print per-position statistics")
    a = ap.parse_args(argv)
    A, B = load(a.a, a.vocab), load(a.b, a.vocab)
    if A.shape != B.shape:
        print(f"shape mismatch: {A.shape} vs {B.shape}")
        return 1
    s = compare(A, B)
    print(f"positions {s['positions']}  max_abs {s['max_abs']:.3e}  "
          f"per-position median |d|: typical {s['typical_median']:.3e} worst {s['worst_median']:.3e}  "
          f"per-position p90 |d|: typical {s['typical_p90']:.3e} worst {s['worst_p90']:.3e}  "
          f"top1 {s['top1_agree'] * 100:.1f}%")
    if a.stats:
        for i, (m, p) in enumerate(zip(s["pos_median"], s["pos_p90"])):
            print(f"  pos {i:4d}  median {m:.3e}  p90 {p:.3e}  top1 A {A[i].argmax()} B {B[i].argmax()}")
    fail = []
    if s["nonfinite"]:
        fail.append(f"{s['nonfinite']} non-finite values")
    if s["max_abs"] > a.atol:
        fail.append(f"max_abs {s['max_abs']:.3e} > atol {a.atol:g}")
    if a.max_median is not None and s["typical_median"] > a.max_median:
        fail.append(f"typical per-position median {s['typical_median']:.3e} > {a.max_median:g}")
    if a.max_p90 is not None and s["typical_p90"] > a.max_p90:
        fail.append(f"typical per-position p90 {s['typical_p90']:.3e} > {a.max_p90:g}")
    if a.max_worst_median is not None and s["worst_median"] > a.max_worst_median:
        fail.append(f"worst per-position median {s['worst_median']:.3e} > {a.max_worst_median:g}")
    if a.min_top1 is not None and s["top1_agree"] < a.min_top1:
        fail.append(f"top-1 agreement {s['top1_agree']:.3f} < {a.min_top1:g}")
    if fail:
        print("FAIL: " + "; ".join(fail))
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())

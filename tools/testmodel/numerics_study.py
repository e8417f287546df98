#!/usr/bin/python3
"""Measure how far an honest bf16 path and each known bug move the logits of the "sharp"
random models; the numbers behind the bf16 thresholds in docs/numerics.md.

  numerics_study.py [--seeds 4] [--tokens 32] [--preset NAME ...]

For each preset and seed: a --sharp model in f32 and the same model stored in bf16 (round
to nearest even). Reference: the float64 forward pass of the f32 model. Simulated paths:
  bf16-weights      bf16 weights, float64 math
  bf16-w+act-in     ... and every matmul input rounded to bf16 (a bf16 dot-product kernel)
  bf16-w+act-io     ... and every matmul output rounded to bf16 too (bf16 activations)
  <bug>             bf16 weights, float64 math, one detail done wrong
For each run: the worst position's median |dlogit| and p90 |dlogit| over the vocabulary
(what compare.py --max-median / --max-p90 bound) and top-1 agreement.
"""

import argparse
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402
import make_model  # noqa: E402
import reference as ref  # noqa: E402
import selftest  # noqa: E402
import st_io  # noqa: E402

PRESETS = ["v3-tiny", "v2-lite-tiny", "v2-tiny", "v3-norope-scaling", "kimi-tiny", "fp8-small",
           "v3-sharp", "v2-sharp"]


def bf16(x):
    return st_io.bf16_bits_to_f32(st_io.f32_to_bf16_bits(x.astype(np.float32))).astype(np.float64)


def run_with_lin(model, toks, opts, mode):
    orig = ref.lin
    if mode == "in":
        ref.lin = lambda x, W: bf16(x) @ W.T
    elif mode == "io":
        ref.lin = lambda x, W: bf16(bf16(x) @ W.T)
    try:
        return ref.forward(model, toks, opts)[0]
    finally:
        ref.lin = orig


def f32_study(presets, seeds, n_tokens):
    """float32 math (weights and activations) against the float64 reference, default init."""
    worst = []
    with tempfile.TemporaryDirectory() as tmp:
        for preset in presets:
            for seed in range(seeds):
                d = os.path.join(tmp, "m")
                make_model.write_model(d, preset, dtype="f32", seed=seed,
                                       mtp=make_model.PRESETS[preset]["config"]["model_type"] != "deepseek_v2")
                m = ref.load_model(d)
                toks = np.random.default_rng(seed).integers(0, m.cfg["vocab_size"], n_tokens).tolist()
                base = ref.forward(m, toks)[0]
                m.w = {k: v.astype(np.float32) for k, v in m.w.items()}
                got = ref.forward(m, toks)[0]
                worst.append((float(np.abs(got - base).max()), preset, seed, got.dtype))
    worst.sort()
    print(f"float32 math vs float64 reference, {len(worst)} runs of {n_tokens} tokens: "
          f"max |dlogit| median {worst[len(worst) // 2][0]:.2e}, worst {worst[-1][0]:.2e} "
          f"({worst[-1][1]} seed {worst[-1][2]}, computed in {worst[-1][3]})")


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--preset", action="append")
    ap.add_argument("--f32", action="store_true", help="only the float32-math study")
    a = ap.parse_args(argv)
    if a.f32:
        f32_study(a.preset or selftest.SMALL_PRESETS, a.seeds, a.tokens)
        return 0
    rows = {}  # scenario -> list of (preset, seed, worst_median, worst_p90, top1)
    with tempfile.TemporaryDirectory() as tmp:
        for preset in a.preset or PRESETS:
            for seed in range(a.seeds):
                d32, d16 = os.path.join(tmp, "f32"), os.path.join(tmp, "bf16")
                make_model.write_model(d32, preset, dtype="f32", sharp=True, seed=seed)
                make_model.write_model(d16, preset, dtype="bf16", sharp=True, seed=seed)
                m32, m16 = ref.load_model(d32), ref.load_model(d16)
                rng = np.random.default_rng(1000 + seed)
                toks = rng.integers(0, m32.cfg["vocab_size"], a.tokens).tolist()
                base = ref.forward(m32, toks)[0]
                runs = {"bf16-weights": run_with_lin(m16, toks, ref.Options(), None),
                        "bf16-w+act-in": run_with_lin(m16, toks, ref.Options(), "in"),
                        "bf16-w+act-io": run_with_lin(m16, toks, ref.Options(), "io")}
                for bug, kw in selftest.BUGS.items():
                    if selftest.bug_applies(m32.cfg, m32.family, bug):
                        runs[bug] = ref.forward(m16, toks, ref.Options(**kw))[0]
                for name, lg in runs.items():
                    s = compare.compare(base, lg)
                    rows.setdefault(name, []).append(
                        (preset, seed, s["worst_median"], s["worst_p90"], s["top1_agree"],
                         float(np.median(s["pos_median"])), float(np.median(s["pos_p90"])),
                         float(np.mean(s["pos_median"]))))
    print(f"{'scenario':28s} {'n':>3s}  {'worst-pos median |d|':>22s}  {'worst-pos p90 |d|':>20s}  top1")
    print(f"{'':28s} {'':>3s}  {'min':>10s} {'max':>11s}  {'min':>9s} {'max':>10s}")
    for name, r in rows.items():
        med = np.array([x[2] for x in r])
        p90 = np.array([x[3] for x in r])
        top1 = np.array([x[4] for x in r])
        mm = np.array([x[5] for x in r])
        mp = np.array([x[6] for x in r])
        mean = np.array([x[7] for x in r])
        print(f"{name:28s} {len(r):3d}  {med.min():10.4f} {med.max():11.4f}  {p90.min():9.4f} "
              f"{p90.max():10.4f}  {top1.min():.2f}   mid-pos median {mm.min():.4f}..{mm.max():.4f}"
              f"  mid-pos p90 {mp.min():.4f}..{mp.max():.4f}  mean-pos median {mean.min():.4f}..{mean.max():.4f}")
    for col, label in ((2, "worst-position median"), (5, "median over positions of the per-position median")):
        print(f"\nper preset: {label}; max over seeds for the honest paths, min for the bugs")
        for preset in a.preset or PRESETS:
            parts = []
            for name, r in rows.items():
                v = [x[col] for x in r if x[0] == preset]
                if v:
                    parts.append(f"{name}={(max(v) if name.startswith('bf16') else min(v)):.3f}")
            print(f"  {preset}: " + ", ".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())

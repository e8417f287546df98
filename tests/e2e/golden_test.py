#!/usr/bin/env python3
"""Engine vs. float64 reference on a generated random checkpoint.

Generates a small model (tools/testmodel/make_model.py), runs the numpy float64 reference
(tools/testmodel/reference.py) and `dsinfer logits` on the same prompt, then compares every
position's logits and the greedy continuation. Tolerances are those of docs/numerics.md.
Exit 0: pass, 1: fail, 77: this CPU cannot run the requested ISA (ctest reports a skip).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS = os.path.join(ROOT, "tools", "testmodel")


def run(cmd, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.stderr.write(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout}\n{r.stderr}\n")
        sys.exit(1)
    return r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dsinfer", required=True)
    ap.add_argument("--preset", required=True)
    ap.add_argument("--dtype", default="f32")
    # The reference runs on a checkpoint of this dtype made with the same seed (default: the
    # engine's own checkpoint). bf16 tests compare against the f32 original (docs/numerics.md).
    ap.add_argument("--ref-dtype", default=None)
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--sharp", action="store_true")
    ap.add_argument("--mtp", action="store_true", help="with an MTP module; compare its draft logits too")
    ap.add_argument("--isa", default="")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                    help="override a config value of the preset (make_model.py --set)")
    ap.add_argument("--n-tokens", type=int, default=24)
    ap.add_argument("--gen", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    # The engine's KV-cache element type (default: the engine's default).
    ap.add_argument("--cache-type", default=None)
    # exact: max |Δ| over all logits; stat: per-position median / p90 of |Δ| (bf16 compute).
    ap.add_argument("--max-abs", type=float, default=1e-4)
    ap.add_argument("--max-median", type=float, default=None)
    ap.add_argument("--max-p90", type=float, default=None)
    ap.add_argument("--max-worst-median", type=float, default=None,
                    help="also bound the largest per-position median |Δ| (statistical mode)")
    a = ap.parse_args()

    if a.isa:
        probe = subprocess.run([a.dsinfer, "version", "--isa", a.isa], capture_output=True, text=True)
        if probe.returncode != 0:
            print(f"SKIP: {a.isa} kernels unavailable on this CPU: {probe.stderr.strip()}")
            return 77

    with tempfile.TemporaryDirectory(prefix="dsinfer-golden-") as tmp:
        def make(out, dtype, shards):
            cmd = [sys.executable, os.path.join(TOOLS, "make_model.py"), "--preset", a.preset, "--out", out,
                   "--dtype", dtype, "--seed", str(a.seed)]
            if shards > 1:
                cmd += ["--shards", str(shards)]
            if a.sharp:
                cmd += ["--sharp"]
            if a.mtp:
                cmd += ["--mtp"]
            for kv in a.set:
                cmd += ["--set", kv]
            run(cmd)

        model = os.path.join(tmp, "model")
        make(model, a.dtype, a.shards)
        ref_model = model
        if a.ref_dtype and a.ref_dtype != a.dtype:
            ref_model = os.path.join(tmp, "ref-model")
            make(ref_model, a.ref_dtype, 1)
        with open(os.path.join(model, "config.json")) as f:
            cfg = json.load(f)
        cfg = cfg.get("text_config", cfg)
        vocab = cfg["vocab_size"]
        rng = np.random.default_rng(a.seed + 1000)
        tokens = ",".join(str(t) for t in rng.integers(0, vocab, a.n_tokens))

        ref_out = os.path.join(tmp, "ref.bin")
        mtp_args = lambda name: ["--mtp-out", os.path.join(tmp, name)] if a.mtp else []
        ref_gen = json.loads(run([sys.executable, os.path.join(TOOLS, "reference.py"), "--model", ref_model,
                                  "--tokens", tokens, "--out", ref_out, "--gen", str(a.gen)] +
                                 mtp_args("ref-mtp.bin")).strip().splitlines()[-1])
        env = dict(os.environ)
        if a.isa:
            env["DSINFER_ISA"] = a.isa
        eng_out = os.path.join(tmp, "eng.bin")
        eng_gen = json.loads(run([a.dsinfer, "logits", "-m", model, "--tokens", tokens, "--out", eng_out,
                                  "--gen", str(a.gen), "-t", str(a.threads)] + mtp_args("eng-mtp.bin") +
                                 (["--cache-type", a.cache_type] if a.cache_type else []),
                                 env=env).strip().splitlines()[-1])

        ref = np.fromfile(ref_out, dtype="<f4").reshape(a.n_tokens, vocab).astype(np.float64)
        eng = np.fromfile(eng_out, dtype="<f4").reshape(a.n_tokens, vocab).astype(np.float64)
        d = np.abs(ref - eng)
        # Per position: median and p90 of |Δ| over the vocabulary; the statistical bounds apply
        # to the median over positions of each (docs/numerics.md, section 2).
        med = np.median(d, axis=1)
        p90 = np.percentile(d, 90, axis=1)
        print(f"{a.preset} {a.dtype} isa={a.isa or 'auto'} cache={a.cache_type or 'default'}: max|Δ| {d.max():.3e}  "
              f"typical median {np.median(med):.3e}  typical p90 {np.median(p90):.3e}  "
              f"worst position median {med.max():.3e}")
        ok = True
        if a.mtp:
            rm = np.fromfile(os.path.join(tmp, "ref-mtp.bin"), dtype="<f4").astype(np.float64)
            em = np.fromfile(os.path.join(tmp, "eng-mtp.bin"), dtype="<f4").astype(np.float64)
            dm = np.abs(rm - em).max() if rm.shape == em.shape else float("inf")
            print(f"MTP draft logits: max|Δ| {dm:.3e}")
            if not dm <= a.max_abs:
                print(f"FAIL: MTP draft logits differ by {dm:.3e} > {a.max_abs:g}")
                ok = False
        if a.max_median is None:
            if not d.max() <= a.max_abs:
                print(f"FAIL: max |Δlogit| {d.max():.3e} > {a.max_abs:g}")
                ok = False
            if eng_gen != ref_gen:
                print(f"FAIL: greedy decode differs\n  engine    {eng_gen}\n  reference {ref_gen}")
                ok = False
        else:
            if not np.median(med) <= a.max_median:
                print(f"FAIL: typical median |Δ| {np.median(med):.3e} > {a.max_median:g}")
                ok = False
            if a.max_worst_median is not None and not med.max() <= a.max_worst_median:
                print(f"FAIL: worst position median |Δ| {med.max():.3e} > {a.max_worst_median:g}")
                ok = False
            if a.max_p90 is not None and not np.median(p90) <= a.max_p90:
                print(f"FAIL: typical p90 |Δ| {np.median(p90):.3e} > {a.max_p90:g}")
                ok = False
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""GGUF round trips through `dsinfer quantize`.

logits mode: makes a small random HF checkpoint (tools/testmodel/make_model.py), writes it as
GGUF with `dsinfer quantize --type TYPE`, and compares `dsinfer logits` on the GGUF with the
same command on the HF directory: max |Δlogit| for exact types, or the median over positions
of the per-position median |Δlogit| and the top-1 agreement for quantised ones (bounds:
docs/gguf.md). With --requant it also writes an F32 GGUF first and requantises that file,
which must give the same bytes as quantising the HF checkpoint directly.

tokenizer mode: a one-layer model with DeepSeek-V3's vocabulary and tokenizer files
(tests/data/tokenizer/deepseek-v3), written as GGUF; `dsinfer tokenize` must give the same
ids from the GGUF metadata as from tokenizer.json on the tokenizer test vectors.
"""
import argparse
import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS = os.path.join(ROOT, "tools", "testmodel")
TOKDIR = os.path.join(ROOT, "tests", "data", "tokenizer", "deepseek-v3")


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout}\n{r.stderr}\n")
        sys.exit(1)
    return r.stdout


def make_model(out, preset, seed, extra):
    run([sys.executable, os.path.join(TOOLS, "make_model.py"), "--preset", preset, "--out", out,
         "--seed", str(seed)] + extra)


def logits_mode(a, tmp):
    model = os.path.join(tmp, "model")
    extra = []
    for s in a.set:
        extra += ["--set", s]
    if a.sharp:
        extra += ["--sharp"]
    make_model(model, a.preset, a.seed, extra)
    gguf = os.path.join(tmp, "model.gguf")
    run([a.dsinfer, "quantize", "-m", model, "--out", gguf, "--type", a.type, "--mla", a.mla, "-q",
         "-t", str(a.threads)])
    if a.requant:
        f32 = os.path.join(tmp, "model-f32.gguf")
        again = os.path.join(tmp, "model-requant.gguf")
        run([a.dsinfer, "quantize", "-m", model, "--out", f32, "--type", "f32", "--mla", a.mla, "-q"])
        run([a.dsinfer, "quantize", "-m", f32, "--out", again, "--type", a.type, "--mla", a.mla, "-q",
             "--name", "model"])
        if not filecmp.cmp(gguf, again, shallow=False):
            print("FAIL: requantising the F32 GGUF gives other bytes than quantising the HF model")
            return 1
    with open(os.path.join(model, "config.json")) as f:
        vocab = json.load(f)["vocab_size"]
    rng = np.random.default_rng(a.seed + 1000)
    tokens = ",".join(str(t) for t in rng.integers(0, vocab, a.n_tokens))

    def logits(m, name):
        out = os.path.join(tmp, name)
        gen = json.loads(run([a.dsinfer, "logits", "-m", m, "--tokens", tokens, "--out", out, "--gen",
                              str(a.gen), "-t", str(a.threads)]).strip().splitlines()[-1])
        return np.fromfile(out, dtype="<f4").reshape(a.n_tokens, vocab).astype(np.float64), gen

    ref, ref_gen = logits(model, "hf.bin")
    eng, eng_gen = logits(gguf, "gguf.bin")
    d = np.abs(ref - eng)
    med = np.median(np.median(d, axis=1))
    top1 = float(np.mean(ref.argmax(axis=1) == eng.argmax(axis=1)))
    print(f"{a.preset} {a.type} mla={a.mla}: max|Δ| {d.max():.3e}  median |Δ| {med:.3e}  "
          f"top-1 agreement {top1:.3f}  greedy equal {eng_gen == ref_gen}")
    ok = True
    if a.max_abs is not None:
        if not d.max() <= a.max_abs:
            print(f"FAIL: max |Δlogit| {d.max():.3e} > {a.max_abs:g}")
            ok = False
        if eng_gen != ref_gen:
            print(f"FAIL: greedy decode differs\n  gguf {eng_gen}\n  hf   {ref_gen}")
            ok = False
    if a.max_median is not None and not med <= a.max_median:
        print(f"FAIL: median |Δlogit| {med:.3e} > {a.max_median:g}")
        ok = False
    if a.min_top1 is not None and not top1 >= a.min_top1:
        print(f"FAIL: top-1 agreement {top1:.3f} < {a.min_top1:g}")
        ok = False
    return 0 if ok else 1


def tokenizer_mode(a, tmp):
    model = os.path.join(tmp, "model")
    make_model(model, "v3-tiny", a.seed, ["--layers", "1", "--set", "vocab_size=129280"])
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(TOKDIR, f), model)
    gguf = os.path.join(tmp, "model.gguf")
    run([a.dsinfer, "quantize", "-m", model, "--out", gguf, "--type", "q8_0", "-q"])
    vectors = os.path.join(ROOT, "tests", "data", "tokenizer", "deepseek-v3-vectors.jsonl")
    for add_bos in ([], ["--add-bos"]):
        hf = run([a.dsinfer, "tokenize", "--tokenizer", model, "--jsonl", vectors] + add_bos).splitlines()
        gg = run([a.dsinfer, "tokenize", "--tokenizer", gguf, "--jsonl", vectors] + add_bos).splitlines()
        if len(hf) != len(gg) or len(hf) < 100:
            print(f"FAIL: {len(hf)} lines from tokenizer.json, {len(gg)} from the GGUF")
            return 1
        bad = [i for i in range(len(hf)) if hf[i] != gg[i]]
        if bad:
            print(f"FAIL: {len(bad)} of {len(hf)} texts differ{' with BOS' if add_bos else ''}, e.g. line {bad[0]}:"
                  f"\n  tokenizer.json {hf[bad[0]][:200]}\n  gguf           {gg[bad[0]][:200]}")
            return 1
        print(f"{len(hf)} texts{' with BOS' if add_bos else ''}: same ids")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dsinfer", required=True)
    ap.add_argument("--mode", choices=["logits", "tokenizer"], default="logits")
    ap.add_argument("--preset", default="v3-tiny")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--sharp", action="store_true")
    ap.add_argument("--type", default="f32")
    ap.add_argument("--mla", choices=["split", "kv_b"], default="split")
    ap.add_argument("--requant", action="store_true")
    ap.add_argument("--n-tokens", type=int, default=24)
    ap.add_argument("--gen", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--isa", default="", help="force a kernel table (DSINFER_ISA); 77 if unsupported")
    ap.add_argument("--max-abs", type=float, default=None)
    ap.add_argument("--max-median", type=float, default=None)
    ap.add_argument("--min-top1", type=float, default=None)
    a = ap.parse_args()
    if a.isa:
        probe = subprocess.run([a.dsinfer, "version", "--isa", a.isa], capture_output=True, text=True)
        if probe.returncode != 0:
            print(f"SKIP: {a.isa} kernels unavailable on this CPU: {probe.stderr.strip()}")
            return 77
        os.environ["DSINFER_ISA"] = a.isa  # every dsinfer command below runs on that table
    with tempfile.TemporaryDirectory(prefix="dsinfer-gguf-") as tmp:
        return logits_mode(a, tmp) if a.mode == "logits" else tokenizer_mode(a, tmp)


if __name__ == "__main__":
    sys.exit(main())

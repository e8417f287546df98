#!/usr/bin/env python3
"""The shipped model: dsinfer against the PyTorch training code, logit for logit.

PyTorch (tools/train/export_logits.py, float32 math on the BF16 weights) and dsinfer (float32
math on the same weights) must agree on every position's logits, main model and MTP module,
within 1e-3 max |Δ| (measured: ~2.4e-5; the two sum in different orders), with the same argmax.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, "models", "tiny-r1")
TEXT = ("<｜begin▁of▁sentence｜><｜User｜>What is 347 + 589?<｜Assistant｜><think>\n"
        "Add 347+589 from the right.\n7+9+0=16, carry 1, so far 6.\n4+8+1=13, carry 1, so far 36.\n")
TOL = 1e-3


def main():
    dsinfer = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="dsinfer-shipped-") as tmp:
        text = os.path.join(tmp, "prompt.txt")
        with open(text, "w", encoding="utf-8") as f:
            f.write(TEXT)
        ids = subprocess.run([dsinfer, "tokenize", "--tokenizer", MODEL, "--file", text], check=True,
                             capture_output=True, text=True).stdout.strip()
        tokens = ids.strip("[]").replace(" ", "")
        out = {k: os.path.join(tmp, k + ".bin") for k in ("pt", "ptm", "ds", "dsm")}
        env = dict(os.environ, OMP_NUM_THREADS="1")
        subprocess.run([sys.executable, os.path.join(ROOT, "tools", "train", "export_logits.py"), "--model", MODEL,
                        "--tokens", tokens, "--out", out["pt"], "--mtp-out", out["ptm"]], check=True,
                       capture_output=True, env=env)
        subprocess.run([dsinfer, "logits", "-m", MODEL, "--cache-type", "f32", "--tokens", tokens, "--out", out["ds"], "--mtp-out",
                        out["dsm"]], check=True, capture_output=True)
        ok = True
        for name, a, b in (("main", "pt", "ds"), ("MTP", "ptm", "dsm")):
            x = np.fromfile(out[a], "<f4").reshape(-1, 768).astype(np.float64)
            y = np.fromfile(out[b], "<f4").reshape(-1, 768).astype(np.float64)
            d = np.abs(x - y).max()
            same = (x.argmax(1) == y.argmax(1)).all()
            print(f"{name}: {x.shape[0]} positions, max |Δlogit| {d:.2e}, argmax {'identical' if same else 'DIFFERS'}")
            ok &= bool(d <= TOL and same)
    print("1 passed, 0 failed" if ok else "0 passed, 1 failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

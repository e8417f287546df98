"""Write the PyTorch model's logits for a token sequence, for comparison with the
engine. Weights are read from the exported BF16 model.safetensors and the
forward pass runs in float32 (one sequence, positions 0..n-1, no cache).

Output: raw little-endian float32, shape [n, vocab] row-major (no header).
With --mtp-out also writes the MTP module's draft logits, shape [n-1, vocab]:
row i is the draft for token i+2 given the main hidden state at i and token i+1.

Usage:
  /usr/bin/python3 tools/train/export_logits.py --model models/tiny-r1 --tokens 0,5,6,7 --out f.bin
  /usr/bin/python3 tools/train/export_logits.py --model models/tiny-r1 --text "What is 12+34?" --chat --out f.bin
"""
import argparse
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import hf_io  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokens", help="comma-separated token ids")
    ap.add_argument("--text", help="text to tokenize instead of --tokens")
    ap.add_argument("--chat", action="store_true", help="wrap --text as one user turn with the chat template")
    ap.add_argument("--out", required=True)
    ap.add_argument("--mtp-out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)

    if args.tokens:
        ids = [int(x) for x in args.tokens.split(",") if x.strip()]
    else:
        import data
        import tokenizer as tk
        tok = tk.Tokenizer.load(os.path.join(args.model, "tokenizer.json"))
        text = data.render_prompt(args.text) if args.chat else args.text
        ids = tok.encode(text)
        print("tokens:", ",".join(map(str, ids)))
    model = hf_io.load_hf(args.model)
    with torch.no_grad():
        logits, mtp = model(torch.tensor([ids]), mtp=args.mtp_out is not None and len(ids) > 1)
    arr = logits[0].float().numpy().astype("<f4")
    arr.tofile(args.out)
    print(f"wrote {args.out}: [{arr.shape[0]}, {arr.shape[1]}] float32; argmax {arr.argmax(-1).tolist()}")
    if args.mtp_out:
        m = mtp[0].float().numpy().astype("<f4") if mtp is not None else np.zeros((0, arr.shape[1]), "<f4")
        m.tofile(args.mtp_out)
        print(f"wrote {args.mtp_out}: [{m.shape[0]}, {m.shape[1]}] float32")


if __name__ == "__main__":
    main()

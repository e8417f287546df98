"""Cross-check the Python tokenizer and chat-template rendering against the
Hugging Face JS implementation (@huggingface/transformers).

Setup (outside the repo):  mkdir -p /tmp/jstok && cd /tmp/jstok &&
    npm install --ignore-scripts @huggingface/transformers
Usage: /usr/bin/python3 tools/train/verify_tokenizer.py --model models/tiny-r1 --js-dir /tmp/jstok
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import data  # noqa: E402
import tokenizer as tk  # noqa: E402

EXTRA = ["Hello  world\n\n\n  x", "a\tb\r\nc  ", "1234567 89,012.5!!", "don't STOP—now… 你好世界 カタカナ ひらがな",
         "  leading", "trailing  ", "x\n \n y", "über café naïve", "emoji 😀 test", "A.B?C!D", "((a)) [b] {c}",
         "$5 + 6% = ?", "tab\t\tend", "a  \n", "’quote’ «x»"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/tiny-r1")
    ap.add_argument("--js-dir", default="/tmp/jstok")
    ap.add_argument("--n", type=int, default=300)
    args = ap.parse_args()
    model = os.path.abspath(args.model)
    held = [json.loads(l) for l in open(os.path.join(model, "eval", "heldout.jsonl"), encoding="utf-8")]
    cases = [{"question": h["question"], "text": data.render_prompt(h["question"]) + h["completion"]} for h in held]
    s = data.training_stream(7, set())
    for _ in range(args.n):
        _, p, c = next(s)
        q = p[len(tk.BOS + tk.USER):p.index(tk.ASSISTANT)]
        cases.append({"question": q, "text": p + c})
    cases += [{"question": e, "text": e} for e in EXTRA]
    cpath = os.path.join(args.js_dir, "cases.json")
    opath = os.path.join(args.js_dir, "js_out.json")
    json.dump(cases, open(cpath, "w"))
    shutil.copy(os.path.join(HERE, "js", "check_tokenizer.mjs"), os.path.join(args.js_dir, "check.mjs"))
    subprocess.run(["node", "check.mjs", model, cpath, opath], cwd=args.js_dir, check=True)
    js = json.load(open(opath))
    tok = tk.Tokenizer.load(os.path.join(model, "tokenizer.json"))
    bad_ids = sum(tok.encode(c["text"]) != j["ids"] for c, j in zip(cases, js))
    bad_prompt = sum(data.render_prompt(c["question"]) != j["prompt"] for c, j in zip(cases, js))
    print(f"cases {len(cases)}: token-id mismatches {bad_ids}, chat-template mismatches {bad_prompt}")
    sys.exit(1 if bad_ids or bad_prompt else 0)


if __name__ == "__main__":
    main()

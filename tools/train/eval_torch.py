"""Greedy evaluation of the exported model (BF16 weights, computed in float32) on
the held-out set.

Reports exact-answer accuracy per task family, the share of well-formed think
blocks, and MTP acceptance: how often the MTP module's draft for token i+2
(from the main model's hidden state at i and token i+1) equals the token the
main model actually produced there greedily.

Usage:
  /usr/bin/python3 tools/train/eval_torch.py --model models/tiny-r1 [--limit N] [--json out.json]
"""
import argparse
import json
import os
import re
import sys
import time
from collections import defaultdict

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import data  # noqa: E402
import hf_io  # noqa: E402
import tokenizer as tk  # noqa: E402

ANSWER_RE = re.compile(r"The answer is (.+)\.$")


def parse_completion(text):
    """text = generated continuation of the prompt (which ends with '<think>\\n').
    Returns (well_formed, answer or None)."""
    eos = text.endswith(tk.EOS)
    body = text[:-len(tk.EOS)] if eos else text
    well = eos and body.count(tk.END_THINK) == 1 and tk.THINK not in body
    ans = None
    if tk.END_THINK in body:
        reasoning, after = body.split(tk.END_THINK, 1)
        well = well and reasoning.endswith("\n") and len(reasoning.strip()) > 0 and after.startswith("\n\n")
        m = ANSWER_RE.search(after.strip())
        if m:
            ans = m.group(1)
    else:
        well = False
    return well, ans


@torch.no_grad()
def generate(model, prompts, eos_id, max_new=220, batch=64):
    """Greedy decode; prompts: list of token lists. Returns list of generated ids
    (up to and including EOS)."""
    out = [None] * len(prompts)
    by_len = defaultdict(list)
    for i, p in enumerate(prompts):
        by_len[len(p)].append(i)
    for n, idxs in sorted(by_len.items()):
        for b0 in range(0, len(idxs), batch):
            bi = idxs[b0:b0 + batch]
            ids = torch.tensor([prompts[i] for i in bi])
            caches = [dict() for _ in range(model.L)]
            logits, _ = model.step(ids, caches, 0)
            nxt = logits[:, -1].argmax(-1)
            gen = [[] for _ in bi]
            done = torch.zeros(len(bi), dtype=torch.bool)
            pos = n
            for _ in range(max_new):
                for j in range(len(bi)):
                    if not done[j]:
                        gen[j].append(int(nxt[j]))
                done |= nxt == eos_id
                if bool(done.all()):
                    break
                logits, _ = model.step(nxt[:, None], caches, pos)
                pos += 1
                nxt = logits[:, -1].argmax(-1)
            for j, i in enumerate(bi):
                out[i] = gen[j]
    return out


@torch.no_grad()
def mtp_acceptance(model, prompts, gens, batch=32):
    """Teacher-force prompt+greedy output; compare argmax of MTP logits at i with the
    token at i+2 for every i+2 inside the generated part."""
    hit = tot = 0
    seqs = [p + g for p, g in zip(prompts, gens)]
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    for b0 in range(0, len(order), batch):
        bi = order[b0:b0 + batch]
        T = max(len(seqs[i]) for i in bi)
        ids = torch.zeros(len(bi), T, dtype=torch.long)
        for j, i in enumerate(bi):
            ids[j, :len(seqs[i])] = torch.tensor(seqs[i])
        _, mtp = model(ids, mtp=True)
        draft = mtp.argmax(-1)  # [B, T-1]: draft for position i+2
        for j, i in enumerate(bi):
            n, pl = len(seqs[i]), len(prompts[i])
            for t in range(max(pl, 2), n):  # target position t = i + 2
                hit += int(draft[j, t - 2] == ids[j, t])
                tot += 1
    return hit / max(tot, 1), tot


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/tiny-r1")
    ap.add_argument("--heldout", default=None)
    ap.add_argument("--limit", type=int, default=0, help="max problems per family (0 = all)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    ap.add_argument("--show", type=int, default=1, help="print N examples per family")
    ap.add_argument("--dump", default=None,
                    help="write each problem with PyTorch's greedy output as its 'completion' (JSONL), "
                         "for `dsinfer eval --heldout` to check the engine generates the same text")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    model = hf_io.load_hf(args.model)
    tok = tk.Tokenizer.load(os.path.join(args.model, "tokenizer.json"))
    eos_id = tok.added_map[tk.EOS]
    path = args.heldout or os.path.join(args.model, "eval", "heldout.jsonl")
    probs = [json.loads(l) for l in open(path, encoding="utf-8")]
    if args.limit:
        cnt = defaultdict(int)
        keep = []
        for p in probs:
            if cnt[p["family"]] < args.limit:
                keep.append(p)
                cnt[p["family"]] += 1
        probs = keep
    t0 = time.time()
    prompts = [tok.encode(data.render_prompt(p["question"])) for p in probs]
    gens = generate(model, prompts, eos_id)
    t_gen = time.time() - t0
    acc = defaultdict(lambda: [0, 0])
    well_n = 0
    shown = defaultdict(int)
    for p, g in zip(probs, gens):
        text = tok.decode(g)
        well, ans = parse_completion(text)
        well_n += well
        ok = ans == p["answer"]
        acc[p["family"]][0] += ok
        acc[p["family"]][1] += 1
        if shown[p["family"]] < args.show or (not ok and shown[p["family"]] < args.show + 1):
            shown[p["family"]] += 1
            print(f"--- [{p['family']}] {'OK' if ok else 'WRONG'} (expected {p['answer']})\n"
                  f"{p['question']}\n{text}")
    if args.dump:
        with open(args.dump, "w", encoding="utf-8") as f:
            for p, g in zip(probs, gens):
                f.write(json.dumps({"family": p["family"], "question": p["question"], "answer": p["answer"],
                                    "completion": tok.decode(g)}, ensure_ascii=False) + "\n")
    mtp_acc, mtp_n = mtp_acceptance(model, prompts, gens)
    res = {
        "accuracy": {f: round(a / n, 4) for f, (a, n) in acc.items()},
        "counts": {f: n for f, (a, n) in acc.items()},
        "overall": round(sum(a for a, n in acc.values()) / len(probs), 4),
        "well_formed_think": round(well_n / len(probs), 4),
        "mtp_acceptance": round(mtp_acc, 4),
        "mtp_positions": mtp_n,
        "generated_tokens": sum(len(g) for g in gens),
        "seconds": round(time.time() - t0, 1),
        "generation_seconds": round(t_gen, 1),
    }
    print(json.dumps(res, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()

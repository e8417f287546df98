"""Train the tiny DeepSeek-V3 (R1-style reasoning) model on CPU.

Steps: build the held-out set, train the BPE tokenizer on generated training
text, then train the model with the main loss + lambda * MTP loss, updating the
MoE correction biases after every step (auxiliary-loss-free balancing), and
export a HF directory (config.json, model.safetensors, tokenizer files).

Usage (the shipped model):
  nice -n 5 /usr/bin/python3 tools/train/train.py --out models/tiny-r1 --minutes 40
"""
import argparse
import json
import math
import os
import random
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import data  # noqa: E402
import hf_io  # noqa: E402
import tokenizer as tk  # noqa: E402
from model import DeepseekV3, count_params  # noqa: E402


def write_tokenizer_files(tok, out_dir):
    with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok.to_hf_json(), f, ensure_ascii=False, indent=2)
        f.write("\n")
    r1 = json.load(open(data.R1_TOKENIZER_CONFIG, encoding="utf-8"))
    cfg = {
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": r1["bos_token"],
        "clean_up_tokenization_spaces": False,
        "eos_token": r1["eos_token"],
        "legacy": True,
        "model_max_length": 4096,
        "pad_token": r1["pad_token"],
        "sp_model_kwargs": {},
        "unk_token": None,
        "tokenizer_class": "LlamaTokenizerFast",
        "chat_template": r1["chat_template"],
    }
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, ensure_ascii=False, indent=2)
        f.write("\n")
    gen = {"_from_model_config": True, "bos_token_id": 0, "eos_token_id": 1,
           "do_sample": False, "transformers_version": "4.33.1"}
    with open(os.path.join(out_dir, "generation_config.json"), "w") as f:
        json.dump(gen, f, indent=2)
        f.write("\n")


class Packer:
    """Packs tokenized examples into rows of length T; each example keeps its own
    positions (from 0) and document id."""

    def __init__(self, tok, stream, T):
        self.tok, self.stream, self.T = tok, stream, T
        self.pending = None
        self.pad = tok.added_map[tk.PAD]

    def next_example(self):
        if self.pending is not None:
            ex, self.pending = self.pending, None
            return ex
        fam, prompt, comp = next(self.stream)
        p = self.tok.encode(prompt)
        c = self.tok.encode(comp)
        return p + c, [0] * len(p) + [1] * len(c)

    def row(self):
        ids, doc, pos, comp = [], [], [], []
        d = 0
        while True:
            ex = self.next_example()
            n = len(ex[0])
            if n > self.T:
                continue
            if len(ids) + n > self.T:
                self.pending = ex
                break
            ids += ex[0]
            comp += ex[1]
            pos += list(range(n))
            doc += [d] * n
            d += 1
        k = self.T - len(ids)
        ids += [self.pad] * k
        comp += [0] * k
        pos += [0] * k
        doc += list(range(-1, -k - 1, -1))  # each pad its own doc
        return ids, doc, pos, comp

    def batch(self, B):
        rows = [self.row() for _ in range(B)]
        return [torch.tensor([r[i] for r in rows]) for i in range(4)]


def lr_at(progress, peak, warm_frac=0.03, floor=0.1):
    if progress < warm_frac:
        return peak * progress / warm_frac
    p = (progress - warm_frac) / (1 - warm_frac)
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(p, 1.0))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="models/tiny-r1")
    ap.add_argument("--run-dir", default=os.path.join(HERE, "runs", "tiny-r1"))
    ap.add_argument("--vocab", type=int, default=768)
    ap.add_argument("--minutes", type=float, default=40.0, help="wall-clock training budget")
    ap.add_argument("--max-steps", type=int, default=100000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=176)
    ap.add_argument("--lr", type=float, default=2.5e-3)
    ap.add_argument("--wd", type=float, default=0.05)
    ap.add_argument("--mtp-lambda", type=float, default=0.3)
    ap.add_argument("--bias-gamma", type=float, default=0.002)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--experts", type=int, default=8)
    ap.add_argument("--topk", type=int, default=2)
    ap.add_argument("--moe-inter", type=int, default=128)
    ap.add_argument("--inter", type=int, default=512)
    ap.add_argument("--ckpt-every", type=float, default=5.0, help="minutes between checkpoints")
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.run_dir, exist_ok=True)
    eval_dir = os.path.join(args.out, "eval")
    os.makedirs(eval_dir, exist_ok=True)

    # 1. held-out set (deterministic), excluded from training by exact question string
    held = data.heldout_set()
    with open(os.path.join(eval_dir, "heldout.jsonl"), "w", encoding="utf-8") as f:
        for ex in held:
            f.write(json.dumps(ex, ensure_ascii=False) + "\n")
    exclude = {ex["question"] for ex in held}
    print(f"held-out: {len(held)} problems", flush=True)

    # 2. tokenizer trained on generated training text (own seed, same distribution)
    t0 = time.time()
    tok_path = os.path.join(args.out, "tokenizer.json")
    if args.resume and os.path.exists(tok_path):
        tok = tk.Tokenizer.load(tok_path)
    else:
        s = data.training_stream(10_000 + args.seed, exclude)
        texts = [p + c for _, p, c in (next(s) for _ in range(6000))]
        merges = tk.train_bpe(texts, args.vocab)
        tok = tk.Tokenizer.build(merges)
        write_tokenizer_files(tok, args.out)
    V = tok.size
    print(f"tokenizer: vocab {V}, {len(tok.merges)} merges, {time.time() - t0:.1f}s", flush=True)

    cfg = hf_io.make_config(V, hidden=args.hidden, layers=args.layers, heads=args.heads,
                            experts=args.experts, topk=args.topk, moe_inter=args.moe_inter,
                            inter=args.inter)
    model = DeepseekV3(cfg)
    model.init_weights()
    # tie the MTP module's head/embedding to the main model's (as the doc requires)
    print(f"params: {count_params(model) / 1e6:.2f}M (+ MTP copies of embed/head at export)", flush=True)

    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if p.dim() < 2 or "norm" in n else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)

    step, elapsed_prev = 0, 0.0
    log_path = os.path.join(args.run_dir, "loss.jsonl")
    ck_path = os.path.join(args.run_dir, "ckpt.pt")
    if args.resume and os.path.exists(ck_path):
        ck = torch.load(ck_path)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, elapsed_prev = ck["step"], ck["elapsed"]
        random.seed(ck["step"])
        # drop log records written after this checkpoint
        recs = [l for l in open(log_path) if json.loads(l)["step"] <= step] if os.path.exists(log_path) else []
        with open(log_path, "w") as f:
            f.writelines(recs)
        print(f"resumed at step {step} ({elapsed_prev / 60:.1f} min elapsed)", flush=True)
    else:
        open(log_path, "w").close()

    stream = data.training_stream(args.seed + 1000 * step, exclude)
    packer = Packer(tok, stream, args.seq)
    budget = args.minutes * 60
    t_start = time.time() - elapsed_prev
    last_ck = time.time()
    moes = model.moe_layers()
    ema = None
    while True:
        elapsed = time.time() - t_start
        progress = max(step / args.max_steps, elapsed / budget)
        if progress >= 1.0:
            break
        lr = lr_at(progress, args.lr)
        for g in opt.param_groups:
            g["lr"] = lr
        ids, doc, pos, comp = packer.batch(args.batch)
        valid = doc >= 0
        model.train()
        logits, mtp_logits = model(ids, doc, pos, valid, mtp=True)
        same1 = doc[:, 1:] == doc[:, :-1]
        m1 = (comp[:, 1:] == 1) & same1
        lm = F.cross_entropy(logits[:, :-1][m1], ids[:, 1:][m1])
        same2 = (doc[:, 2:] == doc[:, :-2])
        m2 = (comp[:, 2:] == 1) & same2
        lmtp = F.cross_entropy(mtp_logits[:, :-1][m2], ids[:, 2:][m2])
        loss = lm + args.mtp_lambda * lmtp
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        # auxiliary-loss-free balancing: b_i += gamma * sign(mean load - load_i)
        with torch.no_grad():
            maxvio = 0.0
            for moe in moes:
                load = moe.last_load
                moe.gate.e_score_correction_bias += args.bias_gamma * torch.sign(load.mean() - load)
                maxvio = max(maxvio, float((load.max() - load.mean()) / load.mean()))
        step += 1
        ema = lm.item() if ema is None else 0.95 * ema + 0.05 * lm.item()
        rec = {"step": step, "time": round(time.time() - t_start, 1), "lr": lr, "loss": round(lm.item(), 4),
               "mtp_loss": round(lmtp.item(), 4), "gnorm": round(float(gn), 3), "maxvio": round(maxvio, 3),
               "tokens": int(m1.sum())}
        with open(log_path, "a") as f:
            f.write(json.dumps(rec) + "\n")
        if step % 10 == 0 or step == 1:
            print(f"step {step} t={rec['time']:.0f}s lr={lr:.2e} loss={lm.item():.4f} (ema {ema:.4f}) "
                  f"mtp={lmtp.item():.4f} gn={float(gn):.2f} maxvio={maxvio:.2f}", flush=True)
        if time.time() - last_ck > args.ckpt_every * 60:
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                        "elapsed": time.time() - t_start}, ck_path + ".tmp")
            os.replace(ck_path + ".tmp", ck_path)
            hf_io.export_hf(model, args.out)
            last_ck = time.time()
            print(f"checkpoint at step {step}", flush=True)

    total = time.time() - t_start
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "elapsed": total},
               ck_path)
    hf_io.export_hf(model, args.out)
    with open(os.path.join(args.run_dir, "summary.json"), "w") as f:
        json.dump({"steps": step, "train_seconds": round(total, 1), "args": vars(args)}, f, indent=2)
    print(f"done: {step} steps in {total / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()

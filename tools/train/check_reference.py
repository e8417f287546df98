"""Independent float64 NumPy implementation of the forward pass, written from
/work/shared/docs/deepseek-architecture.md in the ABSORBED attention form with a
per-token decode loop and per-token sparse MoE routing, reading the checkpoint
tensors by their HF names (including the MTP copies of embedding/head). Compares
its logits (and MTP draft logits) with the PyTorch training model.

Usage: /usr/bin/python3 tools/train/check_reference.py --model models/tiny-r1 [--tokens 0,5,...]
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import hf_io  # noqa: E402


class Ref:
    def __init__(self, model_dir):
        self.c = json.load(open(os.path.join(model_dir, "config.json")))
        self.W = {k: v.double().numpy() for k, v in
                  hf_io.load_safetensors(os.path.join(model_dir, "model.safetensors")).items()}
        c = self.c
        dr = c["qk_rope_head_dim"]
        theta = c["rope_theta"]
        j = np.arange(dr // 2)
        om = theta ** (-2.0 * j / dr)
        rs = c.get("rope_scaling")
        self.m = 1.0
        self.cs_scale = 1.0
        if rs and rs["type"] == "yarn" and rs["factor"] > 1:
            f, L0 = rs["factor"], rs["original_max_position_embeddings"]
            corr = lambda r: dr * math.log(L0 / (2 * math.pi * r)) / (2 * math.log(theta))  # noqa: E731
            low = max(math.floor(corr(rs["beta_fast"])), 0)
            high = min(math.ceil(corr(rs["beta_slow"])), dr - 1)
            if low == high:
                high += 0.001
            ramp = np.clip((j - low) / (high - low), 0, 1)
            om = (1 - ramp) * om + ramp * om / f
            ms = lambda s, m: 0.1 * m * math.log(s) + 1 if s > 1 else 1.0  # noqa: E731
            self.m = ms(f, rs["mscale_all_dim"])
            self.cs_scale = ms(f, rs["mscale"]) / ms(f, rs["mscale_all_dim"])
        self.omega = om.astype(np.float32)
        self.scale = (c["qk_nope_head_dim"] + dr) ** -0.5 * self.m ** 2

    def rms(self, x, w):
        return x / np.sqrt(np.mean(x * x) + self.c["rms_norm_eps"]) * w

    def rope(self, x, p):
        ang = (np.float32(p) * self.omega).astype(np.float64)
        cos, sin = np.cos(ang) * self.cs_scale, np.sin(ang) * self.cs_scale
        y = np.empty_like(x)
        y[..., 0::2] = x[..., 0::2] * cos - x[..., 1::2] * sin
        y[..., 1::2] = x[..., 0::2] * sin + x[..., 1::2] * cos
        return y

    def attn(self, pre, x, p, cache):
        c, W = self.c, self.W
        H, dn, dr, dv, rkv = (c["num_attention_heads"], c["qk_nope_head_dim"], c["qk_rope_head_dim"],
                              c["v_head_dim"], c["kv_lora_rank"])
        qa = W[pre + "q_a_proj.weight"] @ x
        q = W[pre + "q_b_proj.weight"] @ self.rms(qa, W[pre + "q_a_layernorm.weight"])
        q = q.reshape(H, dn + dr)
        q_nope, q_pe = q[:, :dn], self.rope(q[:, dn:], p)
        kv = W[pre + "kv_a_proj_with_mqa.weight"] @ x
        cache.append((self.rms(kv[:rkv], W[pre + "kv_a_layernorm.weight"]), self.rope(kv[rkv:], p)))
        C = np.stack([a for a, _ in cache])  # [t, rkv]
        KP = np.stack([b for _, b in cache])  # [t, dr]
        Wkvb = W[pre + "kv_b_proj.weight"].reshape(H, dn + dv, rkv)
        o = []
        for h in range(H):
            qt = q_nope[h] @ Wkvb[h, :dn]  # [rkv]
            s = self.scale * (C @ qt + KP @ q_pe[h])
            s = np.exp(s - s.max())
            s /= s.sum()
            u = s @ C
            o.append(Wkvb[h, dn:] @ u)
        return W[pre + "o_proj.weight"] @ np.concatenate(o)

    def mlp(self, pre, x):
        W = self.W
        g = W[pre + "gate_proj.weight"] @ x
        return W[pre + "down_proj.weight"] @ (g / (1 + np.exp(-g)) * (W[pre + "up_proj.weight"] @ x))

    def moe(self, pre, x):
        c, W = self.c, self.W
        s = 1 / (1 + np.exp(-(W[pre + "gate.weight"] @ x)))
        sel = s + W[pre + "gate.e_score_correction_bias"]
        E, G, TG, K = c["n_routed_experts"], c["n_group"], c["topk_group"], c["num_experts_per_tok"]
        gs = np.sort(sel.reshape(G, E // G), axis=1)[:, -2:].sum(1)
        keep = np.argsort(-gs, kind="stable")[:TG]
        masked = np.full(E, -np.inf)
        for g in keep:
            masked[g * (E // G):(g + 1) * (E // G)] = sel[g * (E // G):(g + 1) * (E // G)]
        idx = np.argsort(-masked, kind="stable")[:K]
        w = s[idx]
        if c["norm_topk_prob"]:
            w = w / (w.sum() + 1e-20)
        w = w * c["routed_scaling_factor"]
        y = sum(wk * self.mlp(f"{pre}experts.{e}.", x) for wk, e in zip(w, idx))
        return y + self.mlp(pre + "shared_experts.", x)

    def layer(self, i, h, p, cache):
        W = self.W
        pre = f"model.layers.{i}."
        h = h + self.attn(pre + "self_attn.", self.rms(h, W[pre + "input_layernorm.weight"]), p, cache)
        x = self.rms(h, W[pre + "post_attention_layernorm.weight"])
        if i >= self.c["first_k_dense_replace"]:
            return h + self.moe(pre + "mlp.", x)
        return h + self.mlp(pre + "mlp.", x)

    def run(self, ids):
        c, W = self.c, self.W
        L = c["num_hidden_layers"]
        caches = [[] for _ in range(L + 1)]
        logits, mtp = [], []
        hs = []
        for p, t in enumerate(ids):
            h = W["model.embed_tokens.weight"][t]
            for i in range(L):
                h = self.layer(i, h, p, caches[i])
            hn = self.rms(h, W["model.norm.weight"])
            hs.append(hn)
            logits.append(W["lm_head.weight"] @ hn)
        pre = f"model.layers.{L}."
        for p in range(len(ids) - 1):
            e = self.rms(W[pre + "embed_tokens.weight"][ids[p + 1]], W[pre + "enorm.weight"])
            g = self.rms(hs[p], W[pre + "hnorm.weight"])
            u = W[pre + "eh_proj.weight"] @ np.concatenate([e, g])
            y = self.layer(L, u, p, caches[L])
            mtp.append(W[pre + "shared_head.head.weight"] @ self.rms(y, W[pre + "shared_head.norm.weight"]))
        return np.array(logits), np.array(mtp)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/tiny-r1")
    ap.add_argument("--tokens", default=None)
    args = ap.parse_args()
    ref = Ref(args.model)
    if args.tokens:
        ids = [int(x) for x in args.tokens.split(",")]
    else:
        rng = np.random.default_rng(0)
        ids = [0] + rng.integers(3, ref.c["vocab_size"], 40).tolist()
    rl, rm = ref.run(ids)
    model = hf_io.load_hf(args.model)
    with torch.no_grad():
        tl, tm = model(torch.tensor([ids]), mtp=True)
    tl, tm = tl[0].double().numpy(), tm[0].double().numpy()
    d1, d2 = np.abs(rl - tl).max(), np.abs(rm - tm).max()
    print(f"tokens {len(ids)}; max |dlogit| main {d1:.2e}, mtp {d2:.2e}; "
          f"argmax agree main {np.mean(rl.argmax(-1) == tl.argmax(-1)):.3f} mtp {np.mean(rm.argmax(-1) == tm.argmax(-1)):.3f}; "
          f"logit scale {np.abs(rl).max():.2f}")
    ok = d1 < 1e-3 and d2 < 1e-3
    print("OK" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

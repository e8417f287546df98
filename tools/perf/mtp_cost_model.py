#!/usr/bin/env python3
"""Bytes of weights read per generated token with MTP speculative decoding, by draft count.

Decode on a CPU is bound by how fast weights stream from memory. Verifying k drafts runs
k+1 tokens through the main model in one pass: dense weights are read once, but the tokens
route to different experts, so a MoE layer reads the union of their experts. Drafting runs
the MTP module (one MoE decoder layer plus its vocabulary head) once per draft. A step
yields 1 + a1 + a1*a2 + ... tokens on average when draft i is accepted with probability a_i
given the previous ones were: a1 = a, and a * CHAIN for every chained draft after the first
(the module is trained one step ahead; the shipped model accepts 99.5% of first drafts and
46% of second ones). src/runtime/mtp_policy.cpp is the same model in C++.

  bytes/token(k) = [dense + sum_moe_layers(shared + E_distinct(k+1) * expert)
                    + k * (mtp_layer + head)] / (1 + a1 + a1*a2 + ...)
  E_distinct(m) = E * (1 - (1 - K/E)^m)   (independent routing of m tokens, K of E experts)

Usage: mtp_cost_model.py CONFIG.json [--bits 8] [--head-bits 16] [--accept 0.85]
"""
import argparse
import json

CHAIN = 0.5  # kChainedDraftFactor in src/runtime/mtp_policy.h


def layer_bytes(c, bits):
    D, H = c["hidden_size"], c["num_attention_heads"]
    rq, rkv = c.get("q_lora_rank") or 0, c["kv_lora_rank"]
    dn, dr, dv = c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"]
    q = D * rq + rq * H * (dn + dr) if rq else D * H * (dn + dr)
    attn = q + D * (rkv + dr) + rkv * H * (dn + dv) + H * dv * D
    expert = 3 * D * c["moe_intermediate_size"]
    shared = c.get("n_shared_experts", 0) * expert
    dense_mlp = 3 * D * c["intermediate_size"]
    b = bits / 8
    return attn * b, expert * b, shared * b, dense_mlp * b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--bits", type=float, default=8.0, help="bits per weight of the layers (FP8: 8, Q4_K: 4.5)")
    ap.add_argument("--head-bits", type=float, default=16.0, help="bits per weight of the vocabulary head")
    ap.add_argument("--accept", type=float, default=0.85, help="acceptance of the first draft")
    ap.add_argument("--max-draft", type=int, default=4)
    a = ap.parse_args()
    with open(a.config) as f:
        c = json.load(f)
    c = c.get("text_config", c)
    L, E, K = c["num_hidden_layers"], c["n_routed_experts"], c["num_experts_per_tok"]
    dense_layers = c.get("first_k_dense_replace", 0)
    attn, expert, shared, dense_mlp = layer_bytes(c, a.bits)
    head = c["vocab_size"] * c["hidden_size"] * a.head_bits / 8
    mtp_layer = attn + shared + K * expert + 2 * c["hidden_size"] ** 2 * a.bits / 8  # + eh_proj
    print(f"{'drafts':>6} {'GB read/step':>13} {'tokens/step':>12} {'GB/token':>9} {'speed-up':>9}")
    base = None
    for k in range(a.max_draft + 1):
        m = k + 1
        distinct = E * (1 - (1 - K / E) ** m)
        main_pass = dense_layers * (attn + dense_mlp) + (L - dense_layers) * (attn + shared + distinct * expert) + head
        step = main_pass + k * (mtp_layer + head)
        tokens, p = 1.0, 1.0
        for i in range(1, m):
            p *= a.accept if i == 1 else a.accept * CHAIN
            tokens += p
        per_token = step / tokens
        base = base or per_token
        print(f"{k:>6} {step / 1e9:>13.2f} {tokens:>12.2f} {per_token / 1e9:>9.2f} {base / per_token:>8.2f}x")


if __name__ == "__main__":
    main()

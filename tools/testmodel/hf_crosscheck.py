#!/usr/bin/python3
"""Cross-check reference.py against a second, differently structured implementation that
follows the HuggingFace DeepSeek modelling code (modeling_deepseek.py shipped with the V2
and V3 checkpoints): rotary embedding through the de-interleaving view + rotate_half,
YaRN via yarn_find_correction_range / yarn_linear_ramp_mask, the MoEGate's topk/scatter
group masks, and V2's "scale only when not normalising" rule. torch, float64.

  hf_crosscheck.py [--preset NAME ...]

Exit 1 if a preset differs by more than 1e-9 (with the RoPE frequency table rounded to
float32 once, as reference.py does) or by more than 1e-5 with the table computed in float32
arithmetic as HF does (that only moves w'_j by an ulp or so).
"""

import argparse
import math
import os
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_model  # noqa: E402
import reference  # noqa: E402  (config resolution and weight loading only)

torch.set_default_dtype(torch.float64)


def yarn_find_correction_dim(num_rotations, dim, base, max_pos):
    return (dim * math.log(max_pos / (num_rotations * 2 * math.pi))) / (2 * math.log(base))


def yarn_find_correction_range(low_rot, high_rot, dim, base, max_pos):
    low = math.floor(yarn_find_correction_dim(low_rot, dim, base, max_pos))
    high = math.ceil(yarn_find_correction_dim(high_rot, dim, base, max_pos))
    return max(low, 0), min(high, dim - 1)


def yarn_get_mscale(scale=1, mscale=1):
    if scale <= 1:
        return 1.0
    return 0.1 * mscale * math.log(scale) + 1.0


def yarn_linear_ramp_mask(lo, hi, dim, dtype):
    if lo == hi:
        hi += 0.001
    linear_func = (torch.arange(dim, dtype=dtype) - lo) / (hi - lo)
    return torch.clamp(linear_func, 0, 1)


class Rotary:
    """DeepseekV2RotaryEmbedding / DeepseekV2YarnRotaryEmbedding (fp32 tables)."""

    def __init__(self, dim, base, rope_scaling, table_dtype):
        # HF computes the frequency table in float32 arithmetic (table_dtype float32); with
        # float64 it is computed exactly and rounded to float32 once, as reference.py does.
        self.mscale = 1.0
        inv = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=table_dtype) / dim))
        if rope_scaling is not None:
            f = rope_scaling["factor"]
            freq_extra = inv
            freq_inter = 1.0 / (f * base ** (torch.arange(0, dim, 2, dtype=table_dtype) / dim))
            lo, hi = yarn_find_correction_range(rope_scaling["beta_fast"], rope_scaling["beta_slow"],
                                                dim, base,
                                                rope_scaling["original_max_position_embeddings"])
            inv_freq_mask = 1.0 - yarn_linear_ramp_mask(lo, hi, dim // 2, table_dtype)
            inv = freq_inter * (1 - inv_freq_mask) + freq_extra * inv_freq_mask
            self.mscale = float(yarn_get_mscale(f, rope_scaling["mscale"])
                                / yarn_get_mscale(f, rope_scaling["mscale_all_dim"]))
        self.inv_freq = inv.float()

    def __call__(self, seq_len):
        t = torch.arange(seq_len, dtype=torch.float32)
        freqs = torch.outer(t, self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1).double()
        return emb.cos() * self.mscale, emb.sin() * self.mscale


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary_pos_emb(q, k, cos, sin):
    # q [b, h, s, d], k [b, 1, s, d]; cos/sin [s, d]
    b, h, s, d = q.shape
    q = q.view(b, h, s, d // 2, 2).transpose(4, 3).reshape(b, h, s, d)
    b, h, s, d = k.shape
    k = k.view(b, h, s, d // 2, 2).transpose(4, 3).reshape(b, h, s, d)
    return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin


def rmsnorm(x, w, eps):
    variance = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(variance + eps))


class HFModel:
    def __init__(self, ref_model, table_dtype=torch.float64):
        self.c = ref_model.cfg
        self.family = ref_model.family
        self.w = {k: torch.from_numpy(v) for k, v in ref_model.w.items()}
        c = self.c
        self.q_head_dim = c["qk_nope_head_dim"] + c["qk_rope_head_dim"]
        self.softmax_scale = self.q_head_dim ** (-0.5)
        rs = c["rope_scaling"]
        if rs is not None:
            mscale_all_dim = rs.get("mscale_all_dim", 0)
            if mscale_all_dim:
                m = yarn_get_mscale(rs["factor"], mscale_all_dim)
                self.softmax_scale = self.softmax_scale * m * m
        self.rotary = Rotary(c["qk_rope_head_dim"], c["rope_theta"], rs, table_dtype)

    def lin(self, name, x):
        return torch.nn.functional.linear(x, self.w[name])

    def attn(self, p, x):
        c = self.c
        bsz, q_len, _ = x.shape
        H, dn, dr, dv = (c["num_attention_heads"], c["qk_nope_head_dim"], c["qk_rope_head_dim"],
                         c["v_head_dim"])
        eps = c["rms_norm_eps"]
        if c["q_lora_rank"] is None:
            q = self.lin(p + "q_proj.weight", x)
        else:
            q = self.lin(p + "q_b_proj.weight",
                         rmsnorm(self.lin(p + "q_a_proj.weight", x), self.w[p + "q_a_layernorm.weight"], eps))
        q = q.view(bsz, q_len, H, self.q_head_dim).transpose(1, 2)
        q_nope, q_pe = torch.split(q, [dn, dr], dim=-1)
        compressed_kv = self.lin(p + "kv_a_proj_with_mqa.weight", x)
        compressed_kv, k_pe = torch.split(compressed_kv, [c["kv_lora_rank"], dr], dim=-1)
        k_pe = k_pe.view(bsz, q_len, 1, dr).transpose(1, 2)
        kv = self.lin(p + "kv_b_proj.weight",
                      rmsnorm(compressed_kv, self.w[p + "kv_a_layernorm.weight"], eps))
        kv = kv.view(bsz, q_len, H, dn + dv).transpose(1, 2)
        k_nope, value_states = torch.split(kv, [dn, dv], dim=-1)
        cos, sin = self.rotary(q_len)
        q_pe, k_pe = apply_rotary_pos_emb(q_pe, k_pe, cos, sin)
        query_states = torch.cat([q_nope, q_pe], dim=-1)
        key_states = torch.cat([k_nope, k_pe.expand(bsz, H, q_len, dr)], dim=-1)
        attn_weights = torch.matmul(query_states, key_states.transpose(2, 3)) * self.softmax_scale
        mask = torch.full((q_len, q_len), float("-inf")).triu(1)
        attn_weights = torch.softmax(attn_weights + mask, dim=-1)
        out = torch.matmul(attn_weights, value_states).transpose(1, 2).reshape(bsz, q_len, H * dv)
        return self.lin(p + "o_proj.weight", out)

    def mlp(self, p, x):
        return self.lin(p + "down_proj.weight",
                        torch.nn.functional.silu(self.lin(p + "gate_proj.weight", x))
                        * self.lin(p + "up_proj.weight", x))

    def gate(self, p, hs):
        c = self.c
        logits = torch.nn.functional.linear(hs, self.w[p + "gate.weight"])
        if c["scoring_func"] == "sigmoid":
            scores = logits.sigmoid()
        else:
            scores = logits.softmax(dim=-1)
        n, E = scores.shape
        G, top_k = c["n_group"], c["num_experts_per_tok"]
        if c["topk_method"] == "greedy":
            topk_weight, topk_idx = torch.topk(scores, k=top_k, dim=-1, sorted=False)
        elif c["topk_method"] == "group_limited_greedy":
            group_scores = scores.view(n, G, -1).max(dim=-1).values
            group_idx = torch.topk(group_scores, k=c["topk_group"], dim=-1, sorted=False)[1]
            group_mask = torch.zeros_like(group_scores)
            group_mask.scatter_(1, group_idx, 1)
            score_mask = group_mask.unsqueeze(-1).expand(n, G, E // G).reshape(n, -1)
            tmp_scores = scores.masked_fill(~score_mask.bool(), 0.0)
            topk_weight, topk_idx = torch.topk(tmp_scores, k=top_k, dim=-1, sorted=False)
        else:  # noaux_tc
            scores_for_choice = scores + self.w[p + "gate.e_score_correction_bias"].unsqueeze(0)
            group_scores = scores_for_choice.view(n, G, -1).topk(2, dim=-1)[0].sum(dim=-1) \
                if G > 1 else scores_for_choice.max(dim=-1, keepdim=True).values
            group_idx = torch.topk(group_scores, k=c["topk_group"], dim=-1, sorted=False)[1]
            group_mask = torch.zeros_like(group_scores)
            group_mask.scatter_(1, group_idx, 1)
            score_mask = group_mask.unsqueeze(-1).expand(n, G, E // G).reshape(n, -1)
            tmp_scores = scores_for_choice.masked_fill(~score_mask.bool(), float("-inf"))
            _, topk_idx = torch.topk(tmp_scores, k=top_k, dim=-1, sorted=False)
            topk_weight = scores.gather(1, topk_idx)
        if self.family == "v3":
            if top_k > 1 and c["norm_topk_prob"]:
                topk_weight = topk_weight / (topk_weight.sum(dim=-1, keepdim=True) + 1e-20)
            topk_weight = topk_weight * c["routed_scaling_factor"]
        else:
            if top_k > 1 and c["norm_topk_prob"]:
                topk_weight = topk_weight / (topk_weight.sum(dim=-1, keepdim=True) + 1e-20)
            else:
                topk_weight = topk_weight * c["routed_scaling_factor"]
        return topk_idx, topk_weight

    def moe(self, p, x):
        shape = x.shape
        hs = x.view(-1, shape[-1])
        topk_idx, topk_weight = self.gate(p, hs)
        y = torch.zeros_like(hs)
        for t in range(hs.shape[0]):
            for k in range(topk_idx.shape[1]):
                e = int(topk_idx[t, k])
                y[t] += topk_weight[t, k] * self.mlp(p + f"experts.{e}.", hs[t:t + 1])[0]
        y = y.view(*shape)
        if self.c["n_shared_experts"] is not None:
            y = y + self.mlp(p + "shared_experts.", x)
        return y

    def forward(self, tokens):
        c = self.c
        eps = c["rms_norm_eps"]
        h = torch.nn.functional.embedding(torch.tensor([tokens]), self.w["model.embed_tokens.weight"])
        for i in range(c["num_hidden_layers"]):
            p = f"model.layers.{i}."
            h = h + self.attn(p + "self_attn.", rmsnorm(h, self.w[p + "input_layernorm.weight"], eps))
            x = rmsnorm(h, self.w[p + "post_attention_layernorm.weight"], eps)
            moe = (c["n_routed_experts"] is not None and i >= c["first_k_dense_replace"]
                   and i % c["moe_layer_freq"] == 0)
            h = h + (self.moe(p + "mlp.", x) if moe else self.mlp(p + "mlp.", x))
        h = rmsnorm(h, self.w["model.norm.weight"], eps)
        return self.lin("lm_head.weight", h)[0].numpy()


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", action="append")
    ap.add_argument("--tokens", type=int, default=24)
    a = ap.parse_args(argv)
    bad = 0
    presets = a.preset or ["v3-tiny", "v2-lite-tiny", "v2-tiny", "v3-norope-scaling",
                           "kimi-tiny", "fp8-small", "v3-sharp", "v2-sharp"]
    with tempfile.TemporaryDirectory() as tmp:
        for preset in presets:
            for sharp in (False, True):
                d = os.path.join(tmp, preset + str(sharp))
                make_model.write_model(d, preset, sharp=sharp, seed=3)
                m = reference.load_model(d)
                toks = np.random.default_rng(9).integers(0, m.cfg["vocab_size"], a.tokens).tolist()
                ours, _ = reference.forward(m, toks)
                hf = HFModel(m).forward(toks)
                hf32 = HFModel(m, torch.float32).forward(toks)
                diff = float(np.abs(ours - hf).max())
                diff32 = float(np.abs(ours - hf32).max())
                ok = diff < 1e-9 and diff32 < 1e-5
                bad += not ok
                print(f"{'ok  ' if ok else 'FAIL'} {preset}{' --sharp' if sharp else ''}: "
                      f"max |reference - HF-style| = {diff:.2e} (RoPE table as HF computes it, "
                      f"in float32 arithmetic: {diff32:.2e})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

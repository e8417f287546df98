#!/usr/bin/python3
"""Float64 reference forward pass of DeepSeek-V3 / V2 (and Kimi-K2) checkpoints.

  reference.py --model DIR --tokens 0,5,7 --out logits.bin [--gen N] [--absorbed]
               [--mtp-out mtp.bin]

Written from ../shared/docs/deepseek-architecture.md (section names below refer to it).
Everything is float64 except the RoPE angle, which the doc defines in fp32. Writes the
logits of every prompt position as little-endian float32 [n_tokens, vocab]; --gen N
decodes N tokens greedily with a KV cache and prints them as a JSON array; --mtp-out
writes the MTP draft logits [n_tokens - 1, vocab] (position i uses h_i and token i+1).

Import use:
  model = load_model(dir); logits, hidden = forward(model, tokens)
  tokens = generate(model, prompt, n); draft = mtp_forward(model, tokens, hidden)
"""

import argparse
import collections
import dataclasses
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io  # noqa: E402

# ---------------------------------------------------------------------------------------
# config
# ---------------------------------------------------------------------------------------

# Defaults of the configuration_deepseek.py files the checkpoints ship (auto_map), used for
# keys a config.json leaves out. V2's file defaults topk_method to the misspelt "gready",
# which its modeling code does not accept; "greedy" (transformers' built-in) is used.
DEFAULTS = {
    "v3": {
        "vocab_size": 129280, "hidden_size": 7168, "intermediate_size": 18432,
        "moe_intermediate_size": 2048, "num_hidden_layers": 61, "num_nextn_predict_layers": 1,
        "num_attention_heads": 128, "n_shared_experts": 1, "n_routed_experts": 256,
        "ep_size": 1, "routed_scaling_factor": 2.5, "kv_lora_rank": 512, "q_lora_rank": 1536,
        "qk_rope_head_dim": 64, "v_head_dim": 128, "qk_nope_head_dim": 128,
        "topk_method": "noaux_tc", "n_group": 8, "topk_group": 4, "num_experts_per_tok": 8,
        "moe_layer_freq": 1, "first_k_dense_replace": 3, "norm_topk_prob": True,
        "scoring_func": "sigmoid", "hidden_act": "silu", "rms_norm_eps": 1e-6,
        "tie_word_embeddings": False, "rope_theta": 10000.0, "rope_scaling": None,
        "attention_bias": False,
    },
    "v2": {
        "vocab_size": 102400, "hidden_size": 4096, "intermediate_size": 11008,
        "moe_intermediate_size": 1407, "num_hidden_layers": 30, "num_nextn_predict_layers": 0,
        "num_attention_heads": 32, "n_shared_experts": None, "n_routed_experts": None,
        "ep_size": 1, "routed_scaling_factor": 1.0, "kv_lora_rank": 512, "q_lora_rank": 1536,
        "qk_rope_head_dim": 64, "v_head_dim": 128, "qk_nope_head_dim": 128,
        "topk_method": "greedy", "n_group": None, "topk_group": None,
        "num_experts_per_tok": None, "moe_layer_freq": 1, "first_k_dense_replace": 0,
        "norm_topk_prob": False, "scoring_func": "softmax", "hidden_act": "silu",
        "rms_norm_eps": 1e-6, "tie_word_embeddings": False, "rope_theta": 10000.0,
        "rope_scaling": None, "attention_bias": False,
    },
}
# model_type -> architecture family. Kimi-K2 ships model_type "kimi_k2" with the
# DeepSeek-V3 architecture (DeepseekV3ForCausalLM).
FAMILIES = {"deepseek_v3": "v3", "kimi_k2": "v3", "deepseek_v2": "v2"}
# YaRN defaults of DeepseekV2/V3YarnRotaryEmbedding for keys rope_scaling leaves out.
YARN_DEFAULTS = {"original_max_position_embeddings": 4096, "beta_fast": 32, "beta_slow": 1,
                 "mscale": 1, "mscale_all_dim": 0}


class ConfigError(ValueError):
    pass


def resolve_config(raw):
    """config.json dict -> (family, text config with defaults filled, quantization_config).
    A multimodal wrapper keeps the language model under text_config."""
    text = raw.get("text_config", raw)
    quant = text.get("quantization_config", raw.get("quantization_config"))
    model_type = text.get("model_type", raw.get("model_type"))
    if model_type not in FAMILIES:
        raise ConfigError(f"unsupported model_type {model_type!r}")
    family = FAMILIES[model_type]
    cfg = dict(DEFAULTS[family])
    cfg.update(text)
    cfg["model_type"] = model_type
    for k in ("n_group", "topk_group"):
        if cfg[k] is None:
            cfg[k] = 1
    if cfg["hidden_act"] != "silu":
        raise ConfigError(f"hidden_act {cfg['hidden_act']!r} unsupported")
    if cfg["attention_bias"]:
        raise ConfigError("attention_bias=true unsupported (no DeepSeek checkpoint has it)")
    if cfg["tie_word_embeddings"]:
        raise ConfigError("tie_word_embeddings=true unsupported (lm_head is never tied)")
    if cfg["scoring_func"] not in ("sigmoid", "softmax"):
        raise ConfigError(f"scoring_func {cfg['scoring_func']!r} unsupported")
    if cfg["topk_method"] not in ("greedy", "group_limited_greedy", "noaux_tc"):
        raise ConfigError(f"topk_method {cfg['topk_method']!r} unsupported")
    rs = cfg["rope_scaling"]
    if rs is not None:
        kind = rs.get("type", rs.get("rope_type"))
        if kind != "yarn":
            raise ConfigError(f"rope_scaling type {kind!r} unsupported (only yarn)")
        cfg["rope_scaling"] = dict(YARN_DEFAULTS, **rs)
    if cfg["n_routed_experts"] is not None:
        if cfg["n_routed_experts"] % cfg["n_group"]:
            raise ConfigError("n_routed_experts is not a multiple of n_group")
        if not 1 <= cfg["topk_group"] <= cfg["n_group"]:
            raise ConfigError("topk_group out of range")
    if quant is not None:
        if quant.get("quant_method") != "fp8" or quant.get("fmt", "e4m3") != "e4m3":
            raise ConfigError(f"quantization_config {quant} unsupported")
    return family, cfg, quant


def is_moe_layer(cfg, i):
    """DeepseekV2/V3DecoderLayer: MoE when experts exist, i >= first_k_dense_replace and
    i % moe_layer_freq == 0 (the MTP layer, i = num_hidden_layers, is MoE in V3)."""
    return (cfg["n_routed_experts"] is not None and i >= cfg["first_k_dense_replace"]
            and i % cfg["moe_layer_freq"] == 0)


# ---------------------------------------------------------------------------------------
# options: every field set to its default is the doc's math; the others are deliberate
# mistakes the self-test uses to prove the test models are sensitive to each detail.
# ---------------------------------------------------------------------------------------

@dataclasses.dataclass
class Options:
    absorbed: bool = False        # MLA absorbed form (same math, different order)
    rope_interleaved: bool = True  # False: NeoX rotate-half pairing (wrong)
    yarn: bool = True             # False: ignore YaRN frequency correction (wrong)
    m_squared: bool = True        # False: softmax scale without m^2 (wrong)
    kv_norm: bool = True          # False: skip kv_a_layernorm (wrong)
    rope_angle_fp32: bool = True  # doc: angle = float(p) * w' in fp32
    gate_bias: bool = True        # False: ignore e_score_correction_bias (wrong)
    bias_in_weights: bool = False  # True: weights from biased scores (wrong)
    group_limit: bool = True      # False: ignore n_group/topk_group (wrong)
    norm_topk: bool = True        # False: ignore norm_topk_prob (wrong)
    routed_scaling: bool = True   # False: never apply routed_scaling_factor (wrong)


# ---------------------------------------------------------------------------------------
# model
# ---------------------------------------------------------------------------------------

class Model:
    def __init__(self, family, cfg, weights, quant):
        self.family = family
        self.cfg = cfg
        self.w = weights  # name -> float64 array
        self.quant = quant
        self.n_layers = cfg["num_hidden_layers"]
        self.has_mtp = f"model.layers.{self.n_layers}.eh_proj.weight" in weights


def load_model(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        family, cfg, quant = resolve_config(json.load(f))
    reader = st_io.CheckpointReader(model_dir)
    block = tuple((quant or {}).get("weight_block_size", [128, 128]))
    weights = {}
    names = set(reader.names())
    for name in sorted(names):
        if name.endswith("_scale_inv"):
            if name[: -len("_scale_inv")] not in names:
                raise ValueError(f"{name} without its weight")
            continue
        if reader.dtype(name) == "F8_E4M3":
            sname = name + "_scale_inv"
            if sname not in names:
                raise ValueError(f"FP8 tensor {name} has no {sname}")
            weights[name] = st_io.dequantize_fp8_blocks(reader.raw(name), reader.f64(sname),
                                                        block)
        else:
            weights[name] = reader.f64(name)
    model = Model(family, cfg, weights, quant)
    _check_shapes(model)
    return model


def _check_shapes(model):
    c, w = model.cfg, model.w
    D, H = c["hidden_size"], c["num_attention_heads"]
    dn, dr, dv, rkv = c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"], c["kv_lora_rank"]
    want = {"model.embed_tokens.weight": (c["vocab_size"], D), "model.norm.weight": (D,),
            "lm_head.weight": (c["vocab_size"], D)}
    for i in range(model.n_layers + (1 if model.has_mtp else 0)):
        p = f"model.layers.{i}.self_attn."
        want[p + "kv_a_proj_with_mqa.weight"] = (rkv + dr, D)
        want[p + "kv_b_proj.weight"] = (H * (dn + dv), rkv)
        want[p + "o_proj.weight"] = (D, H * dv)
        if c["q_lora_rank"] is None:
            want[p + "q_proj.weight"] = (H * (dn + dr), D)
        else:
            want[p + "q_b_proj.weight"] = (H * (dn + dr), c["q_lora_rank"])
    for name, shape in want.items():
        if name not in w:
            raise ValueError(f"missing tensor {name}")
        if w[name].shape != shape:
            raise ValueError(f"tensor {name} has shape {list(w[name].shape)}, expected {list(shape)}")


# ---------------------------------------------------------------------------------------
# building blocks
# ---------------------------------------------------------------------------------------

def lin(x, W):
    """x . W^T with W stored [out, in] (HF layout); no biases anywhere."""
    return x @ W.T


def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def silu(x):
    return x / (1.0 + np.exp(-x))


def softmax(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / np.sum(e, axis=axis, keepdims=True)


def yarn_mscale(factor, mscale):
    return 1.0 if factor <= 1 else 0.1 * mscale * math.log(factor) + 1.0


def rope_frequencies(cfg, opts):
    """(w'_j for j < dr/2 as float64 values of fp32 numbers, cos/sin multiplier).
    Doc: "RoPE with YaRN"."""
    dr, theta = cfg["qk_rope_head_dim"], float(cfg["rope_theta"])
    j = np.arange(dr // 2, dtype=np.float64)
    w = theta ** (-2.0 * j / dr)
    mult = 1.0
    rs = cfg["rope_scaling"]
    if rs is not None and rs["factor"] > 1 and opts.yarn:
        factor, l0 = float(rs["factor"]), float(rs["original_max_position_embeddings"])

        def corr(r):
            return dr * math.log(l0 / (2 * math.pi * r)) / (2 * math.log(theta))

        low = max(math.floor(corr(rs["beta_fast"])), 0)
        high = min(math.ceil(corr(rs["beta_slow"])), dr - 1)
        if low == high:
            high += 0.001
        ramp = np.clip((j - low) / (high - low), 0.0, 1.0)
        w = (1 - ramp) * w + ramp * w / factor
        mult = yarn_mscale(factor, rs["mscale"]) / yarn_mscale(factor, rs["mscale_all_dim"])
    if opts.rope_angle_fp32:
        w = w.astype(np.float32).astype(np.float64)
    return w, mult


def apply_rope(x, pos, freqs, opts):
    """Rotate the last axis of x [T, ..., dr] at positions pos [T]."""
    w, mult = freqs
    if opts.rope_angle_fp32:
        ang = (np.asarray(pos, np.float32)[:, None] * w.astype(np.float32)[None, :]).astype(np.float64)
    else:
        ang = np.asarray(pos, np.float64)[:, None] * w[None, :]
    shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (w.shape[0],)
    cos = (np.cos(ang) * mult).reshape(shape)
    sin = (np.sin(ang) * mult).reshape(shape)
    if opts.rope_interleaved:
        a, b = x[..., 0::2], x[..., 1::2]       # pairs (x[2j], x[2j+1])
    else:
        half = x.shape[-1] // 2
        a, b = x[..., :half], x[..., half:]     # pairs (x[j], x[j + dr/2]) -- wrong here
    ra, rb = a * cos - b * sin, a * sin + b * cos
    out = np.empty_like(x)
    if opts.rope_interleaved:
        out[..., 0::2], out[..., 1::2] = ra, rb
    else:
        out[..., :half], out[..., half:] = ra, rb
    return out


def softmax_scale(cfg, opts):
    """Doc "Softmax scale": (dn + dr)^-0.5 * m^2, m = 0.1 * mscale_all_dim * ln(factor) + 1
    when the YaRN factor > 1."""
    scale = (cfg["qk_nope_head_dim"] + cfg["qk_rope_head_dim"]) ** -0.5
    rs = cfg["rope_scaling"]
    if rs is not None and rs["factor"] > 1 and opts.m_squared:
        m = yarn_mscale(float(rs["factor"]), rs["mscale_all_dim"])
        scale *= m * m
    return scale


class LayerCache:
    """Per-layer KV cache. Plain form: k_nope [T, H, dn], k_pe [T, dr], v [T, H, dv].
    Absorbed form: c [T, rkv] (normalised latent), k_pe [T, dr] (rotated)."""

    def __init__(self):
        self.pos = np.zeros(0, np.int64)
        self.parts = {}

    def append(self, pos, **parts):
        self.pos = np.concatenate([self.pos, pos])
        for k, v in parts.items():
            self.parts[k] = v if k not in self.parts else np.concatenate([self.parts[k], v])
        return [self.parts[k] for k in parts]


def mla(model, i, x, pos, cache, ctx):
    """Doc "MLA attention". x [T, D] (already normalised), pos [T]."""
    c, w, opts = model.cfg, model.w, ctx.opts
    p = f"model.layers.{i}.self_attn."
    eps = c["rms_norm_eps"]
    H, dn, dr, dv = c["num_attention_heads"], c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"]
    rkv = c["kv_lora_rank"]
    T = x.shape[0]
    if c["q_lora_rank"] is None:
        q = lin(x, w[p + "q_proj.weight"])
    else:
        q = lin(rms_norm(lin(x, w[p + "q_a_proj.weight"]), w[p + "q_a_layernorm.weight"], eps),
                w[p + "q_b_proj.weight"])
    q = q.reshape(T, H, dn + dr)
    q_nope, q_pe = q[..., :dn], q[..., dn:]
    kv = lin(x, w[p + "kv_a_proj_with_mqa.weight"])            # [T, rkv + dr]
    lat = kv[:, :rkv]
    if opts.kv_norm:
        lat = rms_norm(lat, w[p + "kv_a_layernorm.weight"], eps)  # c: [T, rkv]
    k_pe = kv[:, rkv:]                                         # [T, dr], shared by heads
    q_pe = apply_rope(q_pe, pos, ctx.freqs, opts)
    k_pe = apply_rope(k_pe, pos, ctx.freqs, opts)
    scale = ctx.scale
    W_kvb = w[p + "kv_b_proj.weight"].reshape(H, dn + dv, rkv)
    if not opts.absorbed:
        kvb = lin(lat, w[p + "kv_b_proj.weight"]).reshape(T, H, dn + dv)
        K_nope, K_pe, V = cache.append(pos, k_nope=kvb[..., :dn], k_pe=k_pe, v=kvb[..., dn:])
        scores = scale * (np.einsum("ihd,thd->hit", q_nope, K_nope)
                          + np.einsum("ihd,td->hit", q_pe, K_pe))
    else:
        C, K_pe = cache.append(pos, c=lat, k_pe=k_pe)
        q_abs = np.einsum("ihd,hdr->ihr", q_nope, W_kvb[:, :dn, :])    # [T, H, rkv]
        scores = scale * (np.einsum("ihr,tr->hit", q_abs, C)
                          + np.einsum("ihd,td->hit", q_pe, K_pe))
    causal = cache.pos[None, :] <= np.asarray(pos)[:, None]     # [T, T_all]
    scores = np.where(causal[None], scores, -np.inf)
    probs = softmax(scores, axis=-1)                            # [H, T, T_all]
    if not opts.absorbed:
        o = np.einsum("hit,thd->ihd", probs, V)                 # [T, H, dv]
    else:
        u = np.einsum("hit,tr->ihr", probs, C)                  # [T, H, rkv]
        o = np.einsum("hdr,ihr->ihd", W_kvb[:, dn:, :], u)      # [T, H, dv]
    return lin(o.reshape(T, H * dv), w[p + "o_proj.weight"])


def mlp(w, prefix, x):
    """down(silu(gate(x)) * up(x))."""
    return lin(silu(lin(x, w[prefix + "gate_proj.weight"])) * lin(x, w[prefix + "up_proj.weight"]),
               w[prefix + "down_proj.weight"])


def route(model, i, x, opts):
    """Doc "MoE layer" gating. Returns (idx [T, K], weights [T, K])."""
    c, w = model.cfg, model.w
    p = f"model.layers.{i}.mlp."
    E, K = c["n_routed_experts"], c["num_experts_per_tok"]
    u = lin(x, w[p + "gate.weight"])                           # [T, E]
    s = 1.0 / (1.0 + np.exp(-u)) if c["scoring_func"] == "sigmoid" else softmax(u, axis=-1)
    sel = s
    if c["topk_method"] == "noaux_tc" and opts.gate_bias:
        bname = p + "gate.e_score_correction_bias"
        if bname not in w:
            raise ValueError(f"topk_method noaux_tc but {bname} is missing")
        sel = s + w[bname][None, :]
    G = c["n_group"]
    if G > 1 and c["topk_method"] != "greedy" and opts.group_limit:
        g = sel.reshape(-1, G, E // G)
        if c["topk_method"] == "noaux_tc":
            gscore = np.sort(g, axis=-1)[..., -2:].sum(axis=-1)  # sum of the top-2
        else:
            gscore = g.max(axis=-1)
        keep = np.argsort(-gscore, axis=-1, kind="stable")[:, : c["topk_group"]]
        mask = np.zeros(gscore.shape, bool)
        np.put_along_axis(mask, keep, True, axis=-1)
        sel = np.where(np.repeat(mask, E // G, axis=-1), sel, -np.inf)
    idx = np.argsort(-sel, axis=-1, kind="stable")[:, :K]
    wts = np.take_along_axis(sel if opts.bias_in_weights else s, idx, axis=-1)
    normalised = c["norm_topk_prob"] and opts.norm_topk
    if normalised:
        # The doc normalises whenever norm_topk_prob is set; HF's code adds "top_k > 1",
        # which only differs for num_experts_per_tok = 1 (no preset uses that).
        wts = wts / (wts.sum(axis=-1, keepdims=True) + 1e-20)
    # V3 always applies routed_scaling_factor; V2 only when it does not normalise.
    if opts.routed_scaling and (model.family == "v3" or not normalised):
        wts = wts * c["routed_scaling_factor"]
    return idx, wts


def moe(model, i, x, opts):
    c, w = model.cfg, model.w
    p = f"model.layers.{i}.mlp."
    idx, wts = route(model, i, x, opts)
    y = np.zeros_like(x)
    for e in np.unique(idx):
        rows, k = np.nonzero(idx == e)
        y[rows] += wts[rows, k][:, None] * mlp(w, p + f"experts.{e}.", x[rows])
    if c["n_shared_experts"]:
        y += mlp(w, p + "shared_experts.", x)
    return y


def decoder_layer(model, i, h, pos, cache, ctx):
    c, w = model.cfg, model.w
    p = f"model.layers.{i}."
    eps = c["rms_norm_eps"]
    h = h + mla(model, i, rms_norm(h, w[p + "input_layernorm.weight"], eps), pos, cache, ctx)
    x = rms_norm(h, w[p + "post_attention_layernorm.weight"], eps)
    if is_moe_layer(c, i):
        return h + moe(model, i, x, ctx.opts)
    return h + mlp(w, p + "mlp.", x)


# ---------------------------------------------------------------------------------------
# sessions
# ---------------------------------------------------------------------------------------

Ctx = collections.namedtuple("Ctx", "opts freqs scale")  # per-session constants


class Session:
    """Incremental evaluation with per-layer KV caches (the MTP layer has its own)."""

    def __init__(self, model, opts=None):
        self.model = model
        self.opts = opts or Options()
        self.ctx = Ctx(self.opts, rope_frequencies(model.cfg, self.opts),
                       softmax_scale(model.cfg, self.opts))
        self.caches = [LayerCache() for _ in range(model.n_layers)]
        self.mtp_cache = LayerCache()
        self.n_past = 0
        self.mtp_past = 0

    def step(self, tokens):
        """Append tokens; returns (logits [T, V], hidden [T, D] after model.norm)."""
        m = self.model
        tokens = np.asarray(tokens, np.int64)
        pos = np.arange(self.n_past, self.n_past + len(tokens))
        h = m.w["model.embed_tokens.weight"][tokens]           # no scaling
        for i in range(m.n_layers):
            h = decoder_layer(m, i, h, pos, self.caches[i], self.ctx)
        self.n_past += len(tokens)
        hn = rms_norm(h, m.w["model.norm.weight"], m.cfg["rms_norm_eps"])
        return lin(hn, m.w["lm_head.weight"]), hn

    def mtp_step(self, hidden, next_tokens):
        """Doc "Multi-token prediction": draft logits for positions mtp_past.. given the
        main model's normed hidden states h_i and the tokens t_{i+1}."""
        m, c = self.model, self.model.cfg
        if not m.has_mtp:
            raise ValueError("model has no MTP module (model.layers.L.eh_proj.weight)")
        L, eps, w = m.n_layers, c["rms_norm_eps"], m.w
        p = f"model.layers.{L}."
        pos = np.arange(self.mtp_past, self.mtp_past + len(next_tokens))
        e = rms_norm(w["model.embed_tokens.weight"][np.asarray(next_tokens)], w[p + "enorm.weight"], eps)
        g = rms_norm(hidden, w[p + "hnorm.weight"], eps)
        u = lin(np.concatenate([e, g], axis=-1), w[p + "eh_proj.weight"])  # embedding first
        y = decoder_layer(m, L, u, pos, self.mtp_cache, self.ctx)
        self.mtp_past += len(next_tokens)
        return lin(rms_norm(y, w[p + "shared_head.norm.weight"], eps), w["lm_head.weight"])


def forward(model, tokens, opts=None):
    """Full forward pass: (logits [T, V], hidden after model.norm [T, D])."""
    return Session(model, opts).step(tokens)


def mtp_forward(model, tokens, hidden, opts=None):
    """MTP draft logits for positions 0 .. T-2: [T-1, V]."""
    return Session(model, opts).mtp_step(hidden[:-1], tokens[1:])


def generate(model, prompt, n, opts=None):
    """Greedy decoding of n tokens with the KV cache."""
    s = Session(model, opts)
    logits, _ = s.step(prompt)
    out = []
    for _ in range(n):
        out.append(int(np.argmax(logits[-1])))
        if len(out) < n:
            logits, _ = s.step([out[-1]])
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description="float64 DeepSeek reference forward pass")
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokens", required=True, help="comma-separated token ids")
    ap.add_argument("--out", help="logits of every prompt position, f32 LE [T, vocab]")
    ap.add_argument("--gen", type=int, default=0, help="greedy-decode N tokens (JSON on stdout)")
    ap.add_argument("--absorbed", action="store_true", help="use the absorbed MLA form")
    ap.add_argument("--mtp-out", help="MTP draft logits, f32 LE [T-1, vocab]")
    a = ap.parse_args(argv)
    tokens = [int(t) for t in a.tokens.split(",") if t.strip()]
    model = load_model(a.model)
    V = model.cfg["vocab_size"]
    if not tokens or min(tokens) < 0 or max(tokens) >= V:
        ap.error(f"tokens must be in [0, {V})")
    opts = Options(absorbed=a.absorbed)
    logits, hidden = forward(model, tokens, opts)
    if a.out:
        logits.astype("<f4").tofile(a.out)
    if a.mtp_out:
        mtp_forward(model, tokens, hidden, opts).astype("<f4").tofile(a.mtp_out)
    if a.gen:
        print(json.dumps(generate(model, tokens, a.gen, opts)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

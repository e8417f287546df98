#!/usr/bin/python3
"""Generate small (or real-shaped) random DeepSeek checkpoints in HuggingFace layout.

  make_model.py --preset NAME --out DIR [--dtype f32|bf16|fp8] [--shards N] [--sharp]
                [--seed S] [--mtp] [--layers N] [--set key=value ...]
  make_model.py --list-presets

Writes DIR/config.json and DIR/model.safetensors (or N shards
model-0000k-of-0000N.safetensors plus model.safetensors.index.json). Tensor names follow
the HF DeepSeek checkpoints (see ../shared/docs/deepseek-architecture.md). Weights are
random but deterministic: every tensor draws from its own numpy Generator seeded with
(seed, crc32(tensor name)), so the values do not depend on dtype, sharding or file order.
Tensors are generated and written one row block at a time, so the multi-GB "-shape"
presets never sit in memory.
"""

import argparse
import copy
import json
import math
import os
import shutil
import sys
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io  # noqa: E402

# ---------------------------------------------------------------------------------------
# presets
# ---------------------------------------------------------------------------------------

_V3_COMMON = {
    "architectures": ["DeepseekV3ForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "auto_map": {
        "AutoConfig": "configuration_deepseek.DeepseekV3Config",
        "AutoModel": "modeling_deepseek.DeepseekV3Model",
        "AutoModelForCausalLM": "modeling_deepseek.DeepseekV3ForCausalLM",
    },
    "aux_loss_alpha": 0.001,
    "bos_token_id": 0,
    "eos_token_id": 1,
    "ep_size": 1,
    "hidden_act": "silu",
    "initializer_range": 0.02,
    "model_type": "deepseek_v3",
    "moe_layer_freq": 1,
    "num_nextn_predict_layers": 0,
    "pretraining_tp": 1,
    "rms_norm_eps": 1e-06,
    "rope_theta": 10000,
    "scoring_func": "sigmoid",
    "seq_aux": True,
    "tie_word_embeddings": False,
    "topk_method": "noaux_tc",
    "transformers_version": "4.46.3",
    "use_cache": True,
}

_V2_COMMON = {
    "architectures": ["DeepseekV2ForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "auto_map": {
        "AutoConfig": "configuration_deepseek.DeepseekV2Config",
        "AutoModel": "modeling_deepseek.DeepseekV2Model",
        "AutoModelForCausalLM": "modeling_deepseek.DeepseekV2ForCausalLM",
    },
    "aux_loss_alpha": 0.001,
    "bos_token_id": 0,
    "eos_token_id": 1,
    "ep_size": 1,
    "hidden_act": "silu",
    "initializer_range": 0.02,
    "model_type": "deepseek_v2",
    "moe_layer_freq": 1,
    "pretraining_tp": 1,
    "rms_norm_eps": 1e-06,
    "rope_theta": 10000,
    "scoring_func": "softmax",
    "seq_aux": True,
    "tie_word_embeddings": False,
    "transformers_version": "4.33.1",
    "use_cache": True,
}


def _yarn(factor, l0, beta_fast=32, beta_slow=1, mscale=1.0, mscale_all_dim=1.0):
    return {"beta_fast": beta_fast, "beta_slow": beta_slow, "factor": factor,
            "mscale": mscale, "mscale_all_dim": mscale_all_dim,
            "original_max_position_embeddings": l0, "type": "yarn"}


# Each preset: "config" (the flat DeepSeek text config), optional "wrap" (outer config
# with the text config nested under text_config), "dtype" (default), "large" (real-shaped,
# for performance work only), "about".
PRESETS = {
    "v3-tiny": {
        "about": "DeepSeek-V3 form: q_lora, YaRN x40 (L0=128), sigmoid+noaux_tc, 4 groups",
        "config": dict(_V3_COMMON, **{
            "vocab_size": 512, "hidden_size": 64, "intermediate_size": 128,
            "moe_intermediate_size": 32, "num_hidden_layers": 3, "num_attention_heads": 4,
            "num_key_value_heads": 4, "q_lora_rank": 48, "kv_lora_rank": 32,
            "qk_nope_head_dim": 16, "qk_rope_head_dim": 8, "v_head_dim": 16,
            "n_routed_experts": 16, "n_shared_experts": 1, "num_experts_per_tok": 4,
            "n_group": 4, "topk_group": 2, "first_k_dense_replace": 1,
            "norm_topk_prob": True, "routed_scaling_factor": 2.5,
            "max_position_embeddings": 5120, "rope_scaling": _yarn(40, 128),
        }),
    },
    "v2-lite-tiny": {
        "about": "DeepSeek-V2-Lite form: no q_lora, softmax+greedy, YaRN mscale 0.707, 2 shared",
        "config": dict(_V2_COMMON, **{
            "vocab_size": 384, "hidden_size": 64, "intermediate_size": 96,
            "moe_intermediate_size": 24, "num_hidden_layers": 3, "num_attention_heads": 4,
            "num_key_value_heads": 4, "q_lora_rank": None, "kv_lora_rank": 32,
            "qk_nope_head_dim": 16, "qk_rope_head_dim": 16, "v_head_dim": 16,
            "n_routed_experts": 12, "n_shared_experts": 2, "num_experts_per_tok": 3,
            "n_group": 1, "topk_group": 1, "topk_method": "greedy",
            "first_k_dense_replace": 1, "norm_topk_prob": False,
            "routed_scaling_factor": 1.0, "max_position_embeddings": 5120,
            "rope_scaling": _yarn(40, 128, mscale=0.707, mscale_all_dim=0.707),
        }),
    },
    "v2-tiny": {
        "about": "DeepSeek-V2 form: q_lora, softmax+group_limited_greedy (4 groups, keep 2), "
                 "routed_scaling 16, v_head_dim != qk_nope_head_dim, 3 heads",
        "config": dict(_V2_COMMON, **{
            "vocab_size": 448, "hidden_size": 96, "intermediate_size": 160,
            "moe_intermediate_size": 24, "num_hidden_layers": 3, "num_attention_heads": 3,
            "num_key_value_heads": 3, "q_lora_rank": 40, "kv_lora_rank": 48,
            "qk_nope_head_dim": 24, "qk_rope_head_dim": 8, "v_head_dim": 32,
            "n_routed_experts": 16, "n_shared_experts": 2, "num_experts_per_tok": 4,
            "n_group": 4, "topk_group": 2, "topk_method": "group_limited_greedy",
            "first_k_dense_replace": 1, "norm_topk_prob": False,
            "routed_scaling_factor": 16.0, "max_position_embeddings": 5120,
            "rope_scaling": _yarn(40, 128, mscale=0.707, mscale_all_dim=0.707),
        }),
    },
    "v3-norope-scaling": {
        "about": "DeepSeek-V3 form with rope_scaling null (plain RoPE, no m^2), all layers MoE",
        "config": dict(_V3_COMMON, **{
            "vocab_size": 320, "hidden_size": 64, "intermediate_size": 128,
            "moe_intermediate_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 4, "q_lora_rank": 32, "kv_lora_rank": 32,
            "qk_nope_head_dim": 16, "qk_rope_head_dim": 8, "v_head_dim": 16,
            "n_routed_experts": 8, "n_shared_experts": 1, "num_experts_per_tok": 2,
            "n_group": 2, "topk_group": 1, "first_k_dense_replace": 0,
            "norm_topk_prob": True, "routed_scaling_factor": 2.5,
            "max_position_embeddings": 4096, "rope_scaling": None,
        }),
    },
    "kimi-tiny": {
        "about": "Kimi form nested in text_config (outer kimi_k25-style wrapper): n_group 1, "
                 "noaux_tc, routed_scaling 2.827, rope_theta 50000, YaRN x32 beta 1/1",
        "config": dict(_V3_COMMON, **{
            "vocab_size": 448, "hidden_size": 64, "intermediate_size": 128,
            "moe_intermediate_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
            "num_key_value_heads": 2, "q_lora_rank": 48, "kv_lora_rank": 32,
            "qk_nope_head_dim": 16, "qk_rope_head_dim": 16, "v_head_dim": 16,
            "n_routed_experts": 12, "n_shared_experts": 1, "num_experts_per_tok": 3,
            "n_group": 1, "topk_group": 1, "first_k_dense_replace": 1,
            "norm_topk_prob": True, "routed_scaling_factor": 2.827, "rms_norm_eps": 1e-05,
            "rope_theta": 50000.0, "bos_token_id": 440, "eos_token_id": 441,
            "max_position_embeddings": 4096,
            "rope_scaling": _yarn(32.0, 128, beta_fast=1.0, beta_slow=1.0),
        }),
        "wrap": {
            "architectures": ["KimiK25ForConditionalGeneration"],
            "model_type": "kimi_k25",
            "auto_map": {
                "AutoConfig": "configuration_kimi_k25.KimiK25Config",
                "AutoModel": "modeling_kimi_k25.KimiK25ForConditionalGeneration",
                "AutoModelForCausalLM": "modeling_kimi_k25.KimiK25ForConditionalGeneration",
            },
            "bos_token_id": 440, "eos_token_id": 441, "pad_token_id": 442,
            "tie_word_embeddings": False, "transformers_version": "4.56.2",
            "vision_config": {"model_type": "moonvit", "hidden_size": 32, "patch_size": 14},
        },
    },
    "kimi-k2-tiny": {
        "about": "Kimi-K2 as released: flat config with model_type kimi_k2 (DeepSeek-V3 "
                 "architecture), n_group 1, 2 heads",
        "config": dict(_V3_COMMON, **{
            "model_type": "kimi_k2",
            "vocab_size": 448, "hidden_size": 64, "intermediate_size": 128,
            "moe_intermediate_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
            "num_key_value_heads": 2, "q_lora_rank": 48, "kv_lora_rank": 32,
            "qk_nope_head_dim": 16, "qk_rope_head_dim": 16, "v_head_dim": 16,
            "n_routed_experts": 12, "n_shared_experts": 1, "num_experts_per_tok": 3,
            "n_group": 1, "topk_group": 1, "first_k_dense_replace": 1,
            "norm_topk_prob": True, "routed_scaling_factor": 2.827, "rms_norm_eps": 1e-06,
            "rope_theta": 50000.0, "bos_token_id": 440, "eos_token_id": 441,
            "max_position_embeddings": 4096,
            "rope_scaling": _yarn(32.0, 128, beta_fast=1.0, beta_slow=1.0),
        }),
    },
    "fp8-small": {
        "about": "DeepSeek-V3 form with dims > 128 and not multiples of 128 (partial FP8 tiles)",
        "dtype": "fp8",
        "config": dict(_V3_COMMON, **{
            "vocab_size": 640, "hidden_size": 192, "intermediate_size": 320,
            "moe_intermediate_size": 160, "num_hidden_layers": 2, "num_attention_heads": 3,
            "num_key_value_heads": 3, "q_lora_rank": 144, "kv_lora_rank": 160,
            "qk_nope_head_dim": 32, "qk_rope_head_dim": 16, "v_head_dim": 32,
            "n_routed_experts": 8, "n_shared_experts": 1, "num_experts_per_tok": 2,
            "n_group": 2, "topk_group": 1, "first_k_dense_replace": 1,
            "norm_topk_prob": True, "routed_scaling_factor": 2.5,
            "max_position_embeddings": 5120, "rope_scaling": _yarn(40, 128),
        }),
    },
    "v3-sharp": {
        "about": "DeepSeek-V3 form sized for the bf16 tests (use with --sharp --dtype bf16): "
                 "D=256, 32 experts in 4 groups, YaRN ramp over several RoPE pairs",
        "config": dict(_V3_COMMON, **{
            "vocab_size": 512, "hidden_size": 256, "intermediate_size": 384,
            "moe_intermediate_size": 64, "num_hidden_layers": 3, "num_attention_heads": 4,
            "num_key_value_heads": 4, "q_lora_rank": 96, "kv_lora_rank": 64,
            "qk_nope_head_dim": 32, "qk_rope_head_dim": 16, "v_head_dim": 32,
            "n_routed_experts": 32, "n_shared_experts": 1, "num_experts_per_tok": 4,
            "n_group": 4, "topk_group": 2, "first_k_dense_replace": 1,
            "norm_topk_prob": True, "routed_scaling_factor": 2.5,
            "max_position_embeddings": 5120, "rope_scaling": _yarn(40, 128),
        }),
    },
    "v2-sharp": {
        "about": "DeepSeek-V2 form sized for the bf16 tests (use with --sharp --dtype bf16): "
                 "D=256, no q_lora, softmax+group_limited_greedy, routed_scaling 16",
        "config": dict(_V2_COMMON, **{
            "vocab_size": 512, "hidden_size": 256, "intermediate_size": 384,
            "moe_intermediate_size": 64, "num_hidden_layers": 3, "num_attention_heads": 4,
            "num_key_value_heads": 4, "q_lora_rank": None, "kv_lora_rank": 64,
            "qk_nope_head_dim": 32, "qk_rope_head_dim": 16, "v_head_dim": 32,
            "n_routed_experts": 32, "n_shared_experts": 2, "num_experts_per_tok": 4,
            "n_group": 4, "topk_group": 2, "topk_method": "group_limited_greedy",
            "first_k_dense_replace": 1, "norm_topk_prob": False,
            "routed_scaling_factor": 16.0, "max_position_embeddings": 5120,
            "rope_scaling": _yarn(40, 128, mscale=0.707, mscale_all_dim=0.707),
        }),
    },
    "v2-lite-shape": {
        "about": "the real DeepSeek-V2-Lite dimensions (~16B params; performance work only)",
        "large": True, "dtype": "bf16",
        "config": dict(_V2_COMMON, **{
            "bos_token_id": 100000, "eos_token_id": 100001,
            "vocab_size": 102400, "hidden_size": 2048, "intermediate_size": 10944,
            "moe_intermediate_size": 1408, "num_hidden_layers": 27, "num_attention_heads": 16,
            "num_key_value_heads": 16, "q_lora_rank": None, "kv_lora_rank": 512,
            "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128,
            "n_routed_experts": 64, "n_shared_experts": 2, "num_experts_per_tok": 6,
            "n_group": 1, "topk_group": 1, "topk_method": "greedy",
            "first_k_dense_replace": 1, "norm_topk_prob": False,
            "routed_scaling_factor": 1.0, "max_position_embeddings": 163840,
            "rope_scaling": _yarn(40, 4096, mscale=0.707, mscale_all_dim=0.707),
        }),
    },
    "v3-shape-slice": {
        "about": "real DeepSeek-V3 layer dimensions, 4 layers (1 dense + 3 MoE); performance only",
        "large": True, "dtype": "fp8",
        "config": dict(_V3_COMMON, **{
            "vocab_size": 129280, "hidden_size": 7168, "intermediate_size": 18432,
            "moe_intermediate_size": 2048, "num_hidden_layers": 4, "num_attention_heads": 128,
            "num_key_value_heads": 128, "q_lora_rank": 1536, "kv_lora_rank": 512,
            "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128,
            "n_routed_experts": 256, "n_shared_experts": 1, "num_experts_per_tok": 8,
            "n_group": 8, "topk_group": 4, "first_k_dense_replace": 1,
            "norm_topk_prob": True, "routed_scaling_factor": 2.5,
            "max_position_embeddings": 163840, "rope_scaling": _yarn(40, 4096),
        }),
    },
}

FP8_QUANT_CONFIG = {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                    "weight_block_size": [128, 128]}

# ---------------------------------------------------------------------------------------
# tensor plan
# ---------------------------------------------------------------------------------------

# kinds: embed, head, norm, attn (attention linear), mlp (expert/dense linear), gate,
# bias, eh (MTP eh_proj, a linear map).
_LINEAR_KINDS = ("attn", "mlp", "eh")


class TensorPlan:
    def __init__(self, name, shape, kind, seed_name=None):
        self.name = name
        self.shape = tuple(int(s) for s in shape)
        self.kind = kind
        self.seed_name = seed_name or name  # copies (MTP embed/head) draw the same values


def _is_moe_layer(cfg, i):
    return (cfg.get("n_routed_experts") is not None and i >= cfg["first_k_dense_replace"]
            and i % cfg.get("moe_layer_freq", 1) == 0)


def _decoder_layer(cfg, i, moe):
    D = cfg["hidden_size"]
    H = cfg["num_attention_heads"]
    dn, dr, dv = cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"], cfg["v_head_dim"]
    rkv, rq = cfg["kv_lora_rank"], cfg.get("q_lora_rank")
    p = f"model.layers.{i}."
    t = [TensorPlan(p + "input_layernorm.weight", [D], "norm"),
         TensorPlan(p + "post_attention_layernorm.weight", [D], "norm")]
    if rq is None:
        t.append(TensorPlan(p + "self_attn.q_proj.weight", [H * (dn + dr), D], "attn"))
    else:
        t += [TensorPlan(p + "self_attn.q_a_proj.weight", [rq, D], "attn"),
              TensorPlan(p + "self_attn.q_a_layernorm.weight", [rq], "norm"),
              TensorPlan(p + "self_attn.q_b_proj.weight", [H * (dn + dr), rq], "attn")]
    t += [TensorPlan(p + "self_attn.kv_a_proj_with_mqa.weight", [rkv + dr, D], "attn"),
          TensorPlan(p + "self_attn.kv_a_layernorm.weight", [rkv], "norm"),
          TensorPlan(p + "self_attn.kv_b_proj.weight", [H * (dn + dv), rkv], "attn"),
          TensorPlan(p + "self_attn.o_proj.weight", [D, H * dv], "attn")]

    def mlp(prefix, width):
        return [TensorPlan(prefix + "gate_proj.weight", [width, D], "mlp"),
                TensorPlan(prefix + "up_proj.weight", [width, D], "mlp"),
                TensorPlan(prefix + "down_proj.weight", [D, width], "mlp")]

    if not moe:
        t += mlp(p + "mlp.", cfg["intermediate_size"])
    else:
        E, I = cfg["n_routed_experts"], cfg["moe_intermediate_size"]
        t.append(TensorPlan(p + "mlp.gate.weight", [E, D], "gate"))
        if cfg.get("topk_method") == "noaux_tc":
            t.append(TensorPlan(p + "mlp.gate.e_score_correction_bias", [E], "bias"))
        for e in range(E):
            t += mlp(p + f"mlp.experts.{e}.", I)
        if cfg.get("n_shared_experts"):
            t += mlp(p + "mlp.shared_experts.", cfg["n_shared_experts"] * I)
    return t


def plan_tensors(cfg, mtp):
    """All tensors of the checkpoint, in natural (layer) order."""
    D, V, L = cfg["hidden_size"], cfg["vocab_size"], cfg["num_hidden_layers"]
    plan = [TensorPlan("model.embed_tokens.weight", [V, D], "embed")]
    for i in range(L):
        plan += _decoder_layer(cfg, i, _is_moe_layer(cfg, i))
    if mtp:
        p = f"model.layers.{L}."
        plan += [TensorPlan(p + "embed_tokens.weight", [V, D], "embed",
                            seed_name="model.embed_tokens.weight"),
                 TensorPlan(p + "enorm.weight", [D], "norm"),
                 TensorPlan(p + "hnorm.weight", [D], "norm"),
                 TensorPlan(p + "eh_proj.weight", [D, 2 * D], "eh")]
        plan += _decoder_layer(cfg, L, True)
        plan += [TensorPlan(p + "shared_head.norm.weight", [D], "norm"),
                 TensorPlan(p + "shared_head.head.weight", [V, D], "head",
                            seed_name="lm_head.weight")]
    plan += [TensorPlan("model.norm.weight", [D], "norm"),
             TensorPlan("lm_head.weight", [V, D], "head")]
    return plan


# ---------------------------------------------------------------------------------------
# random values
# ---------------------------------------------------------------------------------------

def init_scales(cfg, sharp, large):
    """Standard deviations (normal) per kind, and the half-width of the uniform jitter of
    norm weights around 1.

    Small models: 0.08 for attention and gate matrices, 0.04 for MLPs, norms 1 +- 0.05,
    embeddings 0.5 and lm_head 1/sqrt(D) so logits have O(1) spread. --sharp follows the
    architecture doc's numerics section: 0.1 attention/gate, 0.05 MLP, norms 1 +- 0.1.
    Real-shaped models: initializer_range (0.02) everywhere; values do not matter there."""
    D = cfg["hidden_size"]
    if large:
        s = {"attn": 0.02, "mlp": 0.02, "gate": 0.02, "eh": 0.02, "embed": 0.02,
             "head": 0.02, "bias": 0.01, "norm_jitter": 0.0}
    elif sharp:
        s = {"attn": 0.1, "mlp": 0.05, "gate": 0.1, "eh": 0.05, "embed": 0.5,
             "head": 1.0 / math.sqrt(D), "bias": 0.15, "norm_jitter": 0.1}
    else:
        s = {"attn": 0.08, "mlp": 0.04, "gate": 0.08, "eh": 0.04, "embed": 0.5,
             "head": 1.0 / math.sqrt(D), "bias": 0.15, "norm_jitter": 0.05}
    return s


def _row_chunk(shape):
    """Rows per generation chunk: a multiple of 128 (whole FP8 tiles), <= ~32M values."""
    if len(shape) == 1:
        return shape[0]
    rows = max(128, ((1 << 25) // max(1, shape[1])) // 128 * 128)
    return min(rows, shape[0])


def generate_chunks(t, seed, scales):
    """Yield float32 row blocks of tensor t (deterministic from seed and t.seed_name)."""
    rng = np.random.default_rng([seed, zlib.crc32(t.seed_name.encode())])
    if t.kind == "norm":
        j = scales["norm_jitter"]
        v = np.ones(t.shape, np.float32)
        if j:
            v += rng.uniform(-j, j, size=t.shape).astype(np.float32)
        yield v
        return
    if t.kind == "bias":
        yield (rng.standard_normal(t.shape, dtype=np.float32) * np.float32(scales["bias"]))
        return
    std = np.float32(scales[t.kind])
    rows = _row_chunk(t.shape)
    for r0 in range(0, t.shape[0], rows):
        n = min(rows, t.shape[0] - r0)
        yield rng.standard_normal((n,) + t.shape[1:], dtype=np.float32) * std


def storage_dtype(t, dtype):
    """Safetensors dtype of tensor t under --dtype."""
    if t.kind == "bias" or dtype == "f32":
        return "F32"
    if dtype == "fp8" and t.kind in _LINEAR_KINDS:
        return "F8_E4M3"
    return "BF16"


# ---------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------

def build_config(preset, overrides, layers, mtp, dtype):
    p = PRESETS[preset]
    cfg = copy.deepcopy(p["config"])
    if layers is not None:
        cfg["num_hidden_layers"] = layers
    if mtp:
        if cfg["model_type"] == "deepseek_v2":
            raise SystemExit("--mtp: DeepSeek-V2 models have no MTP module")
        cfg["num_nextn_predict_layers"] = 1
    cfg["torch_dtype"] = {"f32": "float32", "bf16": "bfloat16", "fp8": "bfloat16"}[dtype]
    for key, value in overrides:
        target = cfg
        parts = key.split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    if dtype == "fp8":
        cfg["quantization_config"] = dict(FP8_QUANT_CONFIG)
    full = cfg
    if "wrap" in p:
        full = copy.deepcopy(p["wrap"])
        full["text_config"] = cfg
        full["torch_dtype"] = cfg["torch_dtype"]
        if dtype == "fp8":
            full["quantization_config"] = dict(FP8_QUANT_CONFIG)
    return cfg, full


def _assign_shards(groups, n_shards):
    """Split groups (lists of (TensorPlan, st_dtype, bytes)) into n contiguous shards of
    roughly equal size; a weight and its scale_inv stay together."""
    total = sum(b for g in groups for _, _, b in g)
    shards = [[] for _ in range(n_shards)]
    acc, k = 0, 0
    for g in groups:
        gb = sum(b for _, _, b in g)
        if k < n_shards - 1 and acc >= total * (k + 1) / n_shards and shards[k]:
            k += 1
        shards[k] += g
        acc += gb
    return shards


def write_model(out_dir, preset, dtype=None, n_shards=1, sharp=False, seed=0, mtp=False,
                layers=None, overrides=(), quiet=True):
    p = PRESETS[preset]
    dtype = dtype or p.get("dtype", "f32")
    cfg, full_cfg = build_config(preset, overrides, layers, mtp, dtype)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(full_cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    scales = init_scales(cfg, sharp, p.get("large", False))
    block = FP8_QUANT_CONFIG["weight_block_size"]

    groups = []
    for t in plan_tensors(cfg, mtp):
        sd = storage_dtype(t, dtype)
        nbytes = st_io.ST_DTYPE_SIZE[sd] * int(np.prod(t.shape))
        g = [(t, sd, nbytes)]
        if sd == "F8_E4M3":
            sshape = (-(-t.shape[0] // block[0]), -(-t.shape[1] // block[1]))
            s = TensorPlan(t.name + "_scale_inv", sshape, "scale_inv")
            g.append((s, "F32", 4 * sshape[0] * sshape[1]))
        groups.append(g)

    if n_shards <= 1:
        files = [("model.safetensors", [e for g in groups for e in g])]
    else:
        shards = _assign_shards(groups, n_shards)
        files = [(f"model-{k + 1:05d}-of-{n_shards:05d}.safetensors", s)
                 for k, s in enumerate(shards)]
    weight_map = {}
    total = 0
    for fname, entries in files:
        entries = sorted(entries, key=lambda e: e[0].name)  # name order, as HF files are
        writer = st_io.SafetensorsWriter(os.path.join(out_dir, fname),
                                         [(t.name, sd, t.shape) for t, sd, _ in entries])
        pending_scale = {}
        for t, sd, nbytes in entries:
            weight_map[t.name] = fname
            total += nbytes
            if t.kind == "scale_inv":
                writer.write(t.name, pending_scale.pop(t.name))
                continue
            scale_rows = []
            for chunk in generate_chunks(t, seed, scales):
                if sd == "F32":
                    writer.write(t.name, chunk.astype(np.float32))
                elif sd == "BF16":
                    writer.write(t.name, st_io.f32_to_bf16_bits(chunk))
                else:
                    q, s = st_io.quantize_fp8_blocks(chunk, block)
                    writer.write(t.name, q)
                    scale_rows.append(s)
            if sd == "F8_E4M3":
                pending_scale[t.name + "_scale_inv"] = np.concatenate(scale_rows, axis=0)
            if not quiet:
                print(f"  {fname}: {t.name} {list(t.shape)} {sd}", file=sys.stderr)
        writer.close()
        if pending_scale:
            raise RuntimeError(f"scale_inv not written: {list(pending_scale)}")
    if n_shards > 1:
        index = {"metadata": {"total_size": total},
                 "weight_map": dict(sorted(weight_map.items()))}
        with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
            json.dump(index, f, indent=2)
            f.write("\n")
    return full_cfg


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset")
    ap.add_argument("--out")
    ap.add_argument("--dtype", choices=["f32", "bf16", "fp8"],
                    help="default: the preset's (f32 for the small ones)")
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--sharp", action="store_true",
                    help="larger weights (doc numerics section), for bf16 sensitivity tests")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mtp", action="store_true", help="add the MTP module (layer L)")
    ap.add_argument("--layers", type=int, help="override num_hidden_layers")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                    help="override a text-config field, JSON value (dotted keys for "
                         "nested fields, e.g. rope_scaling.factor=10)")
    ap.add_argument("--tokenizer", metavar="DIR",
                    help="copy tokenizer.json / tokenizer_config.json from DIR (a GGUF made from "
                         "the model then carries a vocabulary, which llama.cpp needs; the "
                         "vocabulary must fit vocab_size, e.g. --set vocab_size=129280 for "
                         "DeepSeek-V3's)")
    ap.add_argument("--list-presets", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    if a.list_presets:
        for name, p in PRESETS.items():
            c = p["config"]
            dims = (f"D={c['hidden_size']} L={c['num_hidden_layers']} H={c['num_attention_heads']}"
                    f" E={c['n_routed_experts']}/{c['num_experts_per_tok']}"
                    f" V={c['vocab_size']} default dtype={p.get('dtype', 'f32')}")
            print(f"{name:18s} {dims}\n{'':18s} {p['about']}")
        return 0
    if not a.preset or not a.out:
        ap.error("--preset and --out are required")
    if a.preset not in PRESETS:
        ap.error(f"unknown preset {a.preset!r}; see --list-presets")
    overrides = []
    for kv in a.set:
        key, _, value = kv.partition("=")
        try:
            overrides.append((key, json.loads(value)))
        except json.JSONDecodeError:
            overrides.append((key, value))
    write_model(a.out, a.preset, a.dtype, a.shards, a.sharp, a.seed, a.mtp, a.layers,
                overrides, quiet=not a.verbose)
    if a.tokenizer:
        with open(os.path.join(a.tokenizer, "tokenizer.json"), encoding="utf-8") as f:
            tok = json.load(f)
        n_tok = max([int(i) for i in tok["model"]["vocab"].values()] +
                    [int(t["id"]) for t in tok.get("added_tokens", [])]) + 1
        with open(os.path.join(a.out, "config.json"), encoding="utf-8") as f:
            vocab = json.load(f).get("vocab_size")
        if vocab is None or n_tok > vocab:
            sys.exit(f"the tokenizer has {n_tok} ids but vocab_size is {vocab}")
        for name in ("tokenizer.json", "tokenizer_config.json"):
            src = os.path.join(a.tokenizer, name)
            if os.path.exists(src):
                shutil.copyfile(src, os.path.join(a.out, name))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Config, safetensors writer/reader and HF-directory export for the model."""
import json
import os
import struct

import numpy as np
import torch

from model import DeepseekV3

# Order of dtypes as in the safetensors crate's Dtype enum (used for sorting).
_DTYPE_RANK = {"BOOL": 0, "U8": 1, "I8": 2, "F8_E5M2": 3, "F8_E4M3": 4, "I16": 5, "U16": 6,
               "F16": 7, "BF16": 8, "I32": 9, "U32": 10, "F32": 11, "F64": 12, "I64": 13, "U64": 14}


def make_config(vocab_size, hidden=256, layers=4, heads=4, q_lora=96, kv_lora=64, nope=32, rope=16,
                v=32, experts=8, topk=2, n_group=4, topk_group=2, moe_inter=128, inter=768,
                shared=1, dense=1, yarn=True):
    cfg = {
        "architectures": ["DeepseekV3ForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "aux_loss_alpha": 0.001,
        "bos_token_id": 0,
        "eos_token_id": 1,
        "ep_size": 1,
        "first_k_dense_replace": dense,
        "hidden_act": "silu",
        "hidden_size": hidden,
        "initializer_range": 0.02,
        "intermediate_size": inter,
        "kv_lora_rank": kv_lora,
        "max_position_embeddings": 163840 if yarn else 4096,
        "model_type": "deepseek_v3",
        "moe_intermediate_size": moe_inter,
        "moe_layer_freq": 1,
        "n_group": n_group,
        "n_routed_experts": experts,
        "n_shared_experts": shared,
        "norm_topk_prob": True,
        "num_attention_heads": heads,
        "num_experts_per_tok": topk,
        "num_hidden_layers": layers,
        "num_key_value_heads": heads,
        "num_nextn_predict_layers": 1,
        "pretraining_tp": 1,
        "q_lora_rank": q_lora,
        "qk_nope_head_dim": nope,
        "qk_rope_head_dim": rope,
        "rms_norm_eps": 1e-06,
        "rope_scaling": {
            "beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 1.0, "mscale_all_dim": 1.0,
            "original_max_position_embeddings": 4096, "type": "yarn",
        } if yarn else None,
        "rope_theta": 10000,
        "routed_scaling_factor": 2.5,
        "scoring_func": "sigmoid",
        "seq_aux": True,
        "tie_word_embeddings": False,
        "topk_group": topk_group,
        "topk_method": "noaux_tc",
        "torch_dtype": "bfloat16",
        "transformers_version": "4.33.1",
        "use_cache": True,
        "v_head_dim": v,
        "vocab_size": vocab_size,
    }
    return cfg


def _tensor_bytes(t, dtype):
    t = t.detach().cpu().contiguous()
    if dtype == "BF16":
        return t.to(torch.bfloat16).view(torch.int16).numpy().tobytes()
    if dtype == "F32":
        return t.to(torch.float32).numpy().astype("<f4").tobytes()
    raise ValueError(dtype)


def save_safetensors(tensors, path, metadata=None):
    """tensors: dict name -> (torch tensor, dtype str). Layout as the safetensors
    crate writes it: data sorted by dtype (descending enum order) then name,
    compact JSON header with __metadata__ first, padded with spaces to 8 bytes."""
    metadata = {"format": "pt"} if metadata is None else metadata
    items = sorted(tensors.items(), key=lambda kv: (-_DTYPE_RANK[kv[1][1]], kv[0]))
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    blobs = []
    off = 0
    for name, (t, dt) in items:
        b = _tensor_bytes(t, dt)
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    hb = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    """Returns dict name -> float32 torch tensor."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = data[a:b]
        if info["dtype"] == "BF16":
            x = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = x.view(np.float32)
        elif info["dtype"] == "F32":
            arr = np.frombuffer(raw, dtype="<f4")
        else:
            raise ValueError(info["dtype"])
        out[name] = torch.from_numpy(arr.copy()).reshape(info["shape"])
    return out


def export_tensors(model):
    """State dict -> checkpoint tensors, adding the MTP copies of embedding and head."""
    cfg = model.cfg
    sd = model.state_dict()
    out = {}
    for k, v in sd.items():
        dt = "F32" if k.endswith("e_score_correction_bias") else "BF16"
        out[k] = (v, dt)
    L = cfg["num_hidden_layers"]
    for j in range(cfg.get("num_nextn_predict_layers", 0)):
        out[f"model.layers.{L + j}.embed_tokens.weight"] = (sd["model.embed_tokens.weight"], "BF16")
        out[f"model.layers.{L + j}.shared_head.head.weight"] = (sd["lm_head.weight"], "BF16")
    return out


def export_hf(model, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(model.cfg, f, indent=2)
        f.write("\n")
    save_safetensors(export_tensors(model), os.path.join(out_dir, "model.safetensors"))


def load_hf(model_dir):
    """Load config + BF16 weights into a float32 DeepseekV3."""
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    model = DeepseekV3(cfg)
    ts = load_safetensors(os.path.join(model_dir, "model.safetensors"))
    L = cfg["num_hidden_layers"]
    sd = {}
    for k, v in ts.items():
        if k.startswith(f"model.layers.{L}.embed_tokens") or k.startswith(f"model.layers.{L}.shared_head.head"):
            continue  # copies of the main model's embedding / head
        sd[k] = v
    missing, unexpected = model.load_state_dict(sd, strict=True), None
    model.eval()
    return model

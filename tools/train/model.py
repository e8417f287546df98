"""DeepSeek-V3 in PyTorch, written to match /work/shared/docs/deepseek-architecture.md.

MLA with q-LoRA, interleaved (GPT-J) YaRN RoPE with the m^2 softmax scale,
sigmoid MoE with noaux_tc group-limited routing and a correction bias, shared
expert, dense first layers, and one MTP module. Parameter names follow the HF
checkpoint layout so that state_dict keys map directly to tensor names.

Training-only extras: `doc` ids give a block-diagonal causal mask so that several
examples can share one packed row, each with its own positions starting at 0
(equivalent to running them separately).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def cfg_get(cfg, k, default=None):
    v = cfg.get(k, default)
    return default if v is None else v


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        dt = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return (x * self.weight.float()).to(dt)


def yarn_get_mscale(scale, mscale):
    if scale <= 1:
        return 1.0
    return 0.1 * mscale * math.log(scale) + 1.0


class Rope:
    """Interleaved-pair RoPE with optional YaRN frequency correction."""

    def __init__(self, cfg):
        dr = cfg["qk_rope_head_dim"]
        theta = cfg_get(cfg, "rope_theta", 10000.0)
        j = torch.arange(0, dr // 2, dtype=torch.float64)
        omega = theta ** (-2.0 * j / dr)
        rs = cfg.get("rope_scaling")
        self.mscale_ratio = 1.0
        self.softmax_m = 1.0
        if rs and rs.get("type", rs.get("rope_type")) == "yarn" and rs.get("factor", 1.0) > 1:
            factor = rs["factor"]
            L0 = rs["original_max_position_embeddings"]
            bf, bs = rs.get("beta_fast", 32), rs.get("beta_slow", 1)

            def corr(r):
                return dr * math.log(L0 / (2 * math.pi * r)) / (2 * math.log(theta))

            low = max(math.floor(corr(bf)), 0)
            high = min(math.ceil(corr(bs)), dr - 1)
            if low == high:
                high += 0.001
            ramp = ((j - low) / (high - low)).clamp(0, 1)
            omega = (1 - ramp) * omega + ramp * omega / factor
            self.mscale_ratio = yarn_get_mscale(factor, rs.get("mscale", 1.0)) / \
                yarn_get_mscale(factor, rs.get("mscale_all_dim", 0.0))
            m = yarn_get_mscale(factor, rs.get("mscale_all_dim", 0.0))
            self.softmax_m = m
        self.omega = omega.float()
        self.low_high = None

    def cos_sin(self, pos):
        # pos: integer tensor [...]; angle in fp32
        ang = pos.float()[..., None] * self.omega.to(pos.device)
        return torch.cos(ang) * self.mscale_ratio, torch.sin(ang) * self.mscale_ratio

    @staticmethod
    def apply(x, cos, sin):
        # x [..., dr] with pairs (2j, 2j+1); cos/sin [..., dr/2] broadcastable
        x0 = x[..., 0::2]
        x1 = x[..., 1::2]
        y0 = x0 * cos - x1 * sin
        y1 = x0 * sin + x1 * cos
        return torch.stack([y0, y1], dim=-1).flatten(-2)


class MLA(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        D = cfg["hidden_size"]
        self.H = H = cfg["num_attention_heads"]
        self.dn, self.dr, self.dv = cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"], cfg["v_head_dim"]
        self.rq, self.rkv = cfg.get("q_lora_rank"), cfg["kv_lora_rank"]
        eps = cfg["rms_norm_eps"]
        if self.rq:
            self.q_a_proj = nn.Linear(D, self.rq, bias=False)
            self.q_a_layernorm = RMSNorm(self.rq, eps)
            self.q_b_proj = nn.Linear(self.rq, H * (self.dn + self.dr), bias=False)
        else:
            self.q_proj = nn.Linear(D, H * (self.dn + self.dr), bias=False)
        self.kv_a_proj_with_mqa = nn.Linear(D, self.rkv + self.dr, bias=False)
        self.kv_a_layernorm = RMSNorm(self.rkv, eps)
        self.kv_b_proj = nn.Linear(self.rkv, H * (self.dn + self.dv), bias=False)
        self.o_proj = nn.Linear(H * self.dv, D, bias=False)

    def forward(self, x, cos, sin, mask, scale, cache=None):
        B, T, _ = x.shape
        H, dn, dr, dv = self.H, self.dn, self.dr, self.dv
        if self.rq:
            q = self.q_b_proj(self.q_a_layernorm(self.q_a_proj(x)))
        else:
            q = self.q_proj(x)
        q = q.view(B, T, H, dn + dr)
        q_nope, q_pe = q[..., :dn], q[..., dn:]
        kv = self.kv_a_proj_with_mqa(x)
        c = self.kv_a_layernorm(kv[..., :self.rkv])
        k_pe = kv[..., self.rkv:]  # [B,T,dr]
        kvb = self.kv_b_proj(c).view(B, T, H, dn + dv)
        k_nope, v = kvb[..., :dn], kvb[..., dn:]
        q_pe = Rope.apply(q_pe, cos[:, :, None, :], sin[:, :, None, :])
        k_pe = Rope.apply(k_pe, cos, sin)
        if cache is not None:
            if "k_nope" in cache:
                k_nope = torch.cat([cache["k_nope"], k_nope], 1)
                k_pe = torch.cat([cache["k_pe"], k_pe], 1)
                v = torch.cat([cache["v"], v], 1)
            cache["k_nope"], cache["k_pe"], cache["v"] = k_nope, k_pe, v
        s = torch.einsum("bthd,bshd->bhts", q_nope, k_nope) + \
            torch.einsum("bthd,bsd->bhts", q_pe, k_pe)
        s = s.float() * scale
        s = s.masked_fill(~mask[:, None], float("-inf"))
        p = torch.softmax(s, dim=-1).to(v.dtype)
        o = torch.einsum("bhts,bshd->bthd", p, v).reshape(B, T, H * dv)
        return self.o_proj(o)


class MLP(nn.Module):
    def __init__(self, D, I):
        super().__init__()
        self.gate_proj = nn.Linear(D, I, bias=False)
        self.up_proj = nn.Linear(D, I, bias=False)
        self.down_proj = nn.Linear(I, D, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Gate(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        E, D = cfg["n_routed_experts"], cfg["hidden_size"]
        self.weight = nn.Parameter(torch.empty(E, D))
        self.topk_method = cfg_get(cfg, "topk_method", "greedy")
        if self.topk_method == "noaux_tc":
            self.register_buffer("e_score_correction_bias", torch.zeros(E, dtype=torch.float32))
        else:
            self.e_score_correction_bias = None
        self.E = E
        self.K = cfg["num_experts_per_tok"]
        self.n_group = cfg_get(cfg, "n_group", 1)
        self.topk_group = cfg_get(cfg, "topk_group", 1)
        self.scoring = cfg_get(cfg, "scoring_func", "softmax")
        self.norm_topk = cfg_get(cfg, "norm_topk_prob", False)
        self.rsf = cfg_get(cfg, "routed_scaling_factor", 1.0)

    def forward(self, x):
        # x [N, D] -> idx [N, K], w [N, K]
        u = F.linear(x.float(), self.weight.float())
        s = torch.sigmoid(u) if self.scoring == "sigmoid" else torch.softmax(u, dim=-1)
        sel = s + self.e_score_correction_bias if self.e_score_correction_bias is not None else s
        sel = sel.detach()
        if self.n_group > 1 and self.topk_method != "greedy":
            N = sel.shape[0]
            g = sel.view(N, self.n_group, -1)
            if self.topk_method == "noaux_tc":
                gs = g.topk(2, dim=-1).values.sum(-1)
            else:
                gs = s.detach().view(N, self.n_group, -1).max(-1).values
            gi = gs.topk(self.topk_group, dim=-1).indices
            gmask = torch.zeros_like(gs, dtype=torch.bool).scatter_(1, gi, True)
            sel = g.masked_fill(~gmask[..., None], float("-inf")).view(N, -1)
        idx = sel.topk(self.K, dim=-1).indices
        w = s.gather(1, idx)
        if self.norm_topk:
            w = w / (w.sum(-1, keepdim=True) + 1e-20)
        w = w * self.rsf
        return idx, w


class MoE(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        D, I = cfg["hidden_size"], cfg["moe_intermediate_size"]
        self.gate = Gate(cfg)
        self.experts = nn.ModuleList([MLP(D, I) for _ in range(cfg["n_routed_experts"])])
        ns = cfg_get(cfg, "n_shared_experts", 0)
        self.shared_experts = MLP(D, I * ns) if ns else None
        self.last_load = None

    def forward(self, x, valid=None):
        shp = x.shape
        xf = x.reshape(-1, shp[-1])
        idx, w = self.gate(xf)
        y = torch.zeros_like(xf)
        flat_idx = idx.reshape(-1)
        tok = torch.arange(xf.shape[0], device=x.device).repeat_interleave(idx.shape[1])
        flat_w = w.reshape(-1).to(x.dtype)
        for e, expert in enumerate(self.experts):
            sel = (flat_idx == e).nonzero(as_tuple=True)[0]
            if sel.numel() == 0:
                continue
            t = tok[sel]
            y.index_add_(0, t, expert(xf[t]) * flat_w[sel, None])
        with torch.no_grad():
            if valid is not None:
                vi = valid.reshape(-1)[:, None].expand_as(idx).reshape(-1)
                ids = flat_idx[vi]
            else:
                ids = flat_idx
            self.last_load = torch.bincount(ids, minlength=len(self.experts)).float()
        if self.shared_experts is not None:
            y = y + self.shared_experts(xf)
        return y.view(shp)


class DecoderLayer(nn.Module):
    def __init__(self, cfg, layer_idx):
        super().__init__()
        eps = cfg["rms_norm_eps"]
        self.self_attn = MLA(cfg)
        self.input_layernorm = RMSNorm(cfg["hidden_size"], eps)
        self.post_attention_layernorm = RMSNorm(cfg["hidden_size"], eps)
        self.is_moe = cfg.get("n_routed_experts") and layer_idx >= cfg_get(cfg, "first_k_dense_replace", 0) \
            and layer_idx % cfg_get(cfg, "moe_layer_freq", 1) == 0
        if self.is_moe:
            self.mlp = MoE(cfg)
        else:
            self.mlp = MLP(cfg["hidden_size"], cfg["intermediate_size"])

    def forward(self, h, cos, sin, mask, scale, valid=None, cache=None):
        h = h + self.self_attn(self.input_layernorm(h), cos, sin, mask, scale, cache)
        x = self.post_attention_layernorm(h)
        h = h + (self.mlp(x, valid) if self.is_moe else self.mlp(x))
        return h


class SharedHead(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.norm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])


class MTPLayer(DecoderLayer):
    """Decoder layer plus the MTP projections. Its head and embedding are the main
    model's (tied at training; written as copies under the MTP names at export)."""

    def __init__(self, cfg, layer_idx):
        super().__init__(cfg, layer_idx)
        D, eps = cfg["hidden_size"], cfg["rms_norm_eps"]
        self.enorm = RMSNorm(D, eps)
        self.hnorm = RMSNorm(D, eps)
        self.eh_proj = nn.Linear(2 * D, D, bias=False)
        self.shared_head = SharedHead(cfg)


class Inner(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        L = cfg["num_hidden_layers"]
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        layers = [DecoderLayer(cfg, i) for i in range(L)]
        for j in range(cfg_get(cfg, "num_nextn_predict_layers", 0)):
            layers.append(MTPLayer(cfg, L + j))
        self.layers = nn.ModuleList(layers)
        self.norm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])


class DeepseekV3(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.model = Inner(cfg)
        self.lm_head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)
        self.rope = Rope(cfg)
        dq = cfg["qk_nope_head_dim"] + cfg["qk_rope_head_dim"]
        self.scale = dq ** -0.5 * self.rope.softmax_m ** 2
        self.L = cfg["num_hidden_layers"]

    def init_weights(self, std=0.02):
        for n, p in self.named_parameters():
            if n.endswith("layernorm.weight") or n.endswith("norm.weight"):
                nn.init.ones_(p)
            else:
                nn.init.normal_(p, 0.0, std)
        # residual output projections scaled down by depth (GPT-2 style)
        nres = 2 * (self.L + 1)
        for n, p in self.named_parameters():
            if n.endswith("o_proj.weight") or n.endswith("down_proj.weight"):
                p.data.mul_(1 / math.sqrt(nres))

    def _mask_pos(self, ids, doc, pos):
        B, T = ids.shape
        if doc is None:
            doc = torch.zeros_like(ids)
        if pos is None:
            pos = torch.arange(T, device=ids.device)[None].expand(B, T)
        causal = torch.ones(T, T, dtype=torch.bool, device=ids.device).tril()
        mask = causal[None] & (doc[:, :, None] == doc[:, None, :])
        return mask, pos

    def forward(self, ids, doc=None, pos=None, valid=None, mtp=False):
        """Returns (logits [B,T,V], mtp_logits [B,T-1,V] or None).
        mtp_logits[:, i] is the MTP draft for token i+2 from position i (uses ids[:, i+1])."""
        mask, pos = self._mask_pos(ids, doc, pos)
        cos, sin = self.rope.cos_sin(pos)
        h = self.model.embed_tokens(ids)
        for layer in self.model.layers[:self.L]:
            h = layer(h, cos, sin, mask, self.scale, valid)
        hn = self.model.norm(h)
        logits = self.lm_head(hn)
        mtp_logits = None
        if mtp and len(self.model.layers) > self.L:
            m = self.model.layers[self.L]
            e = m.enorm(self.model.embed_tokens(ids[:, 1:]))
            g = m.hnorm(hn[:, :-1])
            u = m.eh_proj(torch.cat([e, g], dim=-1))
            T1 = ids.shape[1] - 1
            y = m(u, cos[:, :T1], sin[:, :T1], mask[:, :T1, :T1], self.scale,
                  None if valid is None else valid[:, :T1])
            mtp_logits = self.lm_head(m.shared_head.norm(y))
        return logits, mtp_logits

    @torch.no_grad()
    def step(self, ids, caches, start):
        """Incremental forward for a batch of equal-length sequences. ids [B, Tn] are
        the tokens at positions start..start+Tn-1; caches: list (one dict per main
        layer), filled in place. Returns logits [B, Tn, V] and normed hidden."""
        B, Tn = ids.shape
        S = start + Tn
        pos = torch.arange(start, S)[None].expand(B, Tn)
        mask = torch.ones(Tn, S, dtype=torch.bool).tril(diagonal=start)[None].expand(B, Tn, S)
        cos, sin = self.rope.cos_sin(pos)
        h = self.model.embed_tokens(ids)
        for layer, c in zip(self.model.layers[:self.L], caches):
            h = layer(h, cos, sin, mask, self.scale, None, c)
        hn = self.model.norm(h)
        return self.lm_head(hn), hn

    def moe_layers(self):
        return [l.mlp for l in self.model.layers if l.is_moe]


def count_params(model):
    return sum(p.numel() for p in model.parameters())

#!/usr/bin/python3
"""Self-test of the test-model tools (a few seconds, numpy only; torch for the bf16 check).

  selftest.py [-v]

1. Number formats and files: bf16 rounding against torch's .to(torch.bfloat16); e4m3fn
   encoding against a brute-force nearest-value search; FP8 block quantisation with partial
   edge tiles; safetensors header layout; single-file vs sharded checkpoints give the same
   tensors.
2. For every small preset (float32 weights, with the MTP module where the family has one):
   - plain and absorbed MLA agree to 1e-10;
   - decoding token by token with the KV cache equals the full forward pass (1e-10), and
     greedy generation with the cache equals generation by full recompute;
   - the MTP module run incrementally equals one pass;
   - each load-bearing detail, done wrong on purpose (rotate-half RoPE, no YaRN, no m^2,
     no kv norm, gating mistakes), moves the logits far beyond the f32 tolerance
     (the test models are sensitive to it);
   - the bf16 and fp8 versions of the model load and stay close to the f32 one.
Exit status 1 on any failure.
"""

import argparse
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_model  # noqa: E402
import reference as ref  # noqa: E402
import st_io  # noqa: E402

SMALL_PRESETS = ["v3-tiny", "v2-lite-tiny", "v2-tiny", "v3-norope-scaling", "kimi-tiny",
                 "kimi-k2-tiny", "fp8-small", "v3-sharp", "v2-sharp"]
# A detail counts as load-bearing when getting it wrong moves some logit by more than this
# (100x the f32-engine tolerance of docs/numerics.md).
SENSITIVITY_MIN = 1e-2

failures = []
verbose = False


def check(ok, what):
    if not ok:
        failures.append(what)
        print(f"FAIL {what}")
    elif verbose:
        print(f"ok   {what}")


# ---------------------------------------------------------------------------------------
# formats
# ---------------------------------------------------------------------------------------

def test_bf16_against_torch():
    import torch
    rng = np.random.default_rng(1)
    x = np.concatenate([
        rng.standard_normal(100000).astype(np.float32) * 3,
        rng.standard_normal(1000).astype(np.float32) * 1e-30,     # subnormal-ish
        np.array([0.0, -0.0, 1.0, 65504.0, 3.0e38, -3.0e38, 1.00390625, 1.01171875],
                 np.float32),                                      # ties (odd/even)
    ])
    # exact ties: mantissa low 16 bits == 0x8000
    ties = (rng.integers(0, 2 ** 31, 1000, dtype=np.uint32) & np.uint32(0x7FFF0000)) | np.uint32(0x8000)
    x = np.concatenate([x, ties.view(np.float32)])
    x = x[np.isfinite(x)]
    ours = st_io.f32_to_bf16_bits(x)
    theirs = torch.from_numpy(x).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    check(np.array_equal(ours, theirs), "bf16 round-to-nearest-even matches torch")
    back = st_io.bf16_bits_to_f32(ours)
    check(np.array_equal(back, torch.from_numpy(x).to(torch.bfloat16).float().numpy()),
          "bf16 decode matches torch")


def test_fp8():
    table = st_io.FP8_E4M3_TABLE
    check(table[0x7E] == 448.0 and np.isnan(table[0x7F]) and np.isnan(table[0xFF])
          and table[0x01] == 2.0 ** -9 and table[0x08] == 2.0 ** -6 and table[0x38] == 1.0,
          "e4m3fn table (max 448, NaN 0x7F/0xFF, subnormal 2^-9, 1.0 = 0x38)")
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.standard_normal(20000) * 50, rng.standard_normal(5000) * 0.01,
                        rng.uniform(-448, 448, 5000),
                        (table[:0x7E] + table[1:0x7F]) / 2,      # exact ties between codes
                        -(table[:0x7E] + table[1:0x7F]) / 2, table[:0x7F], [500.0, -1e4]])
    x = x.astype(np.float32)
    codes = st_io.f32_to_fp8_e4m3_bits(x)
    got = table[codes]
    # brute force: nearest finite value (saturate beyond 448), ties to the even code
    finite = np.arange(0x7F)
    vals = table[finite]
    xa = np.clip(np.abs(x.astype(np.float64)), 0, 448)
    dist = np.abs(xa[:, None] - vals[None, :])
    best = dist.min(axis=1, keepdims=True)
    cand = dist == best
    cand_even = cand & (finite[None, :] % 2 == 0)
    pick = np.where(cand_even.any(axis=1), cand_even.argmax(axis=1), cand.argmax(axis=1))
    want = np.where(np.signbit(x), -vals[pick], vals[pick])
    check(np.array_equal(got, want), "e4m3fn encoding = nearest value, ties to even, saturating")
    w = rng.standard_normal((300, 200)).astype(np.float32) * 0.05
    w[:128, :128] *= 10  # tiles with different ranges
    q, s = st_io.quantize_fp8_blocks(w)
    check(s.shape == (3, 2) and q.shape == (300, 200), "fp8 scale_inv shape [ceil(out/128), ceil(in/128)]")
    d = st_io.dequantize_fp8_blocks(q, s)
    amax = np.abs(w[256:, 128:]).max()
    check(np.isclose(s[2, 1], np.float32(amax / np.float32(448)), rtol=1e-7),
          "fp8 partial edge tile scale = amax / 448")
    rel = np.abs(d - w) / (np.abs(w) + 1e-3)
    check(rel.max() < 0.07 and np.abs(d).max() <= np.abs(w).max() * (1 + 1e-6),
          "fp8 block dequantisation within e4m3 precision")


def test_safetensors_files(tmp):
    rng = np.random.default_rng(3)
    specs = [("a", "F32", (3, 5)), ("b.weight", "BF16", (7,)), ("c", "F8_E4M3", (4, 3))]
    data = {"a": rng.standard_normal((3, 5)).astype(np.float32),
            "b.weight": st_io.f32_to_bf16_bits(rng.standard_normal(7).astype(np.float32)),
            "c": rng.integers(0, 0x7E, (4, 3)).astype(np.uint8)}
    path = os.path.join(tmp, "t.safetensors")
    w = st_io.SafetensorsWriter(path, specs)
    for name, _, _ in specs:
        w.write(name, data[name])
    w.close()
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = f.read(n)
    check((8 + n) % 8 == 0 and header.rstrip(b" ").endswith(b"}") and len(header.rstrip(b" ")) > n - 8,
          "safetensors header padded with spaces to 8-byte alignment")
    st = st_io.SafetensorsFile(path)
    check(st.metadata == {"format": "pt"}, "safetensors __metadata__ {format: pt}")
    check(all(np.array_equal(st.raw(k), v) for k, v in data.items()), "safetensors round trip")

    # sharded vs single file, all dtypes: identical tensors
    one = os.path.join(tmp, "one")
    three = os.path.join(tmp, "three")
    make_model.write_model(one, "fp8-small", dtype="fp8", seed=5, mtp=True)
    make_model.write_model(three, "fp8-small", dtype="fp8", n_shards=3, seed=5, mtp=True)
    r1, r3 = st_io.CheckpointReader(one), st_io.CheckpointReader(three)
    check(sorted(r1.names()) == sorted(r3.names()) and len(r3.files) == 3
          and all(np.array_equal(r1.raw(n), r3.raw(n)) and r1.dtype(n) == r3.dtype(n)
                  for n in r1.names()), "3 shards hold exactly the single file's tensors")
    dt = {n: r1.dtype(n) for n in r1.names()}
    ok = all(
        (dt[n] == "F8_E4M3") == (n.endswith("proj.weight") or n.endswith("proj_with_mqa.weight"))
        for n in dt if not n.endswith("_scale_inv"))
    ok &= all(dt[n] == "F32" for n in dt if n.endswith("_scale_inv") or "correction_bias" in n)
    ok &= all(dt[n] == "BF16" for n in dt if "norm" in n or "embed" in n or "head" in n
              or n.endswith("mlp.gate.weight"))
    check(ok, "fp8 checkpoint: only 2-D projections are F8_E4M3; scale_inv/bias F32; rest BF16")
    L = 2
    m1 = st_io.CheckpointReader(one)
    check(np.array_equal(m1.raw(f"model.layers.{L}.embed_tokens.weight"), m1.raw("model.embed_tokens.weight"))
          and np.array_equal(m1.raw(f"model.layers.{L}.shared_head.head.weight"), m1.raw("lm_head.weight")),
          "MTP embed_tokens / shared_head.head are copies of the main ones")


# ---------------------------------------------------------------------------------------
# model checks
# ---------------------------------------------------------------------------------------

def maxdiff(a, b):
    return float(np.max(np.abs(a - b)))


BUGS = {
    "rotate-half RoPE": dict(rope_interleaved=False),
    "no YaRN": dict(yarn=False),
    "no m^2 in softmax scale": dict(m_squared=False),
    "no kv_a_layernorm": dict(kv_norm=False),
    "no e_score_correction_bias": dict(gate_bias=False),
    "biased scores as weights": dict(bias_in_weights=True),
    "no group limit": dict(group_limit=False),
    "ignore norm_topk_prob": dict(norm_topk=False),
    "no routed_scaling_factor": dict(routed_scaling=False),
}


def bug_applies(cfg, fam, bug):
    rs = cfg["rope_scaling"]
    yarn = rs is not None and rs["factor"] > 1
    if bug in ("no YaRN", "no m^2 in softmax scale"):
        return yarn and (bug == "no YaRN" or rs["mscale_all_dim"])
    if bug in ("no e_score_correction_bias", "biased scores as weights"):
        return cfg["topk_method"] == "noaux_tc"
    if bug == "no group limit":
        return cfg["n_group"] > 1 and cfg["topk_method"] != "greedy"
    if bug == "ignore norm_topk_prob":
        return cfg["norm_topk_prob"]
    if bug == "no routed_scaling_factor":
        return cfg["routed_scaling_factor"] != 1.0 and (fam == "v3" or not cfg["norm_topk_prob"])
    return True


def test_preset(preset, tmp):
    fam_v3 = make_model.PRESETS[preset]["config"]["model_type"] != "deepseek_v2"
    d = os.path.join(tmp, preset)
    make_model.write_model(d, preset, dtype="f32", seed=11, mtp=fam_v3)
    model = ref.load_model(d)
    cfg = model.cfg
    V = cfg["vocab_size"]
    rng = np.random.default_rng(7)
    toks = rng.integers(0, V, 16).tolist()

    lp, hp = ref.forward(model, toks)
    la, ha = ref.forward(model, toks, ref.Options(absorbed=True))
    check(maxdiff(lp, la) < 1e-10, f"{preset}: plain vs absorbed MLA ({maxdiff(lp, la):.1e})")
    check(lp.std() > 0.3, f"{preset}: logits not degenerate (std {lp.std():.2f})")

    for absorbed in (False, True):
        s = ref.Session(model, ref.Options(absorbed=absorbed))
        parts = [s.step(toks[:5])[0]] + [s.step([t])[0] for t in toks[5:]]
        inc = np.concatenate(parts)
        check(maxdiff(inc, lp) < 1e-10,
              f"{preset}: cached decode == full forward ({'absorbed' if absorbed else 'plain'}, "
              f"{maxdiff(inc, lp):.1e})")
    gen = ref.generate(model, toks[:6], 6)
    seq = list(toks[:6])
    for _ in range(6):
        seq.append(int(np.argmax(ref.forward(model, seq)[0][-1])))
    check(gen == seq[6:], f"{preset}: greedy with cache == full recompute")

    if model.has_mtp:
        draft = ref.mtp_forward(model, toks, hp)
        s = ref.Session(model)
        inc = np.concatenate([s.mtp_step(hp[i:i + 1], toks[i + 1:i + 2]) for i in range(len(toks) - 1)])
        check(draft.shape == (len(toks) - 1, V) and maxdiff(draft, inc) < 1e-10,
              f"{preset}: MTP incremental == one pass")
        draft_a = ref.mtp_forward(model, toks, ha, ref.Options(absorbed=True))
        check(maxdiff(draft, draft_a) < 1e-10, f"{preset}: MTP plain vs absorbed")

    results = {}
    for bug, kw in BUGS.items():
        if not bug_applies(cfg, model.family, bug):
            continue
        lb, _ = ref.forward(model, toks, ref.Options(**kw))
        results[bug] = maxdiff(lb, lp)
        check(results[bug] > SENSITIVITY_MIN,
              f"{preset}: sensitive to '{bug}' (max |dlogit| {results[bug]:.3g})")
    if verbose:
        print("     " + ", ".join(f"{k}: {v:.3g}" for k, v in results.items()))

    # the other storage dtypes: same values up to rounding
    for dtype, tol in (("bf16", 0.5), ("fp8", 2.0)):
        dd = os.path.join(tmp, preset + "-" + dtype)
        make_model.write_model(dd, preset, dtype=dtype, seed=11, n_shards=2)
        lq, _ = ref.forward(ref.load_model(dd), toks)
        check(0 < maxdiff(lq, lp) < tol, f"{preset}: {dtype} checkpoint close to f32 "
                                         f"({maxdiff(lq, lp):.3g})")
    return results


def test_config_handling(tmp):
    base = make_model.PRESETS["v3-tiny"]["config"]
    fam, cfg, _ = ref.resolve_config({"model_type": "deepseek_v3", "hidden_size": 64})
    check(cfg["rms_norm_eps"] == 1e-6 and cfg["n_group"] == 8 and cfg["scoring_func"] == "sigmoid"
          and cfg["topk_method"] == "noaux_tc" and cfg["routed_scaling_factor"] == 2.5
          and cfg["norm_topk_prob"] and cfg["moe_layer_freq"] == 1, "V3 config defaults")
    fam, cfg, _ = ref.resolve_config({"model_type": "deepseek_v2"})
    check(cfg["scoring_func"] == "softmax" and cfg["topk_method"] == "greedy"
          and cfg["n_group"] == 1 and not cfg["norm_topk_prob"], "V2 config defaults")
    fam, cfg, _ = ref.resolve_config({"model_type": "kimi_k25", "text_config": dict(base)})
    check(fam == "v3" and cfg["hidden_size"] == 64, "text_config nesting")
    for bad in ({"model_type": "llama"}, dict(base, hidden_act="gelu"),
                dict(base, rope_scaling={"type": "linear", "factor": 2}),
                dict(base, topk_method="foo")):
        try:
            ref.resolve_config(bad)
            check(False, f"rejects {bad.get('model_type')} variant")
        except ref.ConfigError:
            check(True, "rejects unsupported config")
    # --set overrides reach the written config
    d = os.path.join(tmp, "override")
    make_model.write_model(d, "v3-tiny", overrides=[("rope_scaling.factor", 10),
                                                   ("rms_norm_eps", 1e-5)])
    m = ref.load_model(d)
    check(m.cfg["rope_scaling"]["factor"] == 10 and m.cfg["rms_norm_eps"] == 1e-5,
          "--set overrides (dotted keys)")
    # YaRN numbers from the doc: V3 low = 10, high = 23; V3 softmax scale 0.1352338
    v3 = dict(ref.DEFAULTS["v3"], rope_scaling=dict(ref.YARN_DEFAULTS, **make_model._yarn(40, 4096)))
    check(abs(ref.softmax_scale(v3, ref.Options()) - 0.1352338) < 1e-7, "V3 softmax scale 0.1352338")
    w, mult = ref.rope_frequencies(v3, ref.Options(rope_angle_fp32=False))
    base_w = 10000.0 ** (-np.arange(32) * 2 / 64)
    ratio = w / base_w
    check(np.allclose(ratio[:11], 1) and np.allclose(ratio[23:], 1 / 40) and
          np.all((ratio[11:23] < 1) & (ratio[11:23] > 1 / 40)) and mult == 1.0,
          "V3 YaRN ramp: low 10, high 23")


def test_cli(tmp):
    """The command-line entry points, end to end on one small model."""
    import compare
    import contextlib
    import io
    d = os.path.join(tmp, "cli")
    make_model.main(["--preset", "v3-tiny", "--out", d, "--mtp", "--dtype", "bf16", "--shards", "2"])
    out, mtp, out_a = (os.path.join(tmp, n) for n in ("l.bin", "m.bin", "la.bin"))
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        ref.main(["--model", d, "--tokens", "1,2,3,4,5", "--out", out, "--mtp-out", mtp, "--gen", "4"])
        ref.main(["--model", d, "--tokens", "1,2,3,4,5", "--out", out_a, "--absorbed"])
        rc_same = compare.main([out, out_a, "--vocab", "512", "--atol", "1e-6"])
    gen = [int(t) for t in buf.getvalue().splitlines()[0].strip("[]").split(",")]
    model = ref.load_model(d)
    check(gen == ref.generate(model, [1, 2, 3, 4, 5], 4), "reference.py --gen prints the greedy tokens")
    lg = np.fromfile(out, "<f4").reshape(5, 512)
    check(np.abs(lg - ref.forward(model, [1, 2, 3, 4, 5])[0]).max() < 1e-5,
          "reference.py --out writes f32 [T, vocab]")
    check(np.fromfile(mtp, "<f4").size == 4 * 512, "reference.py --mtp-out writes [T-1, vocab]")
    check(rc_same == 0, "compare.py passes identical-up-to-rounding files")
    lg2 = lg.copy()
    lg2[2, 7] += 1e-3
    lg2.astype("<f4").tofile(out_a)
    with contextlib.redirect_stdout(io.StringIO()):
        rc_diff = compare.main([out, out_a, "--vocab", "512"])
    check(rc_diff == 1, "compare.py fails above --atol")


def main(argv=None):
    global verbose
    ap = argparse.ArgumentParser(description="self-test of tools/testmodel")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--preset", action="append", help="only these presets")
    a = ap.parse_args(argv)
    verbose = a.verbose
    with tempfile.TemporaryDirectory() as tmp:
        test_bf16_against_torch()
        test_fp8()
        test_safetensors_files(tmp)
        test_config_handling(tmp)
        test_cli(tmp)
        for preset in a.preset or SMALL_PRESETS:
            test_preset(preset, tmp)
    if failures:
        print(f"{len(failures)} FAILED")
        return 1
    print("selftest OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())

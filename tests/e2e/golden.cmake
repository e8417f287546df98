# Engine vs. float64 reference on generated checkpoints, once per kernel ISA (forced with
# DSINFER_ISA). An ISA this CPU lacks is reported as skipped (exit code 77).
set(DSINFER_GOLDEN ${CMAKE_CURRENT_SOURCE_DIR}/e2e/golden_test.py)
set(DSINFER_GOLDEN_CASES
  "v3_f32|--preset v3-tiny"
  "v2lite_f32|--preset v2-lite-tiny"
  "v2_f32|--preset v2-tiny"
  "v3_norope_f32|--preset v3-norope-scaling"
  "kimi_f32|--preset kimi-tiny"
  "v3_sharded|--preset v3-tiny --shards 3"
  "v3_mtp|--preset v3-tiny --mtp"
  "v3_long_context|--preset v3-tiny --n-tokens 600 --gen 8"
  # FP8 weights get a bf16 cache by default; the float tolerance is for float32 math.
  "fp8_mtp|--preset fp8-small --dtype fp8 --mtp --cache-type f32"
  "fp8|--preset fp8-small --dtype fp8 --cache-type f32"
  # The same FP8 models with the default (bf16) cache, held to the bounds of section 7.
  "fp8_bf16cache|--preset fp8-small --dtype fp8 --max-median 5e-3 --max-p90 1.2e-2 --max-worst-median 0.05"
  "kimi_k2_f32|--preset kimi-k2-tiny"
  "v3_bf16_sharp|--preset v3-sharp --dtype bf16 --ref-dtype f32 --sharp --n-tokens 32 --max-median 0.05 --max-p90 0.12"
  "v2_bf16_sharp|--preset v2-sharp --dtype bf16 --ref-dtype f32 --sharp --n-tokens 32 --max-median 0.05 --max-p90 0.12"
  # A bf16 KV cache is held to the same statistical bounds (docs/numerics.md, section 7).
  "v3_bf16_sharp_bf16cache|--preset v3-sharp --dtype bf16 --ref-dtype f32 --sharp --n-tokens 32 --max-median 0.05 --max-p90 0.12 --cache-type bf16"
  "v2_bf16_sharp_bf16cache|--preset v2-sharp --dtype bf16 --ref-dtype f32 --sharp --n-tokens 32 --max-median 0.05 --max-p90 0.12 --cache-type bf16"
  # 16 heads, cache rows of 64 + 32, 300 positions (two attention tiles): 8 heads per
  # thread, the shape the amx table's tile attention takes (at least 6 heads, widths that are
  # multiples of 32); f32 weights, bf16 cache, the bounds of
  # SessionTest.Bf16CacheLogitsStayCloseToF32Cache, and no position far off.
  "v3_16heads_bf16cache|--preset v3-tiny --set num_attention_heads=16 --set kv_lora_rank=64 --set qk_rope_head_dim=32 --n-tokens 300 --gen 8 --cache-type bf16 --max-median 5e-3 --max-p90 1.2e-2 --max-worst-median 0.05"
  # An 8-bit cache (docs/numerics.md, section 8): rows of 40 values (a zero-padded last
  # block), the tile-attention shape, and the bf16 sharp preset.
  "v3_q8cache|--preset v3-tiny --cache-type q8_0 --max-median 1e-2 --max-p90 2.5e-2 --max-worst-median 0.05"
  "v3_16heads_q8cache|--preset v3-tiny --set num_attention_heads=16 --set kv_lora_rank=64 --set qk_rope_head_dim=32 --n-tokens 300 --gen 8 --cache-type q8_0 --max-median 1e-2 --max-p90 2.5e-2 --max-worst-median 0.05"
  "v3_bf16_sharp_q8cache|--preset v3-sharp --dtype bf16 --ref-dtype f32 --sharp --n-tokens 32 --max-median 0.05 --max-p90 0.12 --cache-type q8_0"
)
dsinfer_script_tests(PREFIX golden SCRIPT ${DSINFER_GOLDEN} LABEL golden PER_ISA
                     CASES ${DSINFER_GOLDEN_CASES})

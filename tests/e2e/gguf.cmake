# GGUF round trips: `dsinfer quantize` on a random HF checkpoint, then `dsinfer logits` on
# the GGUF against the HF directory (bounds: docs/gguf.md), and the GGUF tokenizer against
# tokenizer.json. v3-sharp (D = 256) is the preset whose rows fit the k-quant blocks.
set(DSINFER_GGUF_TEST ${CMAKE_CURRENT_SOURCE_DIR}/e2e/gguf_test.py)
set(DSINFER_GGUF_CASES
  "v3_f32|--preset v3-tiny --type f32 --max-abs 1e-4"
  "v3_f32_kv_b|--preset v3-tiny --type f32 --mla kv_b --max-abs 1e-4"
  "v2lite_f32|--preset v2-lite-tiny --type f32 --max-abs 1e-4"
  "v2lite_f32_kv_b|--preset v2-lite-tiny --type f32 --mla kv_b --max-abs 1e-4"
  "v3_f16|--preset v3-tiny --type f16 --max-median 1e-3 --min-top1 0.95"
  "v3_q8_0|--preset v3-sharp --type q8_0 --max-median 0.03 --min-top1 0.9 --requant"
  "v3_q4_0|--preset v3-sharp --type q4_0 --max-median 0.35 --min-top1 0.45"
  "v3_q4_k_m|--preset v3-sharp --type q4_k_m --max-median 0.3 --min-top1 0.5 --requant"
  "v3_q4_k_m_kv_b|--preset v3-sharp --type q4_k_m --mla kv_b --max-median 0.3 --min-top1 0.5 --requant"
  "v2lite_q8_0|--preset v2-lite-tiny --type q8_0 --max-median 0.015 --min-top1 0.9"
  "v2lite_q4_k_m|--preset v2-lite-tiny --type q4_k_m --max-median 0.08 --min-top1 0.7"
  "tokenizer|--mode tokenizer"
)
dsinfer_script_tests(PREFIX gguf SCRIPT ${DSINFER_GGUF_TEST} LABEL gguf CASES ${DSINFER_GGUF_CASES})

# The quantised forward (row kernels for decode, integer tiles for the prompt) once per kernel
# table, forced; a table this CPU lacks is reported as skipped (exit code 77).
set(DSINFER_GGUF_ISA_CASES
  "v3_q4_k_m|--preset v3-sharp --type q4_k_m --max-median 0.3 --min-top1 0.5"
  "v2lite_q8_0|--preset v2-lite-tiny --type q8_0 --max-median 0.015 --min-top1 0.9"
)
dsinfer_script_tests(PREFIX gguf SCRIPT ${DSINFER_GGUF_TEST} LABEL gguf PER_ISA
                     CASES ${DSINFER_GGUF_ISA_CASES})

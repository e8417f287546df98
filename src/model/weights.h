// Weights of a DeepSeek-V2/V3 model, per layer, as views into the mapped checkpoint.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "model/config.h"
#include "ops/weight_view.h"

namespace ds {

class TensorStore;

struct MlaWeights {
  WeightView q_a;                // [q_lora_rank, D]            (q-LoRA models)
  std::vector<float> q_a_norm;   // [q_lora_rank]
  WeightView q_b;                // [H·(dn+dr), q_lora_rank]
  WeightView q;                  // [H·(dn+dr), D]             (models without q-LoRA)
  WeightView kv_a;               // [rkv + dr, D]
  std::vector<float> kv_a_norm;  // [rkv]
  WeightView kv_b;               // [H·(dn+dv), rkv]
  // The same up-projection split per head, as current GGUF files store it (then kv_b is
  // empty): k_b absorbs into the query, v_b expands the attended latent.
  WeightView k_b;  // [H·rkv, dn]  per head: [rkv, dn]
  WeightView v_b;  // [H·dv, rkv]  per head: [dv, rkv]
  WeightView o;    // [D, H·dv]
};

struct MlpWeights {
  WeightView gate, up;  // [I, D]
  WeightView down;      // [D, I]
  bool empty() const { return gate.empty(); }
};

struct MoeWeights {
  WeightView router;                // [E, D] (mlp.gate.weight)
  std::vector<float> score_bias;    // [E] e_score_correction_bias, empty when absent
  std::vector<MlpWeights> experts;  // [E]
  MlpWeights shared;                // width n_shared_experts · moe_intermediate_size
};

struct LayerWeights {
  std::vector<float> attn_norm, ffn_norm;  // [D]
  MlaWeights attn;
  bool is_moe = false;
  MlpWeights dense;  // when !is_moe
  MoeWeights moe;    // when is_moe
};

/// The multi-token-prediction module at layer index num_hidden_layers + k.
struct MtpWeights {
  std::vector<float> enorm, hnorm, head_norm;  // [D]
  WeightView eh_proj;                          // [D, 2D]: columns 0..D-1 take the embedding
  WeightView embed, head;                      // the module's own copies (same as the main model's)
  LayerWeights layer;
};

/// Points `copy` at `orig` when both hold the same bytes (same dtype and shape, no FP8
/// scales): released DeepSeek-V3 checkpoints store the MTP module's head and embedding as
/// copies of the main model's. One copy halves their page-cache footprint, and a draft then
/// reads the head the verification pass has just brought into the CPU caches. Tensors over
/// 256 MiB are left alone (comparing would page both in at load).
void share_if_identical(WeightView& copy, const WeightView& orig);

/// A loaded model: config plus weight views. Owns the mapped files the views point into.
class Model {
 public:
  /// Loads a HF model directory (config.json + safetensors) or a llama.cpp `.gguf` file;
  /// throws ds::Error on any problem.
  static std::unique_ptr<Model> load(const std::string& path);
  /// Loads the model compiled into the binary; throws ds::Error when there is none.
  static std::unique_ptr<Model> load_embedded();

  ModelConfig config;
  std::string path;
  std::string name;               // directory or file name, used as the API model id
  WeightView embed;               // [vocab, D]
  std::vector<float> final_norm;  // [D]
  WeightView lm_head;             // [vocab, D]
  std::vector<LayerWeights> layers;
  std::vector<MtpWeights> mtp;
  std::vector<float> rope_inv_freq;  // [dr/2] YaRN-corrected ω'_j, fp32
  float rope_attn_factor = 1.0f;     // cos/sin multiplier

  /// Total parameters, and parameters touched per token (shared + top-k experts), main model.
  int64_t n_params() const;
  int64_t n_active_params() const;
  /// Bytes of weights by dtype name.
  std::vector<std::pair<std::string, size_t>> bytes_by_dtype() const;
  /// Bytes of weights read to decode one token (shared parts plus num_experts_per_tok experts).
  size_t active_weight_bytes() const;
  /// KV-cache bytes per token (all main layers) for a cache of `cache_type` (F32 or BF16).
  int64_t kv_bytes_per_token(DType cache_type = DType::F32) const;

  std::shared_ptr<void> storage;  // keeps the mapped files alive

 private:
  /// Resolves every tensor the config calls for, with shape and dtype checks.
  void bind(const TensorStore& store);
};

/// Computes YaRN-corrected inverse frequencies ω'_j (architecture doc, "RoPE with YaRN").
std::vector<float> rope_inv_freq(const ModelConfig& c);

}  // namespace ds

#include "model/gguf_loader.h"

#include <filesystem>

#include "core/error.h"
#include "io/gguf.h"
#include "model/weights.h"
#include "ops/ops.h"
#include "quant/quant.h"

namespace ds {

namespace {

constexpr const char* kArch = "deepseek2";

// llama.cpp's expert_gating_func values (llama-hparams.h).
constexpr uint32_t kGatingSoftmax = 1, kGatingSigmoid = 2;

std::string key(const char* k) {
  return std::string(kArch) + "." + k;
}

std::string dims_str(const std::vector<int64_t>& d) {
  std::string r = "{";
  for (size_t i = 0; i < d.size(); ++i) r += (i ? ", " : "") + std::to_string(d[i]);
  return r + "}";
}

// ggml drops trailing dimensions of size 1 when it writes a tensor (ggml_n_dims).
std::vector<int64_t> trimmed(std::vector<int64_t> d) {
  while (d.size() > 1 && d.back() == 1) d.pop_back();
  return d;
}

// Resolves GGUF tensors as weight views, checking dims (ggml order) and type; every error
// names the file and the tensor.
class GgufBinder {
 public:
  GgufBinder(const GgufFile& f, const ModelConfig& c) : f_(f), c_(c) {}

  bool has(const std::string& name) const { return f_.find_tensor(name) != nullptr; }

  /// A matrix stored with ggml dims `ne`: our [ne[1]·ne[2]·…, ne[0]] row-major view.
  WeightView matrix(const std::string& name, const std::vector<int64_t>& ne) const {
    const GgufTensorInfo& t = info(name, ne);
    DType dt;
    const QuantTraits* q = quant_traits(t.type);
    if (!ggml_type_to_dtype(t.type, &dt) || !q || !q->dequantize)
      throw Error(cat(f_.path(), ": tensor '", name, "' has type ", ggml_type_name(t.type),
                      ", which dsinfer cannot compute with"));
    WeightView v;
    v.dtype = dt;
    v.data = f_.tensor_data(t);
    v.cols = ne[0];
    v.rows = 1;
    for (size_t i = 1; i < ne.size(); ++i) v.rows *= ne[i];
    return v;
  }

  /// A vector {n} (norm weights, biases) converted to fp32.
  std::vector<float> vec(const std::string& name, int64_t n) const {
    WeightView v = matrix(name, {n});
    std::vector<float> out(static_cast<size_t>(n));
    dequantize_row(v, 0, out.data());
    return out;
  }

  MlpWeights mlp(const std::string& p, const std::string& suffix, int64_t width) const {
    const int64_t D = c_.hidden_size;
    return {matrix(p + "ffn_gate" + suffix + ".weight", {D, width}),
            matrix(p + "ffn_up" + suffix + ".weight", {D, width}),
            matrix(p + "ffn_down" + suffix + ".weight", {width, D})};
  }

  LayerWeights layer(int64_t il, bool moe) const {
    const ModelConfig& c = c_;
    const std::string p = "blk." + std::to_string(il) + ".";
    const int64_t D = c.hidden_size, H = c.num_attention_heads;
    const int64_t dn = c.qk_nope_head_dim, dv = c.v_head_dim, rkv = c.kv_lora_rank;
    LayerWeights L;
    L.attn_norm = vec(p + "attn_norm.weight", D);
    L.ffn_norm = vec(p + "ffn_norm.weight", D);
    MlaWeights& a = L.attn;
    if (c.q_lora_rank > 0) {
      a.q_a = matrix(p + "attn_q_a.weight", {D, c.q_lora_rank});
      a.q_a_norm = vec(p + "attn_q_a_norm.weight", c.q_lora_rank);
      a.q_b = matrix(p + "attn_q_b.weight", {c.q_lora_rank, H * c.qk_head_dim()});
    } else {
      a.q = matrix(p + "attn_q.weight", {D, H * c.qk_head_dim()});
    }
    a.kv_a = matrix(p + "attn_kv_a_mqa.weight", {D, c.kv_cache_width()});
    a.kv_a_norm = vec(p + "attn_kv_a_norm.weight", rkv);
    if (has(p + "attn_k_b.weight") || !has(p + "attn_kv_b.weight")) {
      // Current layout (convert_hf_to_gguf.py splits kv_b per head and transposes k_b):
      // k_b {dn, rkv, H} is per head a [rkv, dn] matrix, v_b {rkv, dv, H} a [dv, rkv] one.
      a.k_b = matrix(p + "attn_k_b.weight", {dn, rkv, H});
      a.v_b = matrix(p + "attn_v_b.weight", {rkv, dv, H});
    } else {
      a.kv_b = matrix(p + "attn_kv_b.weight", {rkv, H * (dn + dv)});
    }
    a.o = matrix(p + "attn_output.weight", {H * dv, D});
    L.is_moe = moe;
    if (!moe) {
      L.dense = mlp(p, "", c.intermediate_size);
      return L;
    }
    const int64_t X = c.n_routed_experts, F = c.moe_intermediate_size;
    L.moe.router = matrix(p + "ffn_gate_inp.weight", {D, X});
    if (c.topk_method == TopkMethod::kNoauxTc)
      L.moe.score_bias = has(p + "exp_probs_b.bias") ? vec(p + "exp_probs_b.bias", X)
                                                     : std::vector<float>(size_t(X), 0.0f);
    // Experts are stacked along the outermost dimension: expert e is a block of rows.
    WeightView gate, up, gate_up;
    if (has(p + "ffn_gate_up_exps.weight"))
      gate_up = matrix(p + "ffn_gate_up_exps.weight", {D, 2 * F, X});  // gate half first
    else {
      gate = matrix(p + "ffn_gate_exps.weight", {D, F, X});
      up = matrix(p + "ffn_up_exps.weight", {D, F, X});
    }
    const WeightView down = matrix(p + "ffn_down_exps.weight", {F, D, X});
    L.moe.experts.reserve(size_t(X));
    for (int64_t e = 0; e < X; ++e) {
      MlpWeights w;
      w.gate = gate_up.empty() ? gate.row_slice(e * F, F) : gate_up.row_slice(2 * e * F, F);
      w.up = gate_up.empty() ? up.row_slice(e * F, F) : gate_up.row_slice(2 * e * F + F, F);
      w.down = down.row_slice(e * D, D);
      L.moe.experts.push_back(w);
    }
    if (c.n_shared_experts > 0) L.moe.shared = mlp(p, "_shexp", c.n_shared_experts * F);
    return L;
  }

 private:
  const GgufTensorInfo& info(const std::string& name, const std::vector<int64_t>& ne) const {
    const GgufTensorInfo* t = f_.find_tensor(name);
    if (!t) throw Error(cat(f_.path(), ": missing tensor '", name, "'"));
    if (trimmed(t->dims) != trimmed(ne))
      throw Error(cat(f_.path(), ": tensor '", name, "' has dims ", dims_str(t->dims),
                      ", expected ", dims_str(ne), " (ggml order)"));
    return *t;
  }

  const GgufFile& f_;
  const ModelConfig& c_;
};

}  // namespace

bool is_gguf_path(const std::string& path) {
  const std::string ext = std::filesystem::path(path).extension().string();
  return ext == ".gguf" || ext == ".GGUF";
}

ModelConfig config_from_gguf(const GgufFile& f) {
  const std::string arch = f.get_string("general.architecture", "");
  if (arch.empty()) throw Error(cat(f.path(), ": no 'general.architecture' key"));
  if (arch != kArch)
    throw Error(cat(f.path(), ": architecture '", arch,
                    "' is not supported (dsinfer runs DeepSeek models, architecture 'deepseek2')"));
  auto u32 = [&](const char* k) { return int64_t(f.get_u32(key(k))); };
  auto u32_or = [&](const char* k, uint32_t v) { return int64_t(f.get_u32(key(k), v)); };
  ModelConfig c;
  const int64_t n_layer_all = u32("block_count");
  c.num_nextn_predict_layers = u32_or("nextn_predict_layers", 0);
  // block_count includes the MTP layers appended after the main ones (llama.cpp n_layer_all).
  c.num_hidden_layers = n_layer_all - c.num_nextn_predict_layers;
  c.max_position_embeddings = u32("context_length");
  c.hidden_size = u32("embedding_length");
  c.intermediate_size = u32_or("feed_forward_length", 0);
  c.num_attention_heads = u32("attention.head_count");
  c.q_lora_rank = u32_or("attention.q_lora_rank", 0);
  c.kv_lora_rank = u32("attention.kv_lora_rank");
  c.qk_rope_head_dim = u32("rope.dimension_count");
  // Current files give the MLA head sizes in *_mla keys (key_length then describes the
  // latent); older ones only have key_length / value_length, as llama.cpp falls back to.
  const int64_t k_mla = f.has(key("attention.key_length_mla")) ? u32("attention.key_length_mla")
                                                               : u32("attention.key_length");
  c.v_head_dim = f.has(key("attention.value_length_mla")) ? u32("attention.value_length_mla")
                                                          : u32("attention.value_length");
  c.qk_nope_head_dim = k_mla - c.qk_rope_head_dim;
  c.rms_norm_eps = f.get_f32(key("attention.layer_norm_rms_epsilon"));
  c.rope_theta = f.get_f32(key("rope.freq_base"), 10000.0f);
  c.first_k_dense_replace = u32_or("leading_dense_block_count", 0);
  c.n_routed_experts = u32_or("expert_count", 0);
  c.num_experts_per_tok = u32_or("expert_used_count", 0);
  c.n_shared_experts = u32_or("expert_shared_count", 0);
  c.moe_intermediate_size = u32_or("expert_feed_forward_length", 0);
  // llama.cpp skips the scaling when the key is absent (0) or 1.
  const float scale = f.get_f32(key("expert_weights_scale"), 0.0f);
  c.routed_scaling_factor = scale == 0.0f ? 1.0 : double(scale);
  c.norm_topk_prob = f.get_bool(key("expert_weights_norm"), false);
  // Absent: softmax, "for compatibility with existing DeepSeek V2 and V2.5 GGUFs".
  const uint32_t gating = f.get_u32(key("expert_gating_func"), kGatingSoftmax);
  if (gating == kGatingSoftmax)
    c.scoring_func = ScoringFunc::kSoftmax;
  else if (gating == kGatingSigmoid)
    c.scoring_func = ScoringFunc::kSigmoid;
  else
    throw Error(cat(f.path(), ": key '", key("expert_gating_func"), "' = ", gating,
                    " is not supported (expected 1 = softmax or 2 = sigmoid)"));
  c.n_group = std::max<int64_t>(1, u32_or("expert_group_count", 1));
  c.topk_group = std::max<int64_t>(1, u32_or("expert_group_used_count", uint32_t(c.n_group)));
  // The routing rule: a selection bias (V3's e_score_correction_bias) means noaux_tc;
  // otherwise groups that restrict the choice are DeepSeek-V2's group_limited_greedy.
  bool has_bias = false;
  for (int64_t il = c.first_k_dense_replace; il < n_layer_all && !has_bias; ++il)
    has_bias = f.find_tensor("blk." + std::to_string(il) + ".exp_probs_b.bias") != nullptr;
  if (has_bias)
    c.topk_method = TopkMethod::kNoauxTc;
  else if (c.n_group > 1 && c.topk_group < c.n_group)
    c.topk_method = TopkMethod::kGroupLimitedGreedy;
  else
    c.topk_method = TopkMethod::kGreedy;
  // V3 semantics (scale always applied) are what llama.cpp computes for every deepseek2 file.
  c.model_type =
      has_bias || c.scoring_func == ScoringFunc::kSigmoid ? "deepseek_v3" : "deepseek_v2";
  if (c.model_type == "deepseek_v2" && c.norm_topk_prob && c.routed_scaling_factor != 1.0)
    c.model_type = "deepseek_v3";
  const std::string rope_type = f.get_string(key("rope.scaling.type"), "none");
  if (rope_type == "yarn") {
    c.rope_factor = f.get_f32(key("rope.scaling.factor"), 1.0f);
    c.yarn = c.rope_factor > 1.0;
    c.original_max_position_embeddings = u32_or("rope.scaling.original_context_length", 4096);
    c.beta_fast = f.get_f32(key("rope.scaling.yarn_beta_fast"), 32.0f);
    c.beta_slow = f.get_f32(key("rope.scaling.yarn_beta_slow"), 1.0f);
    // The converter writes 0.1·mscale_all_dim; llama.cpp assumes mscale = mscale_all_dim
    // whenever the latter is not 1 (DeepSeek-V2's configs have both 0.707), else 1.
    if (f.has(key("rope.scaling.yarn_log_multiplier"))) {
      c.mscale_all_dim = double(f.get_f32(key("rope.scaling.yarn_log_multiplier"))) / 0.1;
      c.mscale = c.mscale_all_dim != 1.0 ? c.mscale_all_dim : 1.0;
    }
  } else if (rope_type != "none") {
    throw Error(cat(f.path(), ": key '", key("rope.scaling.type"), "' = '", rope_type,
                    "' is not supported (expected yarn or none)"));
  }
  if (f.has(key("vocab_size")))
    c.vocab_size = u32("vocab_size");
  else if (f.has("tokenizer.ggml.tokens"))
    c.vocab_size = int64_t(f.get_string_array("tokenizer.ggml.tokens").size());
  else if (const GgufTensorInfo* t = f.find_tensor("token_embd.weight"); t && t->dims.size() == 2)
    c.vocab_size = t->dims[1];
  if (f.has("tokenizer.ggml.bos_token_id"))
    c.bos_token_id = f.get_u32("tokenizer.ggml.bos_token_id");
  if (f.has("tokenizer.ggml.eos_token_id"))
    c.eos_token_id = f.get_u32("tokenizer.ggml.eos_token_id");
  if (c.num_hidden_layers < 1)
    throw Error(cat(f.path(), ": ", key("block_count"), " = ", n_layer_all,
                    " leaves no layers after ", c.num_nextn_predict_layers, " MTP layers"));
  if (k_mla <= c.qk_rope_head_dim)
    throw Error(cat(f.path(), ": MLA key length ", k_mla, " must exceed the RoPE dimension count ",
                    c.qk_rope_head_dim));
  c.validate(f.path());
  return c;
}

std::unique_ptr<Model> load_gguf_model(const std::string& path) {
  auto file = std::make_shared<GgufFile>(GgufFile::open(path));
  auto m = std::make_unique<Model>();
  m->path = path;
  m->name = std::filesystem::path(path).filename().string();
  if (file->has("general.name")) {
    const GgufValue* v = file->find("general.name");
    if (v->type() == GgufType::STRING && !v->as_string().empty()) m->name = v->as_string();
  }
  m->config = config_from_gguf(*file);
  m->storage = file;
  const ModelConfig& c = m->config;
  GgufBinder b(*file, c);
  const int64_t D = c.hidden_size, V = c.vocab_size;
  m->embed = b.matrix("token_embd.weight", {D, V});
  m->final_norm = b.vec("output_norm.weight", D);
  // Tied embeddings: llama.cpp uses token_embd when there is no output.weight.
  m->lm_head = b.has("output.weight") ? b.matrix("output.weight", {D, V}) : m->embed;
  m->layers.reserve(size_t(c.num_hidden_layers));
  for (int64_t il = 0; il < c.num_hidden_layers; ++il)
    m->layers.push_back(b.layer(il, c.is_moe_layer(il)));
  for (int64_t k = 0; k < c.num_nextn_predict_layers; ++k) {
    const int64_t il = c.num_hidden_layers + k;
    const std::string p = "blk." + std::to_string(il) + ".";
    if (!b.has(p + "nextn.eh_proj.weight")) break;  // a trunk-only file: fine
    MtpWeights t;
    t.enorm = b.vec(p + "nextn.enorm.weight", D);
    t.hnorm = b.vec(p + "nextn.hnorm.weight", D);
    t.eh_proj = b.matrix(p + "nextn.eh_proj.weight", {2 * D, D});
    t.head_norm = b.has(p + "nextn.shared_head_norm.weight")
                      ? b.vec(p + "nextn.shared_head_norm.weight", D)
                      : m->final_norm;
    t.head = b.has(p + "nextn.shared_head_head.weight")
                 ? b.matrix(p + "nextn.shared_head_head.weight", {D, V})
                 : m->lm_head;
    t.embed = b.has(p + "nextn.embed_tokens.weight")
                  ? b.matrix(p + "nextn.embed_tokens.weight", {D, V})
                  : m->embed;
    share_if_identical(t.head, m->lm_head);
    share_if_identical(t.embed, m->embed);
    t.layer = b.layer(il, c.n_routed_experts > 0);
    m->mtp.push_back(std::move(t));
  }
  m->rope_inv_freq = rope_inv_freq(c);
  m->rope_attn_factor = float(c.rope_attn_factor());
  return m;
}

}  // namespace ds

#include "model/gguf_export.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "io/gguf_writer.h"
#include "model/weights.h"
#include "ops/ops.h"
#include "quant/quant.h"
#include "runtime/thread_pool.h"

namespace ds {

namespace {

/// Fills rows [r0, r0 + n) of a tensor (each ne[0] floats) into `out`. Called concurrently
/// from several threads on disjoint ranges, so it keeps no state between calls.
using RowFn = std::function<void(int64_t r0, int64_t n, float* out)>;

struct PlannedTensor {
  std::string name;
  std::vector<int64_t> ne;  // ggml order
  RowFn rows;
  GgmlType type = GgmlType::F32;
};

// Floats per chunk of rows produced and quantised at once (64 MiB), whatever the tensor size.
constexpr int64_t kChunkFloats = int64_t(16) << 20;

RowFn view_rows(const WeightView& v) {
  return [v](int64_t r0, int64_t n, float* out) {
    for (int64_t i = 0; i < n; ++i) dequantize_row(v, r0 + i, out + i * v.cols);
  };
}

RowFn vector_rows(std::vector<float> v) {
  return [v = std::move(v)](int64_t, int64_t, float* out) {
    std::memcpy(out, v.data(), v.size() * sizeof(float));
  };
}

// Experts stacked along the outermost dimension: row r is row r % R of expert r / R.
RowFn stacked_rows(std::vector<WeightView> vs) {
  return [vs = std::move(vs)](int64_t r0, int64_t n, float* out) {
    const int64_t R = vs[0].rows, C = vs[0].cols;
    for (int64_t i = 0; i < n; ++i)
      dequantize_row(vs[size_t((r0 + i) / R)], (r0 + i) % R, out + i * C);
  };
}

// k_b [H·rkv, dn] from kv_b [H·(dn+dv), rkv]: per head the transpose of its first dn rows
// (convert_hf_to_gguf.py: kv_b.view(H, dn+dv, rkv), split, k_b.transpose(1, 2)).
RowFn k_b_from_kv_b(const WeightView& kv_b, int64_t dn, int64_t dv, int64_t rkv) {
  return [=](int64_t r0, int64_t n, float* out) {
    std::vector<float> head(size_t(dn * rkv));  // [dn, rkv]
    int64_t loaded = -1;
    for (int64_t r = r0; r < r0 + n; ++r) {
      const int64_t h = r / rkv, c = r % rkv;
      if (h != loaded) {
        for (int64_t i = 0; i < dn; ++i)
          dequantize_row(kv_b, h * (dn + dv) + i, head.data() + i * rkv);
        loaded = h;
      }
      for (int64_t i = 0; i < dn; ++i) out[(r - r0) * dn + i] = head[size_t(i * rkv + c)];
    }
  };
}

// v_b [H·dv, rkv]: the last dv rows of each head of kv_b.
RowFn v_b_from_kv_b(const WeightView& kv_b, int64_t dn, int64_t dv, int64_t rkv) {
  return [=](int64_t r0, int64_t n, float* out) {
    for (int64_t r = r0; r < r0 + n; ++r)
      dequantize_row(kv_b, (r / dv) * (dn + dv) + dn + r % dv, out + (r - r0) * rkv);
  };
}

// kv_b [H·(dn+dv), rkv] back from k_b [H·rkv, dn] and v_b [H·dv, rkv].
RowFn kv_b_from_split(const WeightView& k_b, const WeightView& v_b, int64_t dn, int64_t dv,
                      int64_t rkv) {
  return [=](int64_t r0, int64_t n, float* out) {
    std::vector<float> head(size_t(rkv * dn));  // [rkv, dn]
    int64_t loaded = -1;
    for (int64_t r = r0; r < r0 + n; ++r) {
      const int64_t h = r / (dn + dv), i = r % (dn + dv);
      float* o = out + (r - r0) * rkv;
      if (i >= dn) {
        dequantize_row(v_b, h * dv + (i - dn), o);
        continue;
      }
      if (h != loaded) {
        for (int64_t c = 0; c < rkv; ++c) dequantize_row(k_b, h * rkv + c, head.data() + c * dn);
        loaded = h;
      }
      for (int64_t c = 0; c < rkv; ++c) o[c] = head[size_t(c * dn + i)];
    }
  };
}

class Planner {
 public:
  Planner(const Model& m, bool split) : m_(m), c_(m.config), split_(split) {}

  std::vector<PlannedTensor> plan() {
    const int64_t D = c_.hidden_size, V = c_.vocab_size;
    matrix("token_embd.weight", m_.embed, {D, V});
    for (int64_t il = 0; il < int64_t(m_.layers.size()); ++il) layer(il, m_.layers[size_t(il)]);
    for (size_t k = 0; k < m_.mtp.size(); ++k) {
      const MtpWeights& t = m_.mtp[k];
      const int64_t il = int64_t(m_.layers.size() + k);
      const std::string p = "blk." + std::to_string(il) + ".nextn.";
      layer(il, t.layer);
      matrix(p + "eh_proj.weight", t.eh_proj, {2 * D, D});
      vec(p + "enorm.weight", t.enorm);
      vec(p + "hnorm.weight", t.hnorm);
      vec(p + "shared_head_norm.weight", t.head_norm);
      if (t.embed.data != m_.embed.data) matrix(p + "embed_tokens.weight", t.embed, {D, V});
      if (t.head.data != m_.lm_head.data) matrix(p + "shared_head_head.weight", t.head, {D, V});
    }
    vec("output_norm.weight", m_.final_norm);
    if (m_.lm_head.data != m_.embed.data) matrix("output.weight", m_.lm_head, {D, V});
    return std::move(out_);
  }

 private:
  void add(std::string name, std::vector<int64_t> ne, RowFn rows) {
    out_.push_back({std::move(name), std::move(ne), std::move(rows), GgmlType::F32});
  }
  void matrix(const std::string& name, const WeightView& v, std::vector<int64_t> ne) {
    DS_CHECK(v.cols == ne[0], name, ": view has ", v.cols, " columns, expected ", ne[0]);
    add(name, std::move(ne), view_rows(v));
  }
  void vec(const std::string& name, const std::vector<float>& v) {
    add(name, {int64_t(v.size())}, vector_rows(v));
  }
  void mlp(const std::string& p, const std::string& suffix, const MlpWeights& w) {
    const int64_t D = c_.hidden_size, I = w.gate.rows;
    matrix(p + "ffn_gate" + suffix + ".weight", w.gate, {D, I});
    matrix(p + "ffn_up" + suffix + ".weight", w.up, {D, I});
    matrix(p + "ffn_down" + suffix + ".weight", w.down, {I, D});
  }

  void layer(int64_t il, const LayerWeights& L) {
    const ModelConfig& c = c_;
    const std::string p = "blk." + std::to_string(il) + ".";
    const int64_t D = c.hidden_size, H = c.num_attention_heads;
    const int64_t dn = c.qk_nope_head_dim, dv = c.v_head_dim, rkv = c.kv_lora_rank;
    const MlaWeights& a = L.attn;
    vec(p + "attn_norm.weight", L.attn_norm);
    if (c.q_lora_rank > 0) {
      matrix(p + "attn_q_a.weight", a.q_a, {D, c.q_lora_rank});
      vec(p + "attn_q_a_norm.weight", a.q_a_norm);
      matrix(p + "attn_q_b.weight", a.q_b, {c.q_lora_rank, H * c.qk_head_dim()});
    } else {
      matrix(p + "attn_q.weight", a.q, {D, H * c.qk_head_dim()});
    }
    matrix(p + "attn_kv_a_mqa.weight", a.kv_a, {D, rkv + c.qk_rope_head_dim});
    vec(p + "attn_kv_a_norm.weight", a.kv_a_norm);
    const bool have_kv_b = !a.kv_b.empty();
    if (split_) {
      if (have_kv_b) {
        add(p + "attn_k_b.weight", {dn, rkv, H}, k_b_from_kv_b(a.kv_b, dn, dv, rkv));
        add(p + "attn_v_b.weight", {rkv, dv, H}, v_b_from_kv_b(a.kv_b, dn, dv, rkv));
      } else {
        matrix(p + "attn_k_b.weight", a.k_b, {dn, rkv, H});
        matrix(p + "attn_v_b.weight", a.v_b, {rkv, dv, H});
      }
    } else if (have_kv_b) {
      matrix(p + "attn_kv_b.weight", a.kv_b, {rkv, H * (dn + dv)});
    } else {
      add(p + "attn_kv_b.weight", {rkv, H * (dn + dv)}, kv_b_from_split(a.k_b, a.v_b, dn, dv, rkv));
    }
    matrix(p + "attn_output.weight", a.o, {H * dv, D});
    vec(p + "ffn_norm.weight", L.ffn_norm);
    if (!L.is_moe) {
      mlp(p, "", L.dense);
      return;
    }
    const MoeWeights& w = L.moe;
    const int64_t X = int64_t(w.experts.size()), F = c.moe_intermediate_size;
    matrix(p + "ffn_gate_inp.weight", w.router, {D, X});
    if (!w.score_bias.empty()) vec(p + "exp_probs_b.bias", w.score_bias);
    std::vector<WeightView> gate, up, down;
    for (const auto& e : w.experts) {
      gate.push_back(e.gate);
      up.push_back(e.up);
      down.push_back(e.down);
    }
    add(p + "ffn_gate_exps.weight", {D, F, X}, stacked_rows(gate));
    add(p + "ffn_up_exps.weight", {D, F, X}, stacked_rows(up));
    add(p + "ffn_down_exps.weight", {F, D, X}, stacked_rows(down));
    if (!w.shared.empty()) mlp(p, "_shexp", w.shared);
  }

  const Model& m_;
  const ModelConfig& c_;
  bool split_;
  std::vector<PlannedTensor> out_;
};

void write_metadata(GgufWriter& w, const Model& m, const GgufExportOptions& o) {
  const ModelConfig& c = m.config;
  const std::string a = "deepseek2.";
  if (c.moe_layer_freq != 1)
    throw Error(cat(m.path, ": moe_layer_freq ", c.moe_layer_freq,
                    " cannot be expressed in a deepseek2 GGUF (llama.cpp assumes 1)"));
  const double implied_mscale =
      c.mscale_all_dim != 0 && c.mscale_all_dim != 1 ? c.mscale_all_dim : 1.0;
  if (c.yarn && c.mscale != implied_mscale)
    throw Error(
        cat(m.path, ": rope_scaling mscale ", c.mscale, " with mscale_all_dim ", c.mscale_all_dim,
            " cannot be expressed in a deepseek2 GGUF (llama.cpp takes mscale = ", implied_mscale,
            ")"));
  auto u32 = [&](const std::string& k, int64_t v) { w.set_scalar<uint32_t>(a + k, uint32_t(v)); };
  auto f32 = [&](const std::string& k, double v) { w.set_scalar<float>(a + k, float(v)); };
  w.set_string("general.architecture", "deepseek2");
  w.set_string("general.name", o.name.empty() ? m.name : o.name);
  w.set_scalar<uint32_t>("general.file_type", uint32_t(o.ftype));
  w.set_scalar<uint32_t>("general.quantization_version", 2);
  w.set_scalar<uint32_t>("general.alignment", 32);
  u32("block_count", c.num_hidden_layers + int64_t(m.mtp.size()));
  if (!m.mtp.empty()) u32("nextn_predict_layers", int64_t(m.mtp.size()));
  u32("context_length", c.max_position_embeddings);
  u32("embedding_length", c.hidden_size);
  u32("feed_forward_length", c.intermediate_size);
  u32("attention.head_count", c.num_attention_heads);
  if (o.split_kv_b) {
    // MLA as llama.cpp runs it: MQA over the latent, heads decompressed by k_b / v_b.
    u32("attention.head_count_kv", 1);
    u32("attention.key_length", c.kv_lora_rank + c.qk_rope_head_dim);
    u32("attention.value_length", c.kv_lora_rank);
    u32("attention.key_length_mla", c.qk_head_dim());
    u32("attention.value_length_mla", c.v_head_dim);
  } else {
    u32("attention.head_count_kv", c.num_attention_heads);
    u32("attention.key_length", c.qk_head_dim());
    u32("attention.value_length", c.v_head_dim);
  }
  f32("rope.freq_base", c.rope_theta);
  f32("attention.layer_norm_rms_epsilon", c.rms_norm_eps);
  if (c.n_routed_experts > 0) {
    u32("expert_count", c.n_routed_experts);
    u32("expert_used_count", c.num_experts_per_tok);
  }
  // llama.cpp requires 1 < groups used < groups; other settings do not restrict the choice.
  if (c.topk_method != TopkMethod::kGreedy && c.n_group > 1 && c.topk_group < c.n_group) {
    u32("expert_group_count", c.n_group);
    u32("expert_group_used_count", c.topk_group);
  }
  u32("expert_gating_func", c.scoring_func == ScoringFunc::kSigmoid ? 2 : 1);
  u32("vocab_size", c.vocab_size);
  u32("leading_dense_block_count", c.first_k_dense_replace);
  if (c.q_lora_rank > 0) u32("attention.q_lora_rank", c.q_lora_rank);
  u32("attention.kv_lora_rank", c.kv_lora_rank);
  u32("expert_feed_forward_length", c.moe_intermediate_size);
  u32("expert_shared_count", c.n_shared_experts);
  // DeepSeek-V2's reference does not scale normalised weights; llama.cpp always scales.
  const bool scales = c.model_type != "deepseek_v2" || !c.norm_topk_prob;
  f32("expert_weights_scale", scales ? c.routed_scaling_factor : 1.0);
  if (c.norm_topk_prob) w.set_scalar<bool>(a + "expert_weights_norm", true);
  u32("rope.dimension_count", c.qk_rope_head_dim);
  if (c.yarn) {
    w.set_string(a + "rope.scaling.type", "yarn");
    f32("rope.scaling.factor", c.rope_factor);
    u32("rope.scaling.original_context_length", c.original_max_position_embeddings);
    f32("rope.scaling.yarn_beta_fast", c.beta_fast);
    f32("rope.scaling.yarn_beta_slow", c.beta_slow);
    // [TAG_DEEPSEEK2_YARN_LOG_MUL_FIX] in llama.cpp: the key holds 0.1 · mscale_all_dim.
    if (c.mscale_all_dim != 0) f32("rope.scaling.yarn_log_multiplier", 0.1 * c.mscale_all_dim);
  }
  for (const auto& kv : o.tokenizer_kv) w.set(kv.key, kv.value);
}

}  // namespace

void export_gguf(const Model& m, const std::string& path, const GgufExportOptions& o,
                 ThreadPool& pool) {
  std::vector<PlannedTensor> tensors = Planner(m, o.split_kv_b).plan();
  std::vector<std::string> names;
  for (const auto& t : tensors) names.push_back(t.name);
  TypeChooser::ModelShape shape;
  shape.n_layer_all = m.config.num_hidden_layers + int64_t(m.mtp.size());
  shape.n_expert = m.config.n_routed_experts;
  shape.n_gqa = o.split_kv_b ? m.config.num_attention_heads : 1;
  TypeChooser chooser(o.ftype, shape, names, o.overrides);

  GgufWriter w(path);
  write_metadata(w, m, o);
  for (auto& t : tensors) {
    std::string note;
    t.type = chooser.choose(t.name, t.ne, &note);
    if (!note.empty() && o.on_note) o.on_note(note);
    std::vector<int64_t> ne = t.ne;
    while (ne.size() > 1 && ne.back() == 1) ne.pop_back();  // as ggml_n_dims writes them
    w.add_tensor(t.name, t.type, ne);
  }
  w.write_header();

  std::vector<std::vector<float>> fbuf(size_t(pool.size()));
  std::vector<uint8_t> qbuf;
  for (size_t ti = 0; ti < tensors.size(); ++ti) {
    const PlannedTensor& t = tensors[ti];
    const QuantTraits* q = quant_traits(t.type);
    if (!q || !q->quantize)
      throw Error(cat(t.name, ": dsinfer cannot write type ", ggml_type_name(t.type)));
    const int64_t cols = t.ne[0];
    int64_t rows = 1;
    for (size_t i = 1; i < t.ne.size(); ++i) rows *= t.ne[i];
    if (o.on_tensor) o.on_tensor(ti, tensors.size(), t.name, t.type, uint64_t(rows * cols));
    const size_t row_bytes = ggml_row_bytes(t.type, cols);
    const int64_t chunk = std::clamp<int64_t>(kChunkFloats / cols, 1, rows);
    qbuf.resize(size_t(chunk) * row_bytes);
    for (int64_t c0 = 0; c0 < rows; c0 += chunk) {
      const int64_t n = std::min(chunk, rows - c0);
      pool.run([&](int thread, int n_threads) {
        int64_t b, e;
        split_range(n, thread, n_threads, &b, &e);
        if (b == e) return;
        std::vector<float>& f = fbuf[size_t(thread)];
        f.resize(size_t((e - b) * cols));
        t.rows(c0 + b, e - b, f.data());
        for (int64_t r = 0; r < e - b; ++r)
          q->quantize(f.data() + r * cols, qbuf.data() + size_t(b + r) * row_bytes, cols);
      });
      w.write_tensor_data(qbuf.data(), size_t(n) * row_bytes);
    }
  }
  w.finish();
}

}  // namespace ds

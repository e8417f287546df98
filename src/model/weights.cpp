#include "model/weights.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>

#include "core/error.h"
#include "io/embedded_model.h"
#include "io/safetensors.h"
#include "model/forward.h"
#include "model/gguf_loader.h"
#include "ops/ops.h"

namespace ds {

namespace fs = std::filesystem;

std::vector<float> rope_inv_freq(const ModelConfig& c) {
  const int64_t dr = c.qk_rope_head_dim;
  std::vector<float> f(size_t(dr / 2));
  const double base = c.rope_theta;
  double low = 0, high = 0;
  if (c.yarn) {
    auto corr = [&](double rot) {
      return double(dr) * std::log(double(c.original_max_position_embeddings) / (2 * M_PI * rot)) /
             (2 * std::log(base));
    };
    low = std::max(std::floor(corr(c.beta_fast)), 0.0);
    high = std::min(std::ceil(corr(c.beta_slow)), double(dr - 1));
    if (low == high) high += 0.001;
  }
  for (int64_t j = 0; j < dr / 2; ++j) {
    // ω_j = θ^(−2j/dr), computed as HF does: 1 / θ^(arange(0, dr, 2) / dr), in fp32.
    const float w = float(1.0 / std::pow(base, double(2 * j) / double(dr)));
    if (!c.yarn) {
      f[size_t(j)] = w;
      continue;
    }
    const double ramp = std::clamp((double(j) - low) / (high - low), 0.0, 1.0);
    const float w_inter = float(1.0 / (c.rope_factor * std::pow(base, double(2 * j) / double(dr))));
    f[size_t(j)] = float(w_inter * ramp + double(w) * (1.0 - ramp));
  }
  return f;
}

namespace {

// Resolves tensors by name with shape and dtype checks; every error names the tensor.
class Loader {
 public:
  Loader(const TensorStore& store, const ModelConfig& c, const std::string& src)
      : store_(store), c_(c), src_(src) {}

  const TensorInfo& tensor(const std::string& name) const {
    const TensorInfo* t = store_.find(name);
    if (!t) throw Error(cat(src_, ": missing tensor '", name, "'"));
    return *t;
  }
  bool has(const std::string& name) const { return store_.find(name) != nullptr; }

  static std::string shape_str(const std::vector<int64_t>& s) {
    std::string r = "[";
    for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
    return r + "]";
  }

  void check_shape(const TensorInfo& t, const std::vector<int64_t>& want) const {
    if (t.shape != want)
      throw Error(cat(*t.file, ": tensor '", t.name, "' has shape ", shape_str(t.shape),
                      ", expected ", shape_str(want)));
  }

  /// A linear weight [rows, cols]: F32, BF16, F16, or F8_E4M3 with its block scales.
  WeightView matrix(const std::string& name, int64_t rows, int64_t cols) const {
    const TensorInfo& t = tensor(name);
    check_shape(t, {rows, cols});
    WeightView v;
    v.dtype = t.dtype;
    v.data = t.data;
    v.rows = rows;
    v.cols = cols;
    switch (t.dtype) {
      case DType::F32:
      case DType::BF16:
      case DType::F16:
        break;
      case DType::F8_E4M3: {
        const std::string sname =
            name.substr(0, name.size() - std::string(".weight").size()) + ".weight_scale_inv";
        const TensorInfo* s = store_.find(sname);
        if (!s) throw Error(cat(*t.file, ": FP8 tensor '", name, "' has no '", sname, "'"));
        const int64_t br = c_.fp8_block_rows, bc = c_.fp8_block_cols;
        check_shape(*s, {(rows + br - 1) / br, (cols + bc - 1) / bc});
        if (s->dtype != DType::F32)
          throw Error(cat(*s->file, ": tensor '", sname, "' has dtype ", dtype_name(s->dtype),
                          ", expected F32"));
        v.scale_inv = reinterpret_cast<const float*>(s->data);
        v.scale_cols = (cols + bc - 1) / bc;
        v.block_rows = br;
        v.block_cols = bc;
        break;
      }
      default:
        throw Error(cat(*t.file, ": tensor '", name, "' has dtype ", dtype_name(t.dtype),
                        ", expected F32, BF16, F16 or F8_E4M3"));
    }
    return v;
  }

  /// A vector [n] (norm weights, biases), converted to fp32.
  std::vector<float> vec(const std::string& name, int64_t n) const {
    const TensorInfo& t = tensor(name);
    check_shape(t, {n});
    if (t.dtype != DType::F32 && t.dtype != DType::BF16 && t.dtype != DType::F16)
      throw Error(cat(*t.file, ": tensor '", name, "' has dtype ", dtype_name(t.dtype),
                      ", expected F32, BF16 or F16"));
    WeightView v;
    v.dtype = t.dtype;
    v.data = t.data;
    v.rows = 1;
    v.cols = n;
    std::vector<float> out(static_cast<size_t>(n));
    dequantize_row(v, 0, out.data());
    return out;
  }

  MlpWeights mlp(const std::string& p, int64_t width) const {
    const int64_t D = c_.hidden_size;
    return {matrix(p + "gate_proj.weight", width, D), matrix(p + "up_proj.weight", width, D),
            matrix(p + "down_proj.weight", D, width)};
  }

  LayerWeights layer(int64_t il, bool moe) const {
    const ModelConfig& c = c_;
    const std::string p = "model.layers." + std::to_string(il) + ".";
    const int64_t D = c.hidden_size, H = c.num_attention_heads;
    LayerWeights L;
    L.attn_norm = vec(p + "input_layernorm.weight", D);
    L.ffn_norm = vec(p + "post_attention_layernorm.weight", D);
    MlaWeights& a = L.attn;
    if (c.q_lora_rank > 0) {
      a.q_a = matrix(p + "self_attn.q_a_proj.weight", c.q_lora_rank, D);
      a.q_a_norm = vec(p + "self_attn.q_a_layernorm.weight", c.q_lora_rank);
      a.q_b = matrix(p + "self_attn.q_b_proj.weight", H * c.qk_head_dim(), c.q_lora_rank);
    } else {
      a.q = matrix(p + "self_attn.q_proj.weight", H * c.qk_head_dim(), D);
    }
    a.kv_a = matrix(p + "self_attn.kv_a_proj_with_mqa.weight", c.kv_cache_width(), D);
    a.kv_a_norm = vec(p + "self_attn.kv_a_layernorm.weight", c.kv_lora_rank);
    a.kv_b = matrix(p + "self_attn.kv_b_proj.weight", H * (c.qk_nope_head_dim + c.v_head_dim),
                    c.kv_lora_rank);
    a.o = matrix(p + "self_attn.o_proj.weight", D, H * c.v_head_dim);
    L.is_moe = moe;
    if (!moe) {
      L.dense = mlp(p + "mlp.", c.intermediate_size);
      return L;
    }
    const int64_t E = c.n_routed_experts;
    L.moe.router = matrix(p + "mlp.gate.weight", E, D);
    if (L.moe.router.dtype == DType::F8_E4M3)
      throw Error(cat(src_, ": tensor '", p, "mlp.gate.weight' must not be FP8"));
    const std::string bias = p + "mlp.gate.e_score_correction_bias";
    if (c.topk_method == TopkMethod::kNoauxTc) {
      L.moe.score_bias = vec(bias, E);
    } else if (has(bias)) {
      L.moe.score_bias = vec(bias, E);  // harmless; used only by noaux_tc
      L.moe.score_bias.clear();
    }
    L.moe.experts.reserve(size_t(E));
    for (int64_t e = 0; e < E; ++e)
      L.moe.experts.push_back(
          mlp(p + "mlp.experts." + std::to_string(e) + ".", c.moe_intermediate_size));
    if (c.n_shared_experts > 0)
      L.moe.shared = mlp(p + "mlp.shared_experts.", c.n_shared_experts * c.moe_intermediate_size);
    return L;
  }

 private:
  const TensorStore& store_;
  const ModelConfig& c_;
  std::string src_;
};

}  // namespace

std::unique_ptr<Model> Model::load(const std::string& path) {
  if (is_gguf_path(path) && fs::is_regular_file(path)) return load_gguf_model(path);
  auto m = std::make_unique<Model>();
  m->path = path;
  fs::path p(path);
  m->name = p.filename().empty() ? p.parent_path().filename().string() : p.filename().string();
  if (!fs::is_directory(path)) {
    if (!fs::exists(path)) throw Error(cat(path, ": no such file or directory"));
    throw Error(cat(path, ": expected a HF model directory (config.json + *.safetensors)"));
  }
  m->config = ModelConfig::from_hf_dir(path);
  auto store = std::make_shared<TensorStore>(TensorStore::open(path));
  m->storage = store;
  m->bind(*store);
  return m;
}

std::unique_ptr<Model> Model::load_embedded() {
  const EmbeddedModel* e = embedded_model();
  if (!e) throw Error("this build has no embedded default model; pass -m MODEL");
  auto m = std::make_unique<Model>();
  m->name = e->name;
  m->path = "builtin:" + e->name;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(e->config.str());
  } catch (const nlohmann::json::exception& ex) {
    throw Error(cat(m->path, "/config.json: malformed JSON: ", ex.what()));
  }
  m->config = ModelConfig::from_hf_json(j, m->path + "/config.json");
  auto store = std::make_shared<TensorStore>(
      TensorStore::from_memory(e->weights.data, e->weights.size, m->path + "/model.safetensors"));
  m->storage = store;
  m->bind(*store);
  return m;
}

void Model::bind(const TensorStore& store) {
  Model* m = this;
  const std::string& path = this->path;
  const ModelConfig& c = m->config;
  Loader ld(store, c, path);
  m->embed = ld.matrix("model.embed_tokens.weight", c.vocab_size, c.hidden_size);
  m->final_norm = ld.vec("model.norm.weight", c.hidden_size);
  m->lm_head = ld.matrix("lm_head.weight", c.vocab_size, c.hidden_size);
  m->layers.reserve(size_t(c.num_hidden_layers));
  for (int64_t il = 0; il < c.num_hidden_layers; ++il)
    m->layers.push_back(ld.layer(il, c.is_moe_layer(il)));
  for (int64_t k = 0; k < c.num_nextn_predict_layers; ++k) {
    const int64_t il = c.num_hidden_layers + k;
    const std::string pre = "model.layers." + std::to_string(il) + ".";
    if (!ld.has(pre + "eh_proj.weight")) break;  // released without MTP weights: fine
    MtpWeights t;
    const int64_t D = c.hidden_size;
    t.enorm = ld.vec(pre + "enorm.weight", D);
    t.hnorm = ld.vec(pre + "hnorm.weight", D);
    t.eh_proj = ld.matrix(pre + "eh_proj.weight", D, 2 * D);
    t.head_norm = ld.vec(pre + "shared_head.norm.weight", D);
    t.head = ld.has(pre + "shared_head.head.weight")
                 ? ld.matrix(pre + "shared_head.head.weight", c.vocab_size, D)
                 : m->lm_head;
    t.embed = ld.has(pre + "embed_tokens.weight")
                  ? ld.matrix(pre + "embed_tokens.weight", c.vocab_size, D)
                  : m->embed;
    share_if_identical(t.head, m->lm_head);
    share_if_identical(t.embed, m->embed);
    t.layer = ld.layer(il, c.n_routed_experts > 0);
    m->mtp.push_back(std::move(t));
  }
  m->rope_inv_freq = ds::rope_inv_freq(c);
  m->rope_attn_factor = float(c.rope_attn_factor());
}

void share_if_identical(WeightView& copy, const WeightView& orig) {
  if (copy.empty() || orig.empty() || copy.data == orig.data || copy.dtype != orig.dtype ||
      copy.rows != orig.rows || copy.cols != orig.cols || copy.scale_inv || orig.scale_inv)
    return;
  const size_t n = copy.n_bytes();
  if (n != orig.n_bytes() || n > (size_t(256) << 20)) return;
  if (std::memcmp(copy.data, orig.data, n) == 0) copy = orig;
}

namespace {

int64_t view_params(const WeightView& v) {
  return v.empty() ? 0 : v.rows * v.cols;
}
int64_t mlp_params(const MlpWeights& w) {
  return view_params(w.gate) + view_params(w.up) + view_params(w.down);
}
int64_t attn_params(const LayerWeights& L) {
  const MlaWeights& a = L.attn;
  return view_params(a.q_a) + view_params(a.q_b) + view_params(a.q) + view_params(a.kv_a) +
         view_params(a.kv_b) + view_params(a.k_b) + view_params(a.v_b) + view_params(a.o) +
         int64_t(a.q_a_norm.size() + a.kv_a_norm.size() + L.attn_norm.size() + L.ffn_norm.size());
}

}  // namespace

int64_t Model::n_params() const {
  int64_t n = view_params(embed) + view_params(lm_head) + int64_t(final_norm.size());
  for (const auto& L : layers) {
    n += attn_params(L);
    if (!L.is_moe) {
      n += mlp_params(L.dense);
      continue;
    }
    n += view_params(L.moe.router) + int64_t(L.moe.score_bias.size()) + mlp_params(L.moe.shared);
    for (const auto& e : L.moe.experts) n += mlp_params(e);
  }
  return n;
}

int64_t Model::n_active_params() const {
  // One embedding row is read per token, not the whole table.
  int64_t n = config.hidden_size + view_params(lm_head) + int64_t(final_norm.size());
  for (const auto& L : layers) {
    n += attn_params(L);
    if (!L.is_moe) {
      n += mlp_params(L.dense);
      continue;
    }
    n += view_params(L.moe.router) + mlp_params(L.moe.shared);
    if (!L.moe.experts.empty()) n += config.num_experts_per_tok * mlp_params(L.moe.experts[0]);
  }
  return n;
}

std::vector<std::pair<std::string, size_t>> Model::bytes_by_dtype() const {
  std::map<std::string, size_t> m;
  auto add = [&](const WeightView& v) {
    if (!v.empty()) m[std::string(dtype_name(v.dtype))] += v.n_bytes();
  };
  auto add_mlp = [&](const MlpWeights& w) {
    add(w.gate);
    add(w.up);
    add(w.down);
  };
  auto add_layer = [&](const LayerWeights& L) {
    for (const WeightView* v : {&L.attn.q_a, &L.attn.q_b, &L.attn.q, &L.attn.kv_a, &L.attn.kv_b,
                                &L.attn.k_b, &L.attn.v_b, &L.attn.o})
      add(*v);
    if (!L.is_moe) add_mlp(L.dense);
    add(L.moe.router);
    add_mlp(L.moe.shared);
    for (const auto& e : L.moe.experts) add_mlp(e);
  };
  add(embed);
  add(lm_head);
  for (const auto& L : layers) add_layer(L);
  for (const auto& t : mtp) {
    add(t.eh_proj);
    add_layer(t.layer);
  }
  return {m.begin(), m.end()};
}

size_t Model::active_weight_bytes() const {
  auto mlp = [](const MlpWeights& w) {
    return w.empty() ? 0 : w.gate.n_bytes() + w.up.n_bytes() + w.down.n_bytes();
  };
  size_t b = embed.row_bytes() + lm_head.n_bytes();
  for (const auto& L : layers) {
    for (const WeightView* v : {&L.attn.q_a, &L.attn.q_b, &L.attn.q, &L.attn.kv_a, &L.attn.kv_b,
                                &L.attn.k_b, &L.attn.v_b, &L.attn.o})
      if (!v->empty()) b += v->n_bytes();
    if (!L.is_moe) {
      b += mlp(L.dense);
      continue;
    }
    b += L.moe.router.n_bytes() + mlp(L.moe.shared);
    if (!L.moe.experts.empty()) b += size_t(config.num_experts_per_tok) * mlp(L.moe.experts[0]);
  }
  return b;
}

int64_t Model::kv_bytes_per_token(DType cache_type) const {
  return config.num_hidden_layers * int64_t(kv_row_bytes(config.kv_cache_width(), cache_type));
}

}  // namespace ds

// GGUF models: a tiny model written with export_gguf loads back with the same config, and
// edited copies of that file (wrong architecture, missing keys, bad shapes) fail with
// messages naming the culprit.
#include <gtest/gtest.h>

#include <functional>

#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "model/gguf_export.h"
#include "model/gguf_loader.h"
#include "model/weights.h"
#include "runtime/thread_pool.h"
#include "test_util.h"
#include "tiny_model.h"

namespace ds {
namespace {

using testing::expect_error;
using testing::TempDir;

// Writes a copy of `src` to `dst`; `edit_kv` may change or drop (return false) metadata,
// `edit_dims` may change a tensor's dims (keeping its element count).
void rewrite(const std::string& src, const std::string& dst,
             const std::function<bool(GgufKv&)>& edit_kv,
             const std::function<void(const std::string&, std::vector<int64_t>&)>& edit_dims) {
  const GgufFile f = GgufFile::open(src);
  GgufWriter w(dst);
  for (GgufKv kv : f.metadata())
    if (!edit_kv || edit_kv(kv)) w.set(kv.key, kv.value);
  for (const auto& t : f.tensors()) {
    std::vector<int64_t> dims = t.dims;
    if (edit_dims) edit_dims(t.name, dims);
    w.add_tensor(t.name, t.type, dims);
  }
  w.write_header();
  for (const auto& t : f.tensors()) w.write_tensor(t.name, f.tensor_data(t), t.n_bytes);
  w.finish();
}

class GgufModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::write_tiny_model(dir_.path(), testing::tiny_v3_config());
    hf_ = Model::load(dir_.path());
    ThreadPool pool(1);
    GgufExportOptions o;
    o.ftype = FileType::kF32;
    export_gguf(*hf_, gguf(), o, pool);
  }
  std::string gguf() const { return dir_.file("m.gguf"); }
  std::string edited(
      const std::function<bool(GgufKv&)>& kv,
      const std::function<void(const std::string&, std::vector<int64_t>&)>& dims = nullptr) {
    rewrite(gguf(), dir_.file("e.gguf"), kv, dims);
    return dir_.file("e.gguf");
  }

  TempDir dir_;
  std::unique_ptr<Model> hf_;
};

TEST_F(GgufModelTest, RoundTripKeepsTheConfig) {
  auto m = Model::load(gguf());
  const ModelConfig &a = hf_->config, &b = m->config;
  EXPECT_EQ(b.num_hidden_layers, a.num_hidden_layers);
  EXPECT_EQ(b.vocab_size, a.vocab_size);
  EXPECT_EQ(b.qk_nope_head_dim, a.qk_nope_head_dim);
  EXPECT_EQ(b.v_head_dim, a.v_head_dim);
  EXPECT_EQ(b.q_lora_rank, a.q_lora_rank);
  EXPECT_EQ(b.topk_method, TopkMethod::kNoauxTc);
  EXPECT_EQ(b.scoring_func, ScoringFunc::kSigmoid);
  EXPECT_EQ(b.n_group, 2);
  EXPECT_EQ(b.topk_group, 1);
  EXPECT_TRUE(b.norm_topk_prob);
  EXPECT_TRUE(b.yarn);
  EXPECT_FLOAT_EQ(float(b.mscale_all_dim), 1.0f);
  EXPECT_FLOAT_EQ(float(b.mscale), 1.0f);
  EXPECT_FLOAT_EQ(float(b.routed_scaling_factor), float(a.routed_scaling_factor));
  EXPECT_EQ(b.model_type, "deepseek_v3");
  EXPECT_FALSE(m->layers[0].attn.k_b.empty());  // the split MLA layout by default
  EXPECT_EQ(m->n_params(), hf_->n_params());
}

TEST_F(GgufModelTest, YarnLogMultiplierMapsToMscale) {
  auto path = edited([](GgufKv& kv) {
    if (kv.key == "deepseek2.rope.scaling.yarn_log_multiplier")
      kv.value = GgufValue::scalar<float>(0.0707f);
    return true;
  });
  const ModelConfig c = config_from_gguf(GgufFile::open(path));
  EXPECT_NEAR(c.mscale_all_dim, 0.707, 1e-6);
  EXPECT_NEAR(c.mscale, 0.707, 1e-6);  // llama.cpp: mscale = mscale_all_dim when it is not 1
}

TEST_F(GgufModelTest, DefaultsWhenOptionalKeysAreAbsent) {
  auto path = edited([](GgufKv& kv) {
    return kv.key != "deepseek2.expert_gating_func" && kv.key != "deepseek2.expert_weights_norm" &&
           kv.key != "deepseek2.vocab_size";
  });
  const ModelConfig c = config_from_gguf(GgufFile::open(path));
  EXPECT_EQ(c.scoring_func, ScoringFunc::kSoftmax);  // llama.cpp's default for old V2 files
  EXPECT_FALSE(c.norm_topk_prob);
  EXPECT_EQ(c.vocab_size, hf_->config.vocab_size);  // from token_embd
}

TEST_F(GgufModelTest, WrongArchitecture) {
  auto path = edited([](GgufKv& kv) {
    if (kv.key == "general.architecture") kv.value = GgufValue::string("llama");
    return true;
  });
  expect_error([&] { Model::load(path); }, "architecture 'llama' is not supported");
}

TEST_F(GgufModelTest, MissingKey) {
  auto path = edited([](GgufKv& kv) { return kv.key != "deepseek2.attention.kv_lora_rank"; });
  expect_error([&] { Model::load(path); }, "deepseek2.attention.kv_lora_rank");
}

TEST_F(GgufModelTest, UnsupportedGatingFunction) {
  auto path = edited([](GgufKv& kv) {
    if (kv.key == "deepseek2.expert_gating_func") kv.value = GgufValue::scalar<uint32_t>(3);
    return true;
  });
  expect_error([&] { Model::load(path); }, "expert_gating_func' = 3 is not supported");
}

TEST_F(GgufModelTest, InconsistentConfig) {
  auto path = edited([](GgufKv& kv) {
    if (kv.key == "deepseek2.expert_used_count") kv.value = GgufValue::scalar<uint32_t>(99);
    return true;
  });
  expect_error([&] { Model::load(path); }, "num_experts_per_tok must be in [1, n_routed_experts]");
}

TEST_F(GgufModelTest, TensorWithSwappedDims) {
  auto path = edited(nullptr, [](const std::string& name, std::vector<int64_t>& d) {
    if (name == "blk.0.attn_q_a.weight") std::swap(d[0], d[1]);
  });
  expect_error([&] { Model::load(path); }, "tensor 'blk.0.attn_q_a.weight' has dims {24, 32}");
}

TEST_F(GgufModelTest, HeadSizesDisagreeWithTensors) {
  auto path = edited([](GgufKv& kv) {
    if (kv.key == "deepseek2.attention.value_length_mla") kv.value = GgufValue::scalar<uint32_t>(4);
    return true;
  });
  expect_error([&] { Model::load(path); }, "tensor 'blk.0.attn_v_b.weight' has dims");
}

TEST_F(GgufModelTest, MissingTensor) {
  const GgufFile f = GgufFile::open(gguf());
  GgufWriter w(dir_.file("e.gguf"));
  for (const auto& kv : f.metadata()) w.set(kv.key, kv.value);
  for (const auto& t : f.tensors())
    if (t.name != "blk.1.ffn_down_exps.weight") w.add_tensor(t.name, t.type, t.dims);
  w.write_header();
  for (const auto& t : f.tensors())
    if (t.name != "blk.1.ffn_down_exps.weight") w.write_tensor(t.name, f.tensor_data(t), t.n_bytes);
  w.finish();
  expect_error([&] { Model::load(dir_.file("e.gguf")); },
               "missing tensor 'blk.1.ffn_down_exps.weight'");
}

}  // namespace
}  // namespace ds

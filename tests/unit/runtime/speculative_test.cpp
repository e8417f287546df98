// Speculative decoding with the MTP module: greedy output identical to plain decoding, and
// sampled output following the main model's distribution.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

#include "model/forward.h"
#include "runtime/generator.h"
#include "runtime/mtp_policy.h"
#include "runtime/thread_pool.h"
#include "test_util.h"
#include "tiny_model.h"
#include "tokenizer/tokenizer.h"

namespace ds {
namespace {

class SpeculativeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir;
    nlohmann::json cfg = testing::tiny_v3_config(256);
    cfg["num_nextn_predict_layers"] = 1;
    testing::write_tiny_model(dir_->path(), cfg, 7);
    model_ = Model::load(dir_->path()).release();
    tok_ = new Tokenizer(
        Tokenizer::from_model_dir(std::string(DSINFER_TEST_DATA_DIR) + "/tokenizer/deepseek-v3"));
  }
  static void TearDownTestSuite() {
    delete tok_;
    delete model_;
    delete dir_;
  }
  GenerationResult run(const std::vector<int32_t>& prompt, int draft, int64_t n,
                       Session* reuse = nullptr, SamplingParams sp = {}) {
    Session fresh(*model_, pool_, 512);
    Session& s = reuse ? *reuse : fresh;
    if (!reuse && draft > 0) s.set_keep_hidden(true);
    GenerationParams p;
    p.max_tokens = n;
    p.spec_draft = draft;
    p.sampling = sp;
    p.stop_ids = {};
    return generate(s, *tok_, prompt, p, nullptr);
  }
  static std::vector<int32_t> tokens(int64_t n, uint32_t seed) {
    std::vector<int32_t> t(static_cast<size_t>(n));
    for (auto& x : t) x = 2 + int32_t((seed = seed * 1664525u + 1013904223u) >> 8) % 250;
    return t;
  }
  static testing::TempDir* dir_;
  static Model* model_;
  static Tokenizer* tok_;
  ThreadPool pool_{2};
};
testing::TempDir* SpeculativeTest::dir_;
Model* SpeculativeTest::model_;
Tokenizer* SpeculativeTest::tok_;

TEST_F(SpeculativeTest, GreedyOutputIsIdenticalForEveryDraftLength) {
  ASSERT_EQ(model_->mtp.size(), 1u);
  for (uint32_t seed : {1u, 2u, 3u}) {
    const auto prompt = tokens(12, seed);
    const GenerationResult plain = run(prompt, 0, 48);
    for (int k : {1, 2, 3}) {
      const GenerationResult spec = run(prompt, k, 48);
      EXPECT_EQ(spec.tokens, plain.tokens) << "seed " << seed << " draft " << k;
      EXPECT_EQ(spec.finish_reason, plain.finish_reason);
      EXPECT_GT(spec.n_drafted, 0);
    }
  }
}

TEST_F(SpeculativeTest, GreedyOutputIsIdenticalAtTheContextEnd) {
  // Generation runs into a 40-token context: drafts stop at its end and the output ends where
  // plain decoding's does (the token after the last position is still generated).
  for (int64_t n_prompt : {20, 37, 39}) {
    const auto prompt = tokens(n_prompt, 11);
    GenerationResult r[2];
    for (int k : {0, 3}) {
      Session s(*model_, pool_, 40);
      if (k > 0) s.set_keep_hidden(true);
      GenerationParams p;
      p.max_tokens = 100;
      p.spec_draft = k;
      p.ignore_eos = true;
      r[k > 0] = generate(s, *tok_, prompt, p, nullptr);
    }
    EXPECT_EQ(r[1].tokens, r[0].tokens) << n_prompt;
    EXPECT_EQ(int64_t(r[1].tokens.size()), 40 - n_prompt + 1) << n_prompt;
    EXPECT_EQ(r[1].finish_reason, "length");
  }
}

// With a BF16 cache (main layers and the MTP module's layer), drafting, verification and the
// rollback of rejected drafts still give exactly plain decoding's tokens.
TEST_F(SpeculativeTest, GreedyOutputIsIdenticalWithABf16Cache) {
  const auto prompt = tokens(12, 3);
  auto gen = [&](int draft) {
    Session s(*model_, pool_, 512, DType::BF16);
    if (draft > 0) s.set_keep_hidden(true);
    GenerationParams p;
    p.max_tokens = 40;
    p.spec_draft = draft;
    p.stop_ids = {};
    return generate(s, *tok_, prompt, p, nullptr);
  };
  const GenerationResult plain = gen(0);
  for (int k : {1, 2, 3}) {
    const GenerationResult spec = gen(k);
    EXPECT_EQ(spec.tokens, plain.tokens) << "drafts " << k;
    EXPECT_GT(spec.n_drafted, 0);
  }
}

TEST_F(SpeculativeTest, PrefixReuseKeepsTheMtpCacheRight) {
  const auto a = tokens(10, 9);
  auto b = a;
  const auto more = tokens(7, 10);
  b.insert(b.end(), more.begin(), more.end());
  Session s(*model_, pool_, 512);
  s.set_keep_hidden(true);
  run(a, 2, 20, &s);
  const GenerationResult reused = run(b, 2, 30, &s);
  EXPECT_GT(reused.n_cached, 0);
  const GenerationResult fresh = run(b, 2, 30);
  EXPECT_EQ(reused.tokens, fresh.tokens);
  EXPECT_EQ(reused.n_accepted, fresh.n_accepted);  // same drafts: the MTP cache was caught up
}

// Catching up several positions, the module runs only kv_a for all but the last pair. The
// cache rows it leaves and the last pair's draft logits must equal those of running every
// pair through the whole layer (all_logits).
TEST_F(SpeculativeTest, MtpCatchUpWritesTheSameCacheAndDraft) {
  const ModelConfig& c = model_->config;
  const int64_t D = c.hidden_size, V = c.vocab_size, W = c.kv_cache_width();
  const std::vector<int32_t> prompt = tokens(9, 5);
  std::vector<float> main_logits(static_cast<size_t>(V));
  std::vector<std::vector<float>> cache_rows[2];
  std::vector<float> last_logits[2], last_hidden[2];
  for (int mode = 0; mode < 2; ++mode) {
    Session s(*model_, pool_, 64);
    s.set_keep_hidden(true);
    s.forward(prompt.data(), int64_t(prompt.size()), main_logits.data(), false);
    const int64_t n = int64_t(prompt.size()) - 1;  // pairs (h_i, t_{i+1}), i < n
    std::vector<int64_t> pos(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) pos[size_t(i)] = i;
    const bool all = mode == 1;
    std::vector<float> logits(size_t((all ? n : 1) * V)), hidden(size_t((all ? n : 1) * D));
    Activations act;
    mtp_forward(*model_, 0, s, s.hidden_history().data(), prompt.data() + 1, pos.data(), n,
                hidden.data(), logits.data(), all, act, pool_);
    last_logits[mode].assign(logits.end() - V, logits.end());
    last_hidden[mode].assign(hidden.end() - D, hidden.end());
    for (int64_t i = 0; i < n; ++i) {
      cache_rows[mode].emplace_back(size_t(W));
      s.cache().load(c.num_hidden_layers, i, cache_rows[mode].back().data());
    }
  }
  ASSERT_EQ(cache_rows[0].size(), cache_rows[1].size());
  for (size_t i = 0; i < cache_rows[0].size(); ++i)
    EXPECT_EQ(cache_rows[0][i], cache_rows[1][i]) << "cache row " << i;
  EXPECT_EQ(last_logits[0], last_logits[1]);
  EXPECT_EQ(last_hidden[0], last_hidden[1]);
}

TEST_F(SpeculativeTest, CostModelOfDraftCounts) {
  const std::vector<double> b = mtp_bytes_per_token(*model_, 0.85);
  ASSERT_EQ(b.size(), 5u);
  // No drafts: exactly the weights one decoded token reads (less the one embedding row).
  EXPECT_NEAR(b[0], double(model_->active_weight_bytes() - model_->embed.row_bytes()), 1.0);
  // Drafts that are never accepted only cost; certain ones pay for themselves.
  EXPECT_EQ(choose_mtp_drafts(*model_, 0.0), 0);
  EXPECT_GT(choose_mtp_drafts(*model_, 1.0), 0);
  EXPECT_LT(mtp_bytes_per_token(*model_, 1.0)[1], b[0]);
}

TEST_F(SpeculativeTest, BreakEvenAcceptanceAndAdaptiveStop) {
  const double a1 = mtp_break_even_accept(*model_, 1);
  EXPECT_GT(a1, 0.0);
  EXPECT_LT(a1, 1.0);
  // At the break-even acceptance drafting one token costs what plain decoding does.
  const std::vector<double> at = mtp_bytes_per_token(*model_, a1, 1);
  EXPECT_NEAR(at[1], at[0], at[0] * 1e-6);

  // The random model's drafts are rarely right: with a minimum acceptance the generator stops
  // drafting after its first 32 drafts, and the output is still the plain one.
  const auto prompt = tokens(12, 4);
  const GenerationResult plain = run(prompt, 0, 120);
  const GenerationResult always = run(prompt, 1, 120);
  Session s(*model_, pool_, 512);
  s.set_keep_hidden(true);
  GenerationParams p;
  p.max_tokens = 120;
  p.spec_draft = 1;
  p.spec_min_accept = 0.99;
  p.stop_ids = {};
  const GenerationResult adaptive = generate(s, *tok_, prompt, p, nullptr);
  ASSERT_LT(double(always.n_accepted), 0.99 * double(always.n_drafted)) << "drafts too good";
  EXPECT_EQ(adaptive.tokens, plain.tokens);
  EXPECT_GE(adaptive.n_drafted, 32);
  EXPECT_LE(adaptive.n_drafted, 33);
  EXPECT_GT(always.n_drafted, adaptive.n_drafted);
}

TEST(SpeculativeSampling, FollowsTheMainModelsDistribution) {
  // An 8-token vocabulary makes drafts often acceptable and often not, so both paths of the
  // lossless rule run. The second generated token, given the first, must follow the main
  // model's own distribution. 5-sigma bounds: this fails only on a real bias.
  testing::TempDir dir;
  nlohmann::json cfg = testing::tiny_v3_config(8);
  cfg["num_nextn_predict_layers"] = 1;
  testing::write_tiny_model(dir.path(), cfg, 3);
  auto model = Model::load(dir.path());
  const Tokenizer tok =
      Tokenizer::from_model_dir(std::string(DSINFER_TEST_DATA_DIR) + "/tokenizer/deepseek-v3");
  const int32_t eos = *tok.eos_id();
  ThreadPool pool(2);
  const std::vector<int32_t> prompt = {2, 5, 3, 7, 6, 4};
  SamplingParams sp;
  sp.temperature = 1.5f;
  Session s(*model, pool, 64);
  s.set_keep_hidden(true);
  std::map<int32_t, std::map<int32_t, int>> counts;
  int64_t accepted = 0, drafted = 0;
  const int n = 4000;
  for (int i = 0; i < n; ++i) {
    sp.seed = uint64_t(i) + 1;
    GenerationParams p;
    p.max_tokens = 2;
    p.spec_draft = 1;
    p.sampling = sp;
    const GenerationResult r = generate(s, tok, prompt, p, nullptr);
    if (r.tokens.empty()) continue;  // the first token was EOS
    ++counts[r.tokens[0]][r.tokens.size() > 1 ? r.tokens[1] : eos];
    accepted += r.n_accepted;
    drafted += r.n_drafted;
  }
  EXPECT_GT(accepted, 0);
  EXPECT_LT(accepted, drafted);  // both acceptance and rejection happened
  for (const auto& [t1, row] : counts) {
    int total = 0;
    for (const auto& [t2, c] : row) total += c;
    if (total < 300) continue;
    Session ref(*model, pool, 64);
    std::vector<int32_t> ctx = prompt;
    ctx.push_back(t1);
    std::vector<float> logits(8);
    ref.forward(ctx.data(), int64_t(ctx.size()), logits.data(), false);
    Sampler sampler(sp);
    for (int32_t t : ctx) sampler.accept(t);
    sampler.prepare(logits.data(), 8);
    for (int32_t t2 = 0; t2 < 8; ++t2) {
      const double p = sampler.prob(t2);
      const double got = row.count(t2) ? row.at(t2) / double(total) : 0.0;
      EXPECT_NEAR(got, p, 5 * std::sqrt(p * (1 - p) / total) + 1e-9)
          << "after " << t1 << ", token " << t2;
    }
  }
}

}  // namespace
}  // namespace ds

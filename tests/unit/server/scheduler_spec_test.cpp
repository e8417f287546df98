// The scheduler with speculative decoding (MTP drafts in the shared batch): greedy output is
// token-identical to plain decoding with several concurrent slots, through stop strings,
// logprobs, the context's end and the prefix cache; constrained requests do not draft; the
// adaptive stop works per request; /metrics counts the drafts.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "model/forward.h"
#include "runtime/speculative.h"
#include "runtime/thread_pool.h"
#include "server/metrics.h"
#include "server/prefix_cache.h"
#include "server/scheduler.h"
#include "test_util.h"
#include "tiny_model.h"
#include "tokenizer/tokenizer.h"

namespace ds::server {
namespace {

// A 12-token vocabulary: ids 3 … 11 are the printable `!"#$%&'()` of DeepSeek's tokenizer.
constexpr int64_t kVocab = 12;

enum class Drafter {
  kRandom,  // a random MTP module: its drafts are seldom right (rejections)
  kEcho,    // a module that drafts the last token again: right wherever the output repeats
};

struct SpecWorld {
  testing::TempDir dir;
  std::unique_ptr<Model> model;
  Tokenizer tok =
      Tokenizer::from_model_dir(std::string(DSINFER_TEST_DATA_DIR) + "/tokenizer/deepseek-v3");
  ThreadPool pool{2};
  TokenTable table;
  explicit SpecWorld(Drafter kind) {
    nlohmann::json cfg = testing::tiny_v3_config(kVocab);
    cfg["num_nextn_predict_layers"] = 1;
    const int64_t D = cfg["hidden_size"];
    const std::string mtp =
        "model.layers." + std::to_string(int64_t(cfg["num_hidden_layers"])) + ".";
    std::vector<float> lm_head;
    // The echo module: eh_proj passes the hidden half through, attention and FFN add nothing
    // (zero output projections), its norms are plain and its head is the LM head. Its logits
    // for the pair (h_i, t_{i+1}) are then the main model's at position i, scaled: it drafts
    // the token it was given, and chained drafts repeat it.
    auto echo = [&](const std::string& name, std::vector<float>& v) {
      if (name == "lm_head.weight") lm_head = v;
      if (name.rfind(mtp, 0) != 0) return;
      const std::string t = name.substr(mtp.size());
      if (t == "eh_proj.weight") {
        std::fill(v.begin(), v.end(), 0.0f);
        for (int64_t r = 0; r < D; ++r) v[size_t(r * 2 * D + D + r)] = 1.0f;
      } else if (t == "hnorm.weight" || t == "shared_head.norm.weight") {
        std::fill(v.begin(), v.end(), 1.0f);
      } else if (t == "self_attn.o_proj.weight" ||
                 t.find("down_proj.weight") != std::string::npos) {
        std::fill(v.begin(), v.end(), 0.0f);
      } else if (t == "shared_head.head.weight") {
        v = lm_head;
      }
    };
    testing::write_tiny_model(dir.path(), cfg, 11,
                              kind == Drafter::kEcho ? testing::TensorTweak(echo) : nullptr);
    model = Model::load(dir.path());
    table = TokenTable::build(tok, kVocab);
  }
};

SpecWorld& world(Drafter kind = Drafter::kEcho) {
  static SpecWorld random(Drafter::kRandom), echo(Drafter::kEcho);
  return kind == Drafter::kEcho ? echo : random;
}

struct Out {
  std::string content, finish;
  Usage usage;
  std::vector<int32_t> tokens;  // from the logprobs, when asked for
  std::vector<float> logprobs;
};

Out collect(RequestState& st) {
  Out o;
  for (;;) {
    std::vector<Delta> ds;
    const bool done = st.wait(ds, std::chrono::milliseconds(100));
    for (auto& d : ds) {
      o.content += d.reasoning + d.content;
      for (const auto& lp : d.logprobs) {
        o.tokens.push_back(lp.token);
        o.logprobs.push_back(lp.logprob);
      }
    }
    if (done) break;
  }
  EXPECT_EQ(st.error, "");
  o.finish = st.finish_reason;
  o.usage = st.usage;
  return o;
}

std::vector<int32_t> prompt(int64_t n, uint32_t seed) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (auto& x : t) x = 3 + int32_t(((seed = seed * 1664525u + 1013904223u) >> 8) % 9);
  return t;
}

// Greedy; EOS (id 1) banned so that outputs run to their limits; logprobs give the ids.
GenRequest request(int64_t n_prompt, uint32_t seed, int64_t max_tokens) {
  GenRequest r;
  r.prompt = prompt(n_prompt, seed);
  r.max_tokens = max_tokens;
  r.sampling.temperature = 0;
  r.logit_bias = {{1, -100.0f}};
  r.top_logprobs = 0;
  return r;
}

SchedulerOptions opts(int slots, int draft, int64_t ctx = 256) {
  SchedulerOptions o;
  o.n_slots = slots;
  o.ctx_size = ctx;
  o.prefill_chunk = 8;  // chunked prefill alongside decoding (and drafting) slots
  o.spec_draft = draft;
  return o;
}

// Runs the requests through one scheduler, all submitted at once.
std::vector<Out> run_all(const SchedulerOptions& o, const std::vector<GenRequest>& reqs, Metrics& m,
                         Drafter kind = Drafter::kEcho) {
  SpecWorld& w = world(kind);
  Scheduler s(*w.model, w.tok, w.pool, w.table, o, m);
  std::vector<std::shared_ptr<RequestState>> st;
  for (const GenRequest& r : reqs) st.push_back(s.submit(r));
  std::vector<Out> out;
  for (auto& x : st) out.push_back(collect(*x));
  return out;
}

// The value of a metric line of /metrics ("name value").
double metric(const Metrics& m, const std::string& name) {
  const std::string text = m.render(1, 0);
  const size_t at = text.find("\n" + name + " ");
  EXPECT_NE(at, std::string::npos) << name;
  return at == std::string::npos ? -1 : std::stod(text.substr(at + name.size() + 2));
}

void expect_same(const std::vector<Out>& plain, const std::vector<Out>& spec,
                 const std::string& what) {
  ASSERT_EQ(plain.size(), spec.size());
  for (size_t i = 0; i < plain.size(); ++i) {
    EXPECT_EQ(spec[i].tokens, plain[i].tokens) << what << ", request " << i;
    EXPECT_EQ(spec[i].content, plain[i].content) << what << ", request " << i;
    EXPECT_EQ(spec[i].finish, plain[i].finish) << what << ", request " << i;
    EXPECT_EQ(spec[i].usage.completion, plain[i].usage.completion) << what << ", request " << i;
    ASSERT_EQ(spec[i].logprobs.size(), plain[i].logprobs.size());
    for (size_t j = 0; j < plain[i].logprobs.size(); ++j)
      EXPECT_NEAR(spec[i].logprobs[j], plain[i].logprobs[j], 1e-5) << what << ", request " << i;
  }
}

TEST(SchedulerSpec, GreedyOutputIsIdenticalWithConcurrentSlots) {
  for (Drafter kind : {Drafter::kRandom, Drafter::kEcho}) {
    const std::string name = kind == Drafter::kEcho ? "echo" : "random";
    ASSERT_EQ(world(kind).model->mtp.size(), 1u);
    std::vector<GenRequest> reqs = {request(5, 1, 40), request(30, 2, 33), request(12, 3, 40),
                                    request(3, 4, 17), request(21, 5, 40)};
    reqs[2].top_logprobs = -1;  // no logprobs: content and counts only
    reqs[3].top_logprobs = 2;
    reqs[4].logit_bias.clear();  // EOS allowed: it may end the output
    Metrics m0;
    const std::vector<Out> first = run_all(opts(1, 0), {reqs[0]}, m0, kind);
    // A stop string from the middle of an output cuts it the same way with drafts.
    ASSERT_GE(first[0].content.size(), 6u);
    GenRequest cut = reqs[0];
    cut.stop = {first[0].content.substr(4, 2)};
    reqs.push_back(cut);
    Metrics mp;
    const std::vector<Out> plain = run_all(opts(1, 0), reqs, mp, kind);  // one at a time
    EXPECT_EQ(plain.back().finish, "stop");
    EXPECT_EQ(metric(mp, "dsinfer_spec_draft_tokens_total"), 0);

    double drafted = 0, accepted = 0;
    std::map<int, double> accepted_with;
    for (int k : {1, 2, 4}) {
      const std::string what = name + ", draft " + std::to_string(k);
      Metrics m;
      const std::vector<Out> spec = run_all(opts(3, k), reqs, m, kind);  // 3 slots, 6 requests
      expect_same(plain, spec, what);
      const double d = metric(m, "dsinfer_spec_draft_tokens_total");
      const double a = metric(m, "dsinfer_spec_accepted_tokens_total");
      EXPECT_GT(d, 0) << what;
      EXPECT_LE(a, d) << what;
      drafted += d;
      accepted += a;
      accepted_with[k] = a;
      // The same tokens came out of decoding rows, however many steps it took.
      EXPECT_EQ(metric(m, "dsinfer_generated_tokens_total"),
                metric(mp, "dsinfer_generated_tokens_total"))
          << what;
    }
    EXPECT_GT(accepted, 0) << name << ": no draft was accepted";
    EXPECT_LT(accepted, drafted) << name << ": no draft was rejected";
    // Runs of accepted drafts (each ending in a bonus token when the whole run was right):
    // four drafts per step get more accepted than one.
    if (kind == Drafter::kEcho) {
      EXPECT_GT(accepted_with[4], accepted_with[1]);
    }
  }
}

TEST(SchedulerSpec, ContextEndIsTheSameAsWithoutDrafts) {
  // Prompts close to a 48-token context: drafts must stop at its end, and the output still
  // ends where plain decoding's does.
  // The first two repeat a token at the end, so the echo module's drafts are accepted right
  // up to the context's end.
  const std::vector<GenRequest> reqs = {request(5, 1, 100), request(3, 4, 100), request(40, 7, 100),
                                        request(44, 8, 100), request(47, 9, 100)};
  Metrics m0, m;
  const std::vector<Out> plain = run_all(opts(1, 0, 48), reqs, m0);
  const std::vector<Out> spec = run_all(opts(3, 3, 48), reqs, m);
  expect_same(plain, spec, "context end");
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(spec[i].finish, "length");
    EXPECT_EQ(int64_t(reqs[i].prompt.size()) + spec[i].usage.completion, 48 + 1) << i;
  }
}

TEST(SchedulerSpec, PrefixCacheRestoresHiddenStatesForTheMtpModule) {
  // One slot: the second request overwrites the first's sequence (snapshotted), the third
  // extends the first one's prompt and gets its snapshot back, with the hidden states the
  // MTP module catches up from.
  const GenRequest a = request(24, 21, 12);
  const GenRequest b = request(10, 22, 12);
  GenRequest c = a;
  const std::vector<int32_t> more = prompt(6, 23);
  c.prompt.insert(c.prompt.end(), more.begin(), more.end());
  c.max_tokens = 30;
  SpecWorld& w = world();
  double drafted_ab = 0, accepted_ab = 0;
  auto sequential = [&](int draft, Metrics& m) {
    Scheduler s(*w.model, w.tok, w.pool, w.table, opts(1, draft), m);
    std::vector<Out> out;
    out.push_back(collect(*s.submit(a)));
    out.push_back(collect(*s.submit(b)));
    drafted_ab = metric(m, "dsinfer_spec_draft_tokens_total");
    accepted_ab = metric(m, "dsinfer_spec_accepted_tokens_total");
    out.push_back(collect(*s.submit(c)));
    return out;
  };
  Metrics m0, m;
  const std::vector<Out> plain = sequential(0, m0);
  const std::vector<Out> spec = sequential(2, m);
  expect_same(plain, spec, "prefix cache");
  EXPECT_GE(spec[2].usage.cached, int64_t(a.prompt.size()));
  EXPECT_EQ(spec[2].usage.cached, plain[2].usage.cached);
  EXPECT_GT(metric(m, "dsinfer_prefix_cache_hits_total"), 0);
  // The same drafts as a fresh run of the third request alone: the MTP cache was right.
  Metrics fresh;
  const std::vector<Out> alone = run_all(opts(1, 2), {c}, fresh);
  expect_same({plain[2]}, alone, "fresh");
  EXPECT_EQ(metric(m, "dsinfer_spec_draft_tokens_total") - drafted_ab,
            metric(fresh, "dsinfer_spec_draft_tokens_total"));
  EXPECT_EQ(metric(m, "dsinfer_spec_accepted_tokens_total") - accepted_ab,
            metric(fresh, "dsinfer_spec_accepted_tokens_total"));
  EXPECT_GT(metric(fresh, "dsinfer_spec_accepted_tokens_total"), 0);
}

TEST(SchedulerSpec, SnapshotsCarryHiddenStatesAndValidMtpRows) {
  // A session that drafted is snapshotted; a prompt that extends part of it gets the
  // snapshot back: the hidden states, and the MTP rows whose pairs lie inside the shared
  // prefix. Drafting on from there writes the same MTP rows and drafts as a fresh session.
  SpecWorld& w = world(Drafter::kRandom);  // its drafts depend on the module's cache
  const ModelConfig& c = w.model->config;
  const int64_t V = c.vocab_size, W = c.kv_cache_width(), mtp_layer = c.num_hidden_layers;
  std::vector<float> logits(static_cast<size_t>(V));
  Activations act;
  auto drafts_after = [&](Session& s, const std::vector<int32_t>& toks) {
    s.forward(toks.data() + s.n_past(), int64_t(toks.size()) - s.n_past(), logits.data(), false);
    DraftSeq d{&s, argmax(logits.data(), V), 3, {}};
    draft_tokens(*w.model, &d, 1, act, w.pool);
    return d.drafts;
  };
  const std::vector<int32_t> a = prompt(30, 61);
  std::vector<int32_t> b(a.begin(), a.begin() + 20);
  const std::vector<int32_t> more = prompt(9, 62);
  b.insert(b.end(), more.begin(), more.end());

  Session first(*w.model, w.pool, 64);
  first.set_keep_hidden(true);
  drafts_after(first, a);
  ASSERT_EQ(first.mtp_past(), 30);
  PrefixCache cache(size_t(64) << 20);
  cache.store(first);

  Session restored(*w.model, w.pool, 64), fresh(*w.model, w.pool, 64), plain(*w.model, w.pool, 64);
  restored.set_keep_hidden(true);
  fresh.set_keep_hidden(true);
  EXPECT_EQ(cache.restore(plain, b, 28, 0), 20);  // a session without drafts uses it too
  PrefixCache no_hidden(size_t(64) << 20);        // ... but not the other way round
  no_hidden.store(plain);
  EXPECT_EQ(no_hidden.restore(restored, b, 28, 0), 0);
  ASSERT_EQ(cache.restore(restored, b, 28, 0), 20);
  EXPECT_EQ(restored.mtp_past(), 19);  // the pair at 19 needs token 20: still a's
  const int64_t D = c.hidden_size;
  EXPECT_EQ(restored.hidden_history(), std::vector<float>(first.hidden_history().begin(),
                                                          first.hidden_history().begin() + 20 * D));
  const std::vector<int32_t> d_restored = drafts_after(restored, b);
  const std::vector<int32_t> d_fresh = drafts_after(fresh, b);
  EXPECT_EQ(d_restored, d_fresh);
  ASSERT_EQ(restored.mtp_past(), fresh.mtp_past());
  std::vector<float> rr(static_cast<size_t>(W)), rf(static_cast<size_t>(W));
  for (int64_t p = 0; p < fresh.mtp_past(); ++p) {
    restored.cache().load(mtp_layer, p, rr.data());
    fresh.cache().load(mtp_layer, p, rf.data());
    for (int64_t j = 0; j < W; ++j)
      ASSERT_NEAR(rr[size_t(j)], rf[size_t(j)], 1e-5) << "MTP row " << p;
  }
}

TEST(SchedulerSpec, ConstrainedRequestsDoNotDraft) {
  SpecWorld& w = world();
  Metrics m;
  Scheduler s(*w.model, w.tok, w.pool, w.table, opts(2, 2), m);
  GenRequest r = request(8, 31, 10);
  r.constraint = {Segment{Segment::Kind::kForced, {5, 6, 7, 8}, {}}};
  const Out o = collect(*s.submit(r));
  EXPECT_EQ(o.finish, "stop");
  EXPECT_EQ(o.tokens, (std::vector<int32_t>{5, 6, 7, 8}));
  EXPECT_EQ(metric(m, "dsinfer_spec_draft_tokens_total"), 0);
  // An unconstrained request on the same server drafts.
  collect(*s.submit(request(8, 32, 10)));
  EXPECT_GT(metric(m, "dsinfer_spec_draft_tokens_total"), 0);
}

TEST(SchedulerSpec, AdaptiveStopEndsDraftingPerRequest) {
  // With a minimum acceptance no random module reaches, each request drafts for its first
  // 32 drafts (plus the last step's) and then decodes plainly; the output does not change.
  const std::vector<GenRequest> reqs = {request(6, 41, 80), request(9, 42, 80)};
  Metrics m0, m;
  const std::vector<Out> plain = run_all(opts(1, 0), reqs, m0, Drafter::kRandom);
  SchedulerOptions o = opts(2, 1);
  o.spec_min_accept = 0.999;
  const std::vector<Out> spec = run_all(o, reqs, m, Drafter::kRandom);
  expect_same(plain, spec, "adaptive");
  const double drafted = metric(m, "dsinfer_spec_draft_tokens_total");
  ASSERT_LT(metric(m, "dsinfer_spec_accepted_tokens_total"), 0.999 * drafted) << "drafts too good";
  EXPECT_GE(drafted, 2 * 32);
  EXPECT_LE(drafted, 2 * 33);
}

TEST(SchedulerSpec, SampledOutputIsReproducibleAndIndependentOfOtherSlots) {
  // Sampling with drafts follows the same distribution as without (the generator's rule,
  // tested in speculative_test.cpp); here: a seed gives the same output alone and among
  // other requests, since a slot's drafts depend on its own sequence only.
  std::vector<GenRequest> reqs;
  for (uint32_t i = 0; i < 3; ++i) {
    GenRequest r = request(7 + i, 51 + i, 30);
    r.sampling.temperature = 0.8f;
    r.sampling.seed = 100 + i;
    reqs.push_back(r);
  }
  Metrics m1, m3;
  std::vector<Out> alone;
  for (const GenRequest& r : reqs) alone.push_back(run_all(opts(1, 2), {r}, m1)[0]);
  const std::vector<Out> together = run_all(opts(3, 2), reqs, m3);
  expect_same(alone, together, "sampled");
  EXPECT_GT(metric(m3, "dsinfer_spec_draft_tokens_total"), 0);
}

}  // namespace
}  // namespace ds::server

// The scheduler on a small random model with DeepSeek's real vocabulary: batched and
// sequential runs agree, the prefix cache is reused, constraints hold, cancellation frees slots.
#include "server/scheduler.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "model/forward.h"
#include "runtime/thread_pool.h"
#include "server/metrics.h"
#include "server/prefix_cache.h"
#include "server/tool_calls.h"
#include "test_util.h"
#include "tiny_model.h"
#include "tokenizer/tokenizer.h"

namespace ds::server {
namespace {

struct World {
  testing::TempDir dir;
  std::unique_ptr<Model> model;
  Tokenizer tok =
      Tokenizer::from_model_dir(std::string(DSINFER_TEST_DATA_DIR) + "/tokenizer/deepseek-v3");
  ThreadPool pool{2};
  TokenTable table;
  World() {
    testing::write_tiny_model(dir.path(), testing::tiny_v3_config(129280), 7);
    model = Model::load(dir.path());
    table = TokenTable::build(tok, model->config.vocab_size);
  }
};

World& world() {
  static World w;
  return w;
}

struct Out {
  std::string reasoning, content, finish;
  Usage usage;
  std::vector<ToolCall> calls;
};

Out collect(RequestState& st) {
  Out o;
  for (;;) {
    std::vector<Delta> ds;
    const bool done = st.wait(ds, std::chrono::milliseconds(100));
    for (auto& d : ds) o.reasoning += d.reasoning, o.content += d.content;
    if (done) break;
  }
  EXPECT_EQ(st.error, "");
  o.finish = st.finish_reason;
  o.usage = st.usage;
  o.calls = st.tool_calls;
  return o;
}

GenRequest request(const std::string& text, int64_t max_tokens) {
  GenRequest r;
  r.prompt = world().tok.encode(text, false);
  r.max_tokens = max_tokens;
  r.sampling.temperature = 0;  // greedy: comparable across runs
  return r;
}

SchedulerOptions opts(int slots) {
  SchedulerOptions o;
  o.n_slots = slots;
  o.ctx_size = 512;
  o.prefill_chunk = 8;  // forces chunked prefill of the longer prompts
  return o;
}

const char* kPrompts[] = {"The quick brown fox jumps over the lazy dog, again and again.", "Hello",
                          "A much longer prompt, so that it needs several chunks of "
                          "prefill while the other two sequences are already decoding tokens."};

TEST(Scheduler, BatchedRunsMatchOneAtATime) {
  World& w = world();
  Metrics m1, m3;
  std::vector<Out> seq, par;
  {
    Scheduler s(*w.model, w.tok, w.pool, w.table, opts(1), m1);
    for (const char* p : kPrompts) seq.push_back(collect(*s.submit(request(p, 12))));
  }
  {
    Scheduler s(*w.model, w.tok, w.pool, w.table, opts(3), m3);
    std::vector<std::shared_ptr<RequestState>> st;
    for (const char* p : kPrompts) st.push_back(s.submit(request(p, 12)));
    for (auto& x : st) par.push_back(collect(*x));
  }
  for (size_t i = 0; i < seq.size(); ++i) {
    EXPECT_EQ(seq[i].content, par[i].content) << i;
    EXPECT_EQ(seq[i].usage.completion, par[i].usage.completion);
    EXPECT_EQ(seq[i].usage.prompt, int64_t(request(kPrompts[i], 1).prompt.size()));
  }
}

TEST(Scheduler, SecondRequestReusesTheSharedPrefix) {
  World& w = world();
  Metrics m;
  Scheduler s(*w.model, w.tok, w.pool, w.table, opts(2), m);
  const std::string system = "You are a helpful assistant who answers in one short sentence. ";
  const Out a = collect(*s.submit(request(system + "What is two plus two?", 8)));
  EXPECT_EQ(a.usage.cached, 0);
  const Out b = collect(*s.submit(request(system + "Name a colour.", 8)));
  const int64_t shared = int64_t(w.tok.encode(system, false).size());
  EXPECT_GE(b.usage.cached, shared - 1);
  EXPECT_LT(b.usage.cached, b.usage.prompt);
  const Out a2 = collect(*s.submit(request(system + "What is two plus two?", 8)));
  EXPECT_EQ(a2.content, a.content);  // same tokens from cached KV as from a fresh prefill
  EXPECT_EQ(a2.usage.cached, a2.usage.prompt - 1);
}

TEST(Scheduler, PrefixCacheSnapshotsRestoreExactly) {
  World& w = world();
  const int64_t V = w.model->config.vocab_size;
  Session a(*w.model, w.pool, 64), b(*w.model, w.pool, 64), c(*w.model, w.pool, 64);
  const std::vector<int32_t> t = w.tok.encode("one two three four five six", false);
  a.forward(t.data(), int64_t(t.size()), nullptr, false);
  PrefixCache cache(size_t(64) << 20);
  cache.store(a);
  EXPECT_EQ(cache.entries(), 1u);
  std::vector<int32_t> u = t;
  u.back() = 100;  // differs in the last token only
  EXPECT_EQ(cache.match(u), int64_t(t.size()) - 1);
  EXPECT_EQ(cache.restore(b, u, int64_t(u.size()) - 1, 0), int64_t(t.size()) - 1);
  std::vector<float> lb(static_cast<size_t>(V)), lc(static_cast<size_t>(V));
  b.forward(&u.back(), 1, lb.data(), false);
  c.forward(u.data(), int64_t(u.size()), lc.data(), false);
  for (int64_t i = 0; i < V; i += 997) EXPECT_NEAR(lb[size_t(i)], lc[size_t(i)], 1e-4);
  PrefixCache tiny(16);  // too small for any snapshot
  tiny.store(a);
  EXPECT_EQ(tiny.entries(), 0u);
}

TEST(Scheduler, PrefixCacheKeepsBf16SnapshotsAtTheirRealSize) {
  World& w = world();
  const int64_t V = w.model->config.vocab_size;
  Session a(*w.model, w.pool, 64, DType::BF16), b(*w.model, w.pool, 64, DType::BF16),
      c(*w.model, w.pool, 64, DType::BF16), f(*w.model, w.pool, 64, DType::F32);
  const std::vector<int32_t> t = w.tok.encode("one two three four five six", false);
  const int64_t n = int64_t(t.size());
  a.forward(t.data(), n, nullptr, false);
  PrefixCache cache(size_t(64) << 20);
  cache.store(a);
  ASSERT_EQ(cache.entries(), 1u);
  // Token ids plus layers × width bf16 values per token: half an F32 snapshot's KV bytes.
  const ModelConfig& cfg = w.model->config;
  EXPECT_EQ(a.kv_bytes_per_token(), cfg.num_hidden_layers * cfg.kv_cache_width() * 2);
  EXPECT_EQ(cache.bytes(), size_t(n * 4 + n * a.kv_bytes_per_token()));
  // Restores exactly into a BF16 session; never into an F32 one.
  std::vector<int32_t> u = t;
  u.back() = 100;
  EXPECT_EQ(cache.restore(f, u, n - 1, 0), 0);
  EXPECT_EQ(f.n_past(), 0);
  EXPECT_EQ(cache.restore(b, u, n - 1, 0), n - 1);
  std::vector<float> lb(static_cast<size_t>(V)), lc(static_cast<size_t>(V));
  b.forward(&u.back(), 1, lb.data(), false);
  c.forward(u.data(), n, lc.data(), false);
  for (int64_t i = 0; i < V; i += 997) EXPECT_NEAR(lb[size_t(i)], lc[size_t(i)], 1e-4);
  // A budget that holds the bf16 snapshot but not an f32 one of the same tokens.
  PrefixCache fits(size_t(n * 4 + n * a.kv_bytes_per_token()));
  fits.store(a);
  EXPECT_EQ(fits.entries(), 1u);
  f.forward(t.data(), n, nullptr, false);
  fits.store(f);  // evicts the bf16 one or is refused: the f32 snapshot is twice the KV bytes
  EXPECT_LE(fits.bytes(), fits.budget());
}

TEST(Scheduler, Bf16CacheSlotsGenerateLikeBf16Sessions) {
  World& w = world();
  Metrics m;
  SchedulerOptions o = opts(2);
  o.cache_type = DType::BF16;
  Scheduler s(*w.model, w.tok, w.pool, w.table, o, m);
  const std::string system = "You are a helpful assistant who answers in one short sentence. ";
  const Out a = collect(*s.submit(request(system + "What is two plus two?", 8)));
  const Out b = collect(*s.submit(request(system + "Name a colour.", 8)));
  EXPECT_GT(b.usage.cached, 0);
  const Out a2 = collect(*s.submit(request(system + "What is two plus two?", 8)));
  EXPECT_EQ(a2.content, a.content);
  EXPECT_EQ(a2.usage.cached, a2.usage.prompt - 1);
}

TEST(Scheduler, JsonModeEndsWithAValidObjectWithinMaxTokens) {
  World& w = world();
  Metrics m;
  Scheduler s(*w.model, w.tok, w.pool, w.table, opts(2), m);
  for (uint64_t seed : {1, 2, 3}) {
    GenRequest r = request("Reply in JSON.", 24);
    r.sampling.temperature = 1.0f;
    r.sampling.seed = seed;
    r.constraint = {Segment{Segment::Kind::kJson, {}, {}}};
    const Out o = collect(*s.submit(r));
    EXPECT_EQ(o.finish, "stop");
    EXPECT_LE(o.usage.completion, 24);
    EXPECT_TRUE(nlohmann::json::accept(o.content)) << o.content;
    EXPECT_TRUE(nlohmann::json::parse(o.content).is_object());
  }
}

TEST(Scheduler, ForcedToolCallIsParsed) {
  World& w = world();
  Metrics m;
  Scheduler s(*w.model, w.tok, w.pool, w.table, opts(1), m);
  GenRequest r = request("Call a tool.", 40);
  r.sampling.temperature = 1.0f;
  r.detect_tool_calls = true;
  r.constraint_is_tool_call = true;
  Segment pre{Segment::Kind::kForced,
              w.tok.encode(std::string(kToolCallsBegin) + std::string(kToolCallBegin) + "function" +
                               std::string(kToolSep),
                           false),
              {}};
  Segment name{Segment::Kind::kChoice, {}, {"get_weather\n```json\n", "get_time\n```json\n"}};
  Segment suf{Segment::Kind::kForced, w.tok.encode(tool_call_suffix(true), false), {}};
  r.constraint = {pre, name, Segment{Segment::Kind::kJson, {}, {}}, suf};
  const Out o = collect(*s.submit(r));
  EXPECT_EQ(o.finish, "tool_calls");
  ASSERT_EQ(o.calls.size(), 1u);
  EXPECT_TRUE(o.calls[0].name == "get_weather" || o.calls[0].name == "get_time") << o.calls[0].name;
  EXPECT_TRUE(nlohmann::json::parse(o.calls[0].arguments).is_object());
  EXPECT_EQ(o.content, "");
}

TEST(Scheduler, ReasoningIsSplitAndCounted) {
  World& w = world();
  Metrics m;
  Scheduler s(*w.model, w.tok, w.pool, w.table, opts(1), m);
  GenRequest r = request("<｜User｜>hi<｜Assistant｜><think>\n", 6);
  r.opens_reasoning = r.split_reasoning = true;
  const Out o = collect(*s.submit(r));
  EXPECT_EQ(o.content, "");  // a random model does not close the think block in 6 tokens
  EXPECT_EQ(o.usage.reasoning, o.usage.completion);
  // Forcing the close tag first: no reasoning, the rest is content.
  GenRequest f = r;
  f.constraint = {Segment{Segment::Kind::kForced, w.tok.encode("</think>\n\n", false), {}}};
  const Out g = collect(*s.submit(f));
  EXPECT_EQ(g.reasoning, "");
}

TEST(Scheduler, CancelledRequestsFreeTheirSlot) {
  World& w = world();
  Metrics m;
  Scheduler s(*w.model, w.tok, w.pool, w.table, opts(1), m);
  auto long_one = s.submit(request("Go on forever", 400));
  auto queued = s.submit(request("Next", 4));
  long_one->cancelled = true;
  const Out a = collect(*long_one);
  EXPECT_EQ(a.finish, "cancelled");
  const Out b = collect(*queued);
  EXPECT_EQ(b.usage.completion, 4);
  EXPECT_TRUE(s.idle());
}

TEST(Scheduler, StopStringsCutTheOutput) {
  World& w = world();
  Metrics m;
  Scheduler s(*w.model, w.tok, w.pool, w.table, opts(1), m);
  const Out full = collect(*s.submit(request("Say something", 10)));
  ASSERT_GE(full.content.size(), 4u);
  GenRequest r = request("Say something", 10);
  r.stop = {full.content.substr(2, 2)};
  const Out cut = collect(*s.submit(r));
  EXPECT_EQ(cut.finish, "stop");
  EXPECT_EQ(cut.content, full.content.substr(0, full.content.find(r.stop[0])));
}

}  // namespace
}  // namespace ds::server

namespace ds::server {
namespace {

// Log-probabilities against float64 on the same logits (the prompt's last row from a session,
// masked past the tokenizer's vocabulary as the scheduler masks it): the chosen token's and
// the top 5, in order.
TEST(Scheduler, LogprobsMatchFloat64) {
  World& w = world();
  Metrics m;
  Scheduler s(*w.model, w.tok, w.pool, w.table, opts(1), m);
  GenRequest r = request("Hello there", 1);
  r.top_logprobs = 5;
  auto st = s.submit(r);
  std::vector<TokenLogprob> got;
  for (;;) {
    std::vector<Delta> ds;
    const bool done = st->wait(ds, std::chrono::milliseconds(100));
    for (auto& d : ds) got.insert(got.end(), d.logprobs.begin(), d.logprobs.end());
    if (done) break;
  }
  ASSERT_EQ(got.size(), 1u);

  const int64_t V = w.model->config.vocab_size;
  Session sess(*w.model, w.pool, 64);
  std::vector<float> row(static_cast<size_t>(V));
  sess.forward(r.prompt.data(), int64_t(r.prompt.size()), row.data(), false);
  for (int64_t id = w.tok.vocab_size(); id < V; ++id)
    row[size_t(id)] = -std::numeric_limits<float>::infinity();
  double mx = -INFINITY, sum = 0;
  for (float x : row) mx = std::max(mx, double(x));
  for (float x : row) sum += std::exp(double(x) - mx);
  const double lse = mx + std::log(sum);
  std::vector<int32_t> ids(static_cast<size_t>(V));
  for (int32_t i = 0; i < int32_t(V); ++i) ids[size_t(i)] = i;
  std::partial_sort(ids.begin(), ids.begin() + 5, ids.end(), [&](int32_t a, int32_t b) {
    return row[size_t(a)] > row[size_t(b)] || (row[size_t(a)] == row[size_t(b)] && a < b);
  });
  EXPECT_EQ(got[0].token, ids[0]);  // greedy
  EXPECT_NEAR(got[0].logprob, double(row[size_t(ids[0])]) - lse, 1e-4);
  ASSERT_EQ(got[0].top.size(), 5u);
  for (size_t j = 0; j < 5; ++j) {
    EXPECT_EQ(got[0].top[j].first, ids[j]) << j;
    EXPECT_NEAR(got[0].top[j].second, double(row[size_t(ids[j])]) - lse, 1e-4) << j;
  }
}

}  // namespace
}  // namespace ds::server

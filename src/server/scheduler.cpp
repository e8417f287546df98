#include "server/scheduler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "backend/cpu/kernels.h"
#include "core/error.h"
#include "model/forward.h"
#include "runtime/reasoning.h"
#include "runtime/sampler.h"
#include "runtime/speculative.h"
#include "runtime/thread_pool.h"
#include "server/metrics.h"
#include "server/prefix_cache.h"
#include "tokenizer/tokenizer.h"

namespace ds::server {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// How many bytes at the end of `text` could still grow into a stop string.
size_t stop_holdback(const std::string& text, const std::vector<std::string>& stops) {
  size_t hold = 0;
  for (const auto& st : stops)
    for (size_t n = std::min(text.size(), st.empty() ? 0 : st.size() - 1); n > hold; --n)
      if (text.compare(text.size() - n, n, st, 0, n) == 0) {
        hold = n;
        break;
      }
  return hold;
}

// log Σ_i exp(logits[i]), with the kernels' SIMD exp over a scratch copy (relative error of
// the sum about 1e-6: what a float log-probability holds anyway). The double-precision
// std::exp over a 129K vocabulary took about as long as a fifth of a decode step.
double log_sum_exp(const float* logits, int64_t V, std::vector<float>& scratch) {
  const float mx = logits[argmax(logits, V)];
  if (!std::isfinite(mx)) return double(mx);
  scratch.assign(logits, logits + V);
  return double(mx) + std::log(double(cpu_kernels().exp_shifted_sum(scratch.data(), V, mx)));
}

// The k tokens with the largest logits, largest first (ties: lower id first), in one pass
// that keeps the k best so far.
std::vector<int32_t> top_tokens(const float* logits, int64_t V, int k) {
  std::vector<int32_t> best;
  if (k <= 0) return best;
  best.reserve(size_t(k) + 1);
  auto before = [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  for (int32_t i = 0; i < int32_t(V); ++i) {
    if (int(best.size()) == k && !before(i, best.back())) continue;
    best.insert(std::upper_bound(best.begin(), best.end(), i, before), i);
    if (int(best.size()) > k) best.pop_back();
  }
  return best;
}

int64_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return int64_t(i);
}

}  // namespace

// ---- RequestState ---------------------------------------------------------------------------

void RequestState::push(Delta d) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    pending_.push_back(std::move(d));
  }
  cv_.notify_all();
}

void RequestState::finish(std::string reason, std::vector<ToolCall> calls, Usage u) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (done_) return;  // already failed
    finish_reason = std::move(reason);
    tool_calls = std::move(calls);
    usage = u;
    done_ = true;
  }
  cv_.notify_all();
}

void RequestState::fail(std::string message) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    error = std::move(message);
    finish_reason = "error";
    done_ = true;
  }
  cv_.notify_all();
}

bool RequestState::wait(std::vector<Delta>& out, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lk(mu_);
  cv_.wait_for(lk, timeout, [&] { return done_ || !pending_.empty(); });
  while (!pending_.empty()) {
    out.push_back(std::move(pending_.front()));
    pending_.pop_front();
  }
  return done_;
}

// ---- Slots ------------------------------------------------------------------------------------

struct Scheduler::Slot {
  Slot(const Model& m, ThreadPool& pool, int64_t ctx, CacheType cache_type, bool keep_hidden)
      : session(m, pool, ctx, cache_type) {
    session.set_keep_hidden(keep_hidden);  // the MTP module drafts from the hidden states
  }
  enum class Phase { kIdle, kPrefill, kDecode } phase = Phase::kIdle;
  Session session;
  Job job;
  int64_t prefilled = 0;  // prompt tokens in the cache
  int32_t next = 0;       // the sampled token to feed next step
  int64_t n_gen = 0;
  int64_t n_reasoning = 0;
  int64_t n_cached = 0;  // prompt tokens whose KV was reused
  uint64_t last_use = 0;
  std::optional<Sampler> sampler;
  std::optional<StreamDecoder> decoder;
  std::optional<ReasoningSplitter> splitter;
  OutputConstraint constraint;
  std::string pending;    // decoded text held back (may begin a stop string)
  std::string tool_text;  // text of a tool-call block
  bool in_tools = false;
  std::vector<TokenLogprob> logprobs;  // of tokens whose text is not out yet
  std::vector<float> raw;              // [vocab] logits copy for logprobs
  bool drafting = false;               // speculative decoding for this request
  int64_t n_drafted = 0, n_accepted = 0;
  std::vector<int32_t> feed;  // this step's tokens: `next`, then its drafts
};

struct Scheduler::Impl {
  Activations act;
  PrefixCache cache;
  std::vector<float> logits;   // [n_slots, vocab]
  size_t rr = 0;               // round-robin start among prefilling slots
  std::vector<float> scratch;  // log_sum_exp's copy of a row of logits
  uint64_t tick = 0;
  explicit Impl(size_t cache_bytes) : cache(cache_bytes) {}
};

Scheduler::Scheduler(const Model& model, const Tokenizer& tok, ThreadPool& pool,
                     const TokenTable& table, SchedulerOptions opts, Metrics& metrics)
    : model_(model),
      tok_(tok),
      pool_(pool),
      table_(table),
      opts_(opts),
      metrics_(metrics),
      impl_(std::make_unique<Impl>(opts.cache_bytes)) {
  if (opts_.n_slots < 1) throw Error(cat("--parallel must be at least 1, got ", opts_.n_slots));
  opts_.spec_draft =
      model.mtp.empty() ? 0 : std::clamp<int>(opts_.spec_draft, 0, int(Session::kMaxBatch) - 1);
  for (int i = 0; i < opts_.n_slots; ++i)
    slots_.push_back(std::make_unique<Slot>(model, pool, opts_.ctx_size, opts_.cache_type,
                                            opts_.spec_draft > 0));
  impl_->logits.resize(size_t(opts_.n_slots) * size_t(model.config.vocab_size));
  if (tok.eos_id()) stop_ids_.push_back(*tok.eos_id());
  if (model.config.eos_token_id) stop_ids_.push_back(int32_t(*model.config.eos_token_id));
  if (auto id = tok.token_id(kToolCallsBegin)) tool_calls_begin_ = *id;
  if (auto id = tok.token_id(kToolCallsEnd)) tool_calls_end_ = *id;
  opts_.prefill_chunk = std::clamp<int64_t>(opts_.prefill_chunk, 1, Session::kMaxBatch);
  worker_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() {
  stop();
}

std::shared_ptr<RequestState> Scheduler::submit(GenRequest r) {
  DS_CHECK(!r.prompt.empty() && int64_t(r.prompt.size()) < opts_.ctx_size, "submit: prompt of ",
           r.prompt.size(), " tokens");
  auto state = std::make_shared<RequestState>();
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (draining_ || stop_ || queue_.size() >= opts_.max_queue) return nullptr;
    queue_.push_back(Job{std::move(r), state, Clock::now()});
    metrics_.queue_depth = int64_t(queue_.size());
  }
  cv_.notify_all();
  return state;
}

void Scheduler::drain() {
  std::lock_guard<std::mutex> lk(mu_);
  draining_ = true;
}

void Scheduler::cancel_all() {
  std::lock_guard<std::mutex> lk(mu_);
  for (Job& j : queue_) j.state->cancelled = true;
  for (auto& s : slots_)
    if (s->job.state) s->job.state->cancelled = true;
  cv_.notify_all();
}

bool Scheduler::idle() const {
  std::lock_guard<std::mutex> lk(mu_);
  return queue_.empty() && active_ == 0;
}

void Scheduler::stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stop_ && !worker_.joinable()) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void Scheduler::loop() {
  for (;;) {
    std::vector<Job> admitted;
    {
      std::unique_lock<std::mutex> lk(mu_);
      auto has_free = [&] {
        return std::any_of(slots_.begin(), slots_.end(),
                           [](const auto& s) { return s->phase == Slot::Phase::kIdle; });
      };
      // Sleeps while idle: no busy-spinning.
      cv_.wait(lk, [&] { return stop_ || active_ > 0 || (!queue_.empty() && has_free()); });
      if (stop_) break;
      int free = int(std::count_if(slots_.begin(), slots_.end(),
                                   [](const auto& s) { return s->phase == Slot::Phase::kIdle; }));
      while (free > 0 && !queue_.empty()) {  // first come, first served
        admitted.push_back(std::move(queue_.front()));
        queue_.pop_front();
        --free;
      }
      metrics_.queue_depth = int64_t(queue_.size());
    }
    for (Job& j : admitted) admit(std::move(j));
    if (active_ > 0) step();
  }
  // Shutting down: whatever is left is cancelled.
  for (auto& s : slots_)
    if (s->phase != Slot::Phase::kIdle) finish(*s, "cancelled");
  std::lock_guard<std::mutex> lk(mu_);
  for (Job& j : queue_) j.state->finish("cancelled", {}, Usage{int64_t(j.req.prompt.size())});
  queue_.clear();
}

void Scheduler::admit(Job job) {
  if (job.state->cancelled) {
    job.state->finish("cancelled", {}, Usage{int64_t(job.req.prompt.size())});
    return;
  }
  const std::vector<int32_t>& prompt = job.req.prompt;
  // At least one prompt token must run to produce the first logits.
  const int64_t max_reuse = int64_t(prompt.size()) - 1;
  // The idle slot already holding the longest prefix; ties go to the least recently used.
  Slot* best = nullptr;
  int64_t best_n = -1;
  for (auto& s : slots_) {
    if (s->phase != Slot::Phase::kIdle) continue;
    const int64_t n = std::min(common_prefix(s->session.tokens(), prompt), max_reuse);
    if (n > best_n || (n == best_n && s->last_use < best->last_use)) best = s.get(), best_n = n;
  }
  DS_CHECK(best, "admit without a free slot");
  Slot& s = *best;
  // The slot's sequence is about to be overwritten: keep it for later requests.
  if (s.session.n_past() > best_n) impl_->cache.store(s.session);
  int64_t reused = best_n;
  const int64_t restored = impl_->cache.restore(s.session, prompt, max_reuse, best_n);
  if (restored > 0)
    reused = restored;
  else
    s.session.truncate(best_n);
  metrics_.cache_bytes = int64_t(impl_->cache.bytes());
  metrics_.cache_entries = int64_t(impl_->cache.entries());
  metrics_.add_prompt(int64_t(prompt.size()), reused);

  s.job = std::move(job);
  const GenRequest& r = s.job.req;
  s.prefilled = reused;
  s.n_cached = reused;
  s.n_gen = 0;
  s.n_reasoning = 0;
  s.last_use = ++impl_->tick;
  s.sampler.emplace(r.sampling);
  for (int32_t t : prompt) s.sampler->accept(t);
  s.decoder.emplace(tok_, false);
  s.splitter.emplace(r.opens_reasoning);
  s.constraint = OutputConstraint(&table_, r.constraint);
  s.pending.clear();
  s.tool_text.clear();
  s.in_tools = false;
  s.logprobs.clear();
  // A constrained output (JSON mode, forced tool calls) masks or forces every token from the
  // constraint's state after the previous one, which drafts made without it would mostly
  // miss: such requests decode plainly. Everything else (stop strings, logprobs, streaming,
  // tool-call detection, reasoning) drafts; each accepted token goes through on_token.
  s.drafting = opts_.spec_draft > 0 && r.constraint.empty();
  s.n_drafted = s.n_accepted = 0;
  s.job.state->queued_s = seconds_since(s.job.submitted);
  s.phase = Slot::Phase::kPrefill;
  ++active_;
  metrics_.active_slots = active_.load();
}

void Scheduler::step() {
  const int64_t V = model_.config.vocab_size;
  // Clients that went away free their slots first.
  for (auto& s : slots_)
    if (s->phase != Slot::Phase::kIdle && s->job.state->cancelled) finish(*s, "cancelled");

  // Every decoding slot runs its next token; prompts get chunks of what is left, round-robin,
  // so a long prompt delays running streams by one chunk.
  std::vector<Slot*> decoding;
  for (auto& s : slots_)
    if (s->phase == Slot::Phase::kDecode) decoding.push_back(s.get());
  int64_t budget = Session::kMaxBatch - int64_t(decoding.size());
  std::vector<std::pair<Slot*, int64_t>> chunks;  // prefilling slot, prompt tokens this step
  const int64_t chunk = decoding.empty() ? Session::kMaxBatch : opts_.prefill_chunk;
  const size_t n_slots = slots_.size();
  for (size_t k = 0; k < n_slots && budget > 0; ++k) {
    Slot& s = *slots_[(impl_->rr + k) % n_slots];
    if (s.phase != Slot::Phase::kPrefill) continue;
    const int64_t n = std::min({int64_t(s.job.req.prompt.size()) - s.prefilled, chunk, budget});
    chunks.push_back({&s, n});
    budget -= n;
  }
  impl_->rr = (impl_->rr + 1) % n_slots;

  const auto t0 = Clock::now();
  // Drafts take what the prompts left: speculative tokens never delay a prompt.
  std::vector<DraftSeq> drafts;
  std::vector<Slot*> drafters;
  for (Slot* s : decoding) {
    s->feed.assign(1, s->next);
    if (s->drafting && !drafting_pays(s->n_drafted, s->n_accepted, opts_.spec_min_accept))
      s->drafting = false;  // the drafts do not pay on this text: plain steps from here on
    if (!s->drafting) continue;
    // As the generator: no further than the context and the tokens the request may still get.
    const int64_t k =
        std::min<int64_t>({opts_.spec_draft, s->session.ctx_size() - s->session.n_past() - 1,
                           s->job.req.max_tokens - s->n_gen, budget});
    if (k <= 0) continue;
    drafts.push_back(DraftSeq{&s->session, s->next, int(k), {}});
    drafters.push_back(s);
    budget -= k;
  }
  if (!drafts.empty()) {
    try {
      draft_tokens(model_, drafts.data(), drafts.size(), impl_->act, pool_);
      for (size_t i = 0; i < drafts.size(); ++i)
        drafters[i]->feed.insert(drafters[i]->feed.end(), drafts[i].drafts.begin(),
                                 drafts[i].drafts.end());
    } catch (const std::exception&) {
      // Drafting only saves time: should it fail, these requests go on without it.
      for (Slot* s : drafters) s->drafting = false;
    }
  }

  // The batch: decoding slots' tokens (all rows of logits when drafting: the drafts are
  // verified), then the prompt chunks (logits of a prompt's last token). Logits rows lie back
  // to back, so the LM head runs once for all of them.
  int64_t n_rows = 0;
  for (Slot* s : decoding) n_rows += int64_t(s->feed.size());
  for (const auto& [s, n] : chunks)
    if (s->prefilled + n == int64_t(s->job.req.prompt.size())) ++n_rows;
  if (impl_->logits.size() < size_t(n_rows * V)) impl_->logits.resize(size_t(n_rows * V));
  std::vector<SeqBatch> batch;
  std::vector<Slot*> owners;
  int64_t row = 0, n_decode = 0, n_prefill = 0;
  for (Slot* s : decoding) {
    SeqBatch b;
    b.session = &s->session;
    b.tokens = s->feed.data();
    b.n = int64_t(s->feed.size());
    b.all_logits = b.n > 1;
    b.logits = impl_->logits.data() + row * V;
    row += b.n;
    batch.push_back(b);
    owners.push_back(s);
    n_decode += b.n;
  }
  for (const auto& [s, n] : chunks) {
    SeqBatch b;
    b.session = &s->session;
    b.tokens = s->job.req.prompt.data() + s->prefilled;
    b.n = n;
    if (s->prefilled + n == int64_t(s->job.req.prompt.size()))
      b.logits = impl_->logits.data() + row++ * V;
    batch.push_back(b);
    owners.push_back(s);
    n_prefill += n;
  }
  if (batch.empty()) return;

  try {
    forward_multi(model_, pool_, impl_->act, batch.data(), batch.size());
    // Sampling and streaming the tokens run on this thread and the HTTP threads: the pool's
    // workers leave them the cores instead of spinning for the next step.
    pool_.rest();
  } catch (const std::exception& e) {
    for (Slot* s : owners) {
      s->job.state->fail(cat("generation failed: ", e.what()));
      s->job = Job{};
      s->session.truncate(0);
      s->phase = Slot::Phase::kIdle;
      --active_;
    }
    metrics_.active_slots = active_.load();
    return;
  }
  const double seconds = seconds_since(t0);

  int64_t generated = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    Slot& s = *owners[i];
    if (s.phase == Slot::Phase::kPrefill) {
      s.prefilled += batch[i].n;
      if (!batch[i].logits) continue;
      s.phase = Slot::Phase::kDecode;
      s.job.state->first_token_s = seconds_since(s.job.submitted);
    } else if (batch[i].n > 1) {
      generated += verify_row(s, batch[i].logits);
      continue;
    } else {
      ++generated;
    }
    sample_row(s, batch[i].logits);
  }
  metrics_.add_step(n_prefill, n_decode, generated, seconds);
}

// The request's logit_bias, and −inf for the rows past the tokenizer's vocabulary (padding of
// the embedding: never text).
void Scheduler::mask_row(const Slot& s, float* lg) const {
  const int64_t V = model_.config.vocab_size;
  for (const auto& [id, bias] : s.job.req.logit_bias)
    if (id >= 0 && id < V) lg[id] += bias;
  for (int64_t id = tok_.vocab_size(); id < V; ++id)
    lg[id] = -std::numeric_limits<float>::infinity();
}

// Picks the next token from one row of logits (modified) and emits it; may finish the slot.
void Scheduler::sample_row(Slot& s, float* lg) {
  const int64_t V = model_.config.vocab_size;
  const GenRequest& r = s.job.req;
  mask_row(s, lg);
  for (int32_t id : stop_ids_)  // end-of-sequence only once a constrained output is complete
    if (s.constraint.active() && id >= 0 && id < V)
      lg[id] = -std::numeric_limits<float>::infinity();
  const int64_t left = r.max_tokens - s.n_gen;
  if (s.constraint.active() && s.constraint.mask(lg, V, left) == 0) {
    finish(s, "length");
    return;
  }
  if (r.top_logprobs >= 0) s.raw.assign(lg, lg + V);
  try {
    const auto forced = s.constraint.forced();
    const int32_t tok = forced ? *forced : s.sampler->sample(lg, V);
    on_token(s, tok, r.top_logprobs >= 0 ? s.raw.data() : nullptr, s.session.n_past());
  } catch (const std::exception& e) {  // a bad request must not take the server down
    if (s.phase == Slot::Phase::kIdle) return;
    s.job.state->fail(cat("generation failed: ", e.what()));
    finish(s, "cancelled");  // frees the slot; the failure above is what the client sees
  }
}

// A drafting slot ran [next, d_1 … d_k]: `rows` holds their k+1 rows of logits. Accepts the
// drafts as the generator does (verify_drafts), emits them and the token after them, and
// rolls the cache back to the accepted length (the MTP cache follows: Session::truncate, and
// the next draft_tokens catches it up). Returns the tokens the rows produced.
int64_t Scheduler::verify_row(Slot& s, float* rows) {
  const int64_t V = model_.config.vocab_size;
  const int64_t k = int64_t(s.feed.size()) - 1;
  const int64_t P = s.session.n_past() - (k + 1);  // position of `next`
  const bool logprobs = s.job.req.top_logprobs >= 0;
  int64_t pos = P + 1;  // where the token emitted next stands
  // Counted as they happen, so that a request's drafts are in /metrics when it ends.
  metrics_.add_drafts(k, 0);
  try {
    const DraftVerdict v = verify_drafts(
        *s.sampler, s.feed.data() + 1, k,
        [&](int64_t j) {
          float* lg = rows + j * V;
          mask_row(s, lg);
          if (logprobs) s.raw.assign(lg, lg + V);
          s.sampler->prepare(lg, V);
        },
        [&](int32_t d) {
          metrics_.add_drafts(0, 1);
          on_token(s, d, logprobs ? s.raw.data() : nullptr, pos++);
          return s.phase == Slot::Phase::kDecode;
        });
    s.session.truncate(P + 1 + v.accepted);  // drop the rejected drafts' keys
    s.n_drafted += k;
    s.n_accepted += v.accepted;
    if (v.go_on) on_token(s, v.next, logprobs ? s.raw.data() : nullptr, pos);
    return v.accepted + (v.go_on ? 1 : 0);
  } catch (const std::exception& e) {  // a bad request must not take the server down
    if (s.phase != Slot::Phase::kIdle) {
      s.job.state->fail(cat("generation failed: ", e.what()));
      finish(s, "cancelled");
    }
    return 0;
  }
}

// Emits a generated token; `pos` is the position it takes in the sequence (where it is fed
// next, or was fed as an accepted draft). May finish the slot.
void Scheduler::on_token(Slot& s, int32_t token, const float* logits, int64_t pos) {
  const GenRequest& r = s.job.req;
  if (std::find(stop_ids_.begin(), stop_ids_.end(), token) != stop_ids_.end()) {
    finish(s, "stop");
    return;
  }
  ++s.n_gen;
  if (s.splitter->in_reasoning() && r.split_reasoning) ++s.n_reasoning;
  s.sampler->accept(token);
  s.constraint.accept(token);
  if (logits) {
    const int64_t V = model_.config.vocab_size;
    const double lse = log_sum_exp(logits, V, impl_->scratch);
    TokenLogprob lp;
    lp.token = token;
    lp.logprob = float(double(logits[token]) - lse);
    for (int32_t id : top_tokens(logits, V, std::min<int>(r.top_logprobs, int(V))))
      lp.top.push_back({id, float(double(logits[id]) - lse)});
    s.logprobs.push_back(std::move(lp));
  }

  if (r.detect_tool_calls && token == tool_calls_begin_ && !s.splitter->in_reasoning())
    s.in_tools = true;
  const std::string text = s.decoder->feed(token);
  Delta d;
  bool stopped = false;
  if (s.in_tools) {
    s.tool_text += text;
  } else {
    s.pending += text;
    for (const auto& st : r.stop) {
      const size_t at = st.empty() ? std::string::npos : s.pending.find(st);
      if (at != std::string::npos) {
        s.pending.resize(at);
        stopped = true;
      }
    }
    const size_t hold = stopped ? 0 : stop_holdback(s.pending, r.stop);
    const std::string piece = s.pending.substr(0, s.pending.size() - hold);
    s.pending.erase(0, s.pending.size() - hold);
    emit_text(s, piece, d, false);
  }
  if (!d.reasoning.empty() || !d.content.empty() || !d.logprobs.empty())
    s.job.state->push(std::move(d));

  if (stopped) return finish(s, "stop");
  if (s.in_tools && token == tool_calls_end_) return finish(s, "tool_calls");
  if (!r.constraint.empty() && !s.constraint.active())
    return finish(s, r.constraint_is_tool_call ? "tool_calls" : "stop");
  if (s.n_gen >= r.max_tokens || pos >= s.session.ctx_size()) return finish(s, "length");
  s.next = token;
}

void Scheduler::emit_text(Slot& s, const std::string& text, Delta& d, bool final) {
  ReasoningSplitter::Piece p;
  if (s.job.req.split_reasoning) {
    p = s.splitter->feed(text);
    if (final) {
      ReasoningSplitter::Piece rest = s.splitter->flush();
      p.reasoning += rest.reasoning;
      p.content += rest.content;
    }
  } else {
    p.content = text;
  }
  d.reasoning += p.reasoning;
  d.content += p.content;
  // Logprobs travel with the first delta that carries text after their tokens.
  if (!p.reasoning.empty() || !p.content.empty() || final) {
    for (auto& lp : s.logprobs) d.logprobs.push_back(std::move(lp));
    s.logprobs.clear();
  }
}

void Scheduler::finish(Slot& s, const std::string& reason) {
  const GenRequest& r = s.job.req;
  std::string why = reason;
  std::vector<ToolCall> calls;
  if (reason != "cancelled") {
    Delta d;
    std::string rest = s.decoder->flush();
    if (s.in_tools) {
      s.tool_text += rest;
      ParsedToolCalls parsed = parse_tool_calls(s.tool_text);
      calls = std::move(parsed.calls);
      if (calls.empty()) {
        emit_text(s, s.tool_text, d, false);  // not a well-formed call: plain text
      } else if (why != "length") {
        why = "tool_calls";
      }
      emit_text(s, s.pending, d, true);
    } else {
      rest = s.pending + rest;  // nothing can complete a stop string now
      for (const auto& st : r.stop)
        if (!st.empty()) {
          const size_t at = rest.find(st);
          if (at != std::string::npos) rest.resize(at);
        }
      emit_text(s, rest, d, true);
    }
    if (!d.reasoning.empty() || !d.content.empty() || !d.logprobs.empty())
      s.job.state->push(std::move(d));
  }
  Usage u;
  u.prompt = int64_t(r.prompt.size());
  u.completion = s.n_gen;
  u.reasoning = s.n_reasoning;
  u.cached = s.n_cached;
  // The slot is free before the client hears of the end.
  std::shared_ptr<RequestState> state = std::move(s.job.state);
  s.job = Job{};
  s.phase = Slot::Phase::kIdle;
  --active_;
  metrics_.active_slots = active_.load();
  state->finish(why, std::move(calls), u);
}

}  // namespace ds::server

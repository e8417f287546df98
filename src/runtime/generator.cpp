#include "runtime/generator.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <optional>

#include "core/clock.h"
#include "core/error.h"
#include "model/forward.h"
#include "runtime/speculative.h"
#include "tokenizer/tokenizer.h"

namespace ds {

namespace {

// How many bytes at the end of `text` could still grow into a stop string.
size_t stop_holdback(const std::string& text, const std::vector<std::string>& stops) {
  size_t hold = 0;
  for (const auto& st : stops)
    for (size_t n = std::min(text.size(), st.size() - 1); n > hold; --n)
      if (text.compare(text.size() - n, n, st, 0, n) == 0) {
        hold = n;
        break;
      }
  return hold;
}

// Output side of generation: stop tokens, stop strings, streaming text, the token budget.
class Emitter {
 public:
  Emitter(const Tokenizer* tok, const GenerationParams& p, const Model& m, Sampler& sampler,
          const TextCallback& cb, GenerationResult& r)
      : p_(p), sampler_(sampler), cb_(cb), r_(r) {
    if (tok) dec_.emplace(*tok, p.skip_special);
    stop_ids_ = p.stop_ids;
    if (tok && tok->eos_id()) stop_ids_.push_back(*tok->eos_id());
    if (m.config.eos_token_id) stop_ids_.push_back(int32_t(*m.config.eos_token_id));
    if (p.ignore_eos) stop_ids_ = p.stop_ids;
    r_.finish_reason = "length";
  }

  /// Commits one generated token; false when generation must end.
  bool emit(int32_t id) {
    if (std::find(stop_ids_.begin(), stop_ids_.end(), id) != stop_ids_.end()) {
      r_.finish_reason = "stop";
      return false;
    }
    r_.tokens.push_back(id);
    sampler_.accept(id);
    if (!dec_) return int64_t(r_.tokens.size()) < p_.max_tokens;
    pending_ += dec_->feed(id);
    bool stopped = false;
    for (const auto& st : p_.stop) {
      const size_t at = st.empty() ? std::string::npos : pending_.find(st);
      if (at != std::string::npos) {
        pending_.resize(at);
        stopped = true;
      }
    }
    const size_t hold = stopped ? 0 : stop_holdback(pending_, p_.stop);
    std::string piece = pending_.substr(0, pending_.size() - hold);
    pending_.erase(0, pending_.size() - hold);
    r_.text += piece;
    if (cb_ && !cb_(id, piece)) {
      r_.finish_reason = "cancelled";
      return false;
    }
    if (stopped) {
      r_.finish_reason = "stop";
      return false;
    }
    return int64_t(r_.tokens.size()) < p_.max_tokens;
  }

  /// Hands out what is still held back (nothing can complete a stop string any more).
  void finish() {
    if (r_.finish_reason == "cancelled" || !dec_) return;
    std::string rest = pending_ + dec_->flush();
    for (const auto& st : p_.stop)
      if (!st.empty()) {
        const size_t at = rest.find(st);
        if (at != std::string::npos) rest.resize(at);
      }
    if (!rest.empty()) {
      r_.text += rest;
      if (cb_) cb_(-1, rest);
    }
  }

 private:
  const GenerationParams& p_;
  Sampler& sampler_;
  const TextCallback& cb_;
  GenerationResult& r_;
  std::optional<StreamDecoder> dec_;  // absent without a tokenizer
  std::vector<int32_t> stop_ids_;
  std::string pending_;  // decoded text not yet handed out (may hold a stop-string prefix)
};

}  // namespace

GenerationResult generate(Session& s, const Tokenizer& tok, const std::vector<int32_t>& prompt,
                          const GenerationParams& p, const TextCallback& on_text) {
  return generate(s, &tok, prompt, p, on_text);
}

GenerationResult generate(Session& s, const Tokenizer* tok, const std::vector<int32_t>& prompt,
                          const GenerationParams& p, const TextCallback& on_text) {
  GenerationResult r;
  r.n_prompt = int64_t(prompt.size());
  if (prompt.empty()) throw Error("the prompt is empty");
  const int64_t ctx = s.ctx_size();
  if (int64_t(prompt.size()) >= ctx)
    throw Error(cat("the prompt has ", prompt.size(), " tokens, but the context holds ", ctx,
                    " (leave room for at least one generated token)"));
  const Model& m = s.model();
  const int64_t V = m.config.vocab_size;
  const bool spec = p.spec_draft > 0 && !m.mtp.empty() && s.keeps_hidden();

  // Reuse the cached prefix; at least one prompt token must run to produce logits.
  const auto& cached = s.tokens();
  size_t common = 0;
  while (common < cached.size() && common < prompt.size() && cached[common] == prompt[common])
    ++common;
  common = std::min(common, prompt.size() - 1);
  s.truncate(int64_t(common));
  r.n_cached = int64_t(common);

  std::vector<float> logits(static_cast<size_t>(V));
  const double t0 = now_seconds();
  s.forward(prompt.data() + common, int64_t(prompt.size() - common), logits.data(), false);
  r.prefill_s = now_seconds() - t0;

  Sampler sampler(p.sampling);
  for (int32_t t : prompt) sampler.accept(t);
  Emitter out(tok, p, m, sampler, on_text, r);
  // The embedding is often padded past the tokenizer's vocabulary (V3: 129280 vs 128815);
  // those ids are not tokens and are never generated.
  const int64_t n_real = tok ? std::min<int64_t>(tok->vocab_size(), V) : V;
  auto prepare = [&](float* row) {
    std::fill(row + n_real, row + V, -std::numeric_limits<float>::infinity());
    sampler.prepare(row, V);
  };
  const double t1 = now_seconds();
  if (p.max_tokens <= 0) {
    r.decode_s = 0;
    return r;
  }
  prepare(logits.data());
  int32_t x = sampler.draw();
  if (!spec) {
    while (out.emit(x) && s.n_past() < ctx) {
      s.forward(&x, 1, logits.data(), false);
      prepare(logits.data());
      x = sampler.draw();
    }
  } else {
    Activations act;
    std::vector<float> verify;
    bool drafting = true;
    while (out.emit(x) && s.n_past() < ctx) {
      // Draft with the MTP module, then score [x, d_1 … d_k] in one pass of the main model.
      const int64_t P = s.n_past();
      const int budget = int(
          std::min<int64_t>({p.spec_draft, ctx - P - 1, p.max_tokens - int64_t(r.tokens.size())}));
      std::vector<int32_t> batch = {x};
      // Once the drafts do not pay on this text: plain steps from here on.
      if (drafting && !drafting_pays(r.n_drafted, r.n_accepted, p.spec_min_accept))
        drafting = false;
      if (budget > 0 && drafting) {
        DraftSeq d{&s, x, budget, {}};
        draft_tokens(m, &d, 1, act, s.pool());
        batch.insert(batch.end(), d.drafts.begin(), d.drafts.end());
      }
      const int64_t k = int64_t(batch.size()) - 1;
      verify.resize(size_t((k + 1) * V));
      s.forward(batch.data(), k + 1, verify.data(), true);
      r.n_drafted += k;
      const DraftVerdict v = verify_drafts(
          sampler, batch.data() + 1, k, [&](int64_t row) { prepare(verify.data() + row * V); },
          [&](int32_t d) {
            ++r.n_accepted;
            return out.emit(d);
          });
      s.truncate(P + 1 + v.accepted);  // drop the rejected drafts' keys
      if (!v.go_on) break;
      x = v.next;
    }
  }
  out.finish();
  r.decode_s = now_seconds() - t1;
  return r;
}

}  // namespace ds

#include "runtime/generator.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "model/forward.h"
#include "tokenizer/tokenizer.h"

namespace ds {

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

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

}  // namespace

GenerationResult generate(Session& s, const Tokenizer& tok, const std::vector<int32_t>& prompt,
                          const GenerationParams& p, const TextCallback& on_text) {
  GenerationResult r;
  r.n_prompt = int64_t(prompt.size());
  if (prompt.empty()) throw Error("the prompt is empty");
  const int64_t ctx = s.ctx_size();
  if (int64_t(prompt.size()) >= ctx)
    throw Error(cat("the prompt has ", prompt.size(), " tokens, but the context holds ", ctx,
                    " (leave room for at least one generated token)"));
  const int64_t V = s.model().config.vocab_size;

  // Reuse the cached prefix; at least one prompt token must run to produce logits.
  const auto& cached = s.tokens();
  size_t common = 0;
  while (common < cached.size() && common < prompt.size() && cached[common] == prompt[common])
    ++common;
  common = std::min(common, prompt.size() - 1);
  s.truncate(int64_t(common));
  r.n_cached = int64_t(common);

  std::vector<float> logits(static_cast<size_t>(V));
  const double t0 = now_s();
  s.forward(prompt.data() + common, int64_t(prompt.size() - common), logits.data(), false);
  r.prefill_s = now_s() - t0;

  Sampler sampler(p.sampling);
  for (int32_t t : prompt) sampler.accept(t);
  std::vector<int32_t> stop_ids = p.stop_ids;
  if (tok.eos_id()) stop_ids.push_back(*tok.eos_id());
  if (s.model().config.eos_token_id) stop_ids.push_back(int32_t(*s.model().config.eos_token_id));

  StreamDecoder dec(tok, p.skip_special);
  std::string pending;  // decoded text not yet handed out (may hold a stop-string prefix)
  r.finish_reason = "length";
  const double t1 = now_s();
  for (int64_t i = 0; i < p.max_tokens; ++i) {
    const int32_t next = sampler.sample(logits.data(), V);
    if (std::find(stop_ids.begin(), stop_ids.end(), next) != stop_ids.end()) {
      r.finish_reason = "stop";
      break;
    }
    r.tokens.push_back(next);
    sampler.accept(next);
    pending += dec.feed(next);
    bool stopped = false;
    for (const auto& st : p.stop) {
      const size_t at = st.empty() ? std::string::npos : pending.find(st);
      if (at != std::string::npos) {
        pending.resize(at);
        stopped = true;
      }
    }
    const size_t hold = stopped ? 0 : stop_holdback(pending, p.stop);
    std::string piece = pending.substr(0, pending.size() - hold);
    pending.erase(0, pending.size() - hold);
    r.text += piece;
    if (on_text && !on_text(next, piece)) {
      r.finish_reason = "cancelled";
      break;
    }
    if (stopped) {
      r.finish_reason = "stop";
      break;
    }
    if (i + 1 == p.max_tokens) break;
    if (s.n_past() >= ctx) break;  // context full: "length"
    s.forward(&next, 1, logits.data(), false);
  }
  if (r.finish_reason != "cancelled") {
    std::string rest = pending + dec.flush();  // nothing can complete a stop string now
    for (const auto& st : p.stop)
      if (!st.empty()) {
        const size_t at = rest.find(st);
        if (at != std::string::npos) rest.resize(at);
      }
    if (!rest.empty()) {
      r.text += rest;
      if (on_text) on_text(-1, rest);
    }
  }
  r.decode_s = now_s() - t1;
  return r;
}

}  // namespace ds

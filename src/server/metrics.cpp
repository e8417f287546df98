#include "server/metrics.h"

#include <sstream>

namespace ds::server {

void Metrics::count_request(const std::string& route, int status) {
  std::lock_guard<std::mutex> lk(mu_);
  ++requests_[{route, status}];
}

void Metrics::add_step(int64_t prefill_tokens, int64_t decode_tokens, int64_t generated_tokens,
                       double seconds) {
  const int64_t total = prefill_tokens + decode_tokens;
  if (total <= 0) return;
  std::lock_guard<std::mutex> lk(mu_);
  prefill_tokens_ += prefill_tokens;
  decode_tokens_ += decode_tokens;
  generated_tokens_ += generated_tokens;
  prefill_s_ += seconds * double(prefill_tokens) / double(total);
  decode_s_ += seconds * double(decode_tokens) / double(total);
}

void Metrics::add_drafts(int64_t drafted, int64_t accepted) {
  std::lock_guard<std::mutex> lk(mu_);
  drafted_ += drafted;
  accepted_ += accepted;
}

void Metrics::add_prompt(int64_t prompt_tokens, int64_t cached_tokens) {
  std::lock_guard<std::mutex> lk(mu_);
  prompt_tokens_ += prompt_tokens;
  cached_tokens_ += cached_tokens;
  ++cache_lookups_;
  if (cached_tokens > 0) ++cache_hits_;
}

std::string Metrics::render(int n_slots, int64_t cache_budget) const {
  std::lock_guard<std::mutex> lk(mu_);
  std::ostringstream o;
  auto metric = [&](const char* name, const char* type, const char* help) {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  };
  metric("dsinfer_requests_total", "counter", "HTTP requests answered, by route and status.");
  for (const auto& [key, n] : requests_)
    o << "dsinfer_requests_total{route=\"" << key.first << "\",status=\"" << key.second << "\"} "
      << n << '\n';
  metric("dsinfer_prompt_tokens_total", "counter", "Prompt tokens of admitted requests.");
  o << "dsinfer_prompt_tokens_total " << prompt_tokens_ << '\n';
  metric("dsinfer_generated_tokens_total", "counter",
         "Tokens generated (accepted drafts included).");
  o << "dsinfer_generated_tokens_total " << generated_tokens_ << '\n';
  metric("dsinfer_spec_draft_tokens_total", "counter",
         "Tokens drafted by the MTP module and verified (speculative decoding).");
  o << "dsinfer_spec_draft_tokens_total " << drafted_ << '\n';
  metric("dsinfer_spec_accepted_tokens_total", "counter",
         "Drafted tokens the main model accepted (speculative decoding).");
  o << "dsinfer_spec_accepted_tokens_total " << accepted_ << '\n';
  metric("dsinfer_prefill_tokens_total", "counter", "Prompt tokens computed (not cached).");
  o << "dsinfer_prefill_tokens_total " << prefill_tokens_ << '\n';
  metric("dsinfer_prefix_cache_hit_tokens_total", "counter",
         "Prompt tokens whose KV came from the prefix cache.");
  o << "dsinfer_prefix_cache_hit_tokens_total " << cached_tokens_ << '\n';
  metric("dsinfer_prefix_cache_lookups_total", "counter", "Requests that looked up a prefix.");
  o << "dsinfer_prefix_cache_lookups_total " << cache_lookups_ << '\n';
  metric("dsinfer_prefix_cache_hits_total", "counter", "Requests that reused a cached prefix.");
  o << "dsinfer_prefix_cache_hits_total " << cache_hits_ << '\n';
  metric("dsinfer_prefix_cache_bytes", "gauge", "Bytes held by prefix-cache snapshots.");
  o << "dsinfer_prefix_cache_bytes " << cache_bytes.load() << '\n';
  metric("dsinfer_prefix_cache_entries", "gauge", "Prefix-cache snapshots.");
  o << "dsinfer_prefix_cache_entries " << cache_entries.load() << '\n';
  metric("dsinfer_prefix_cache_budget_bytes", "gauge", "The --cache-ram budget.");
  o << "dsinfer_prefix_cache_budget_bytes " << cache_budget << '\n';
  metric("dsinfer_prefill_tokens_per_second", "gauge", "Prompt tokens per second of prefill.");
  o << "dsinfer_prefill_tokens_per_second "
    << (prefill_s_ > 0 ? double(prefill_tokens_) / prefill_s_ : 0.0) << '\n';
  metric("dsinfer_decode_tokens_per_second", "gauge",
         "Generated tokens per second of decode time (all streams together).");
  o << "dsinfer_decode_tokens_per_second "
    << (decode_s_ > 0 ? double(generated_tokens_) / decode_s_ : 0.0) << '\n';
  metric("dsinfer_queue_depth", "gauge", "Requests waiting for a slot.");
  o << "dsinfer_queue_depth " << queue_depth.load() << '\n';
  metric("dsinfer_active_slots", "gauge", "Requests being generated.");
  o << "dsinfer_active_slots " << active_slots.load() << '\n';
  metric("dsinfer_slots", "gauge", "Slots (--parallel).");
  o << "dsinfer_slots " << n_slots << '\n';
  metric("dsinfer_open_requests", "gauge", "HTTP requests being served.");
  o << "dsinfer_open_requests " << open_requests.load() << '\n';
  return o.str();
}

}  // namespace ds::server

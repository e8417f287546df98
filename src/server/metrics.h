// Server counters, rendered in the Prometheus text exposition format for GET /metrics.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace ds::server {

class Metrics {
 public:
  /// Counts a finished HTTP request by route and status code.
  void count_request(const std::string& route, int status);
  /// Adds one scheduler step: tokens prefilled and decoded, and the step's wall time, split
  /// between the two in proportion to their tokens.
  void add_step(int64_t prefill_tokens, int64_t decode_tokens, double seconds);
  /// Records a prompt's size and the tokens of it the prefix cache supplied.
  void add_prompt(int64_t prompt_tokens, int64_t cached_tokens);

  std::atomic<int64_t> queue_depth{0};    // requests waiting for a slot
  std::atomic<int64_t> active_slots{0};   // requests holding a slot
  std::atomic<int64_t> open_requests{0};  // HTTP requests being served
  std::atomic<int64_t> cache_bytes{0};    // prefix-cache snapshots
  std::atomic<int64_t> cache_entries{0};

  /// The text served at /metrics; `n_slots` and `cache_budget` are static gauges.
  std::string render(int n_slots, int64_t cache_budget) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, int64_t> requests_;
  int64_t prompt_tokens_ = 0, cached_tokens_ = 0, cache_lookups_ = 0, cache_hits_ = 0;
  int64_t prefill_tokens_ = 0, decode_tokens_ = 0;
  double prefill_s_ = 0, decode_s_ = 0;
};

}  // namespace ds::server

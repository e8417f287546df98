// Prefix cache: snapshots of finished sequences' KV rows, so that a request sharing a prefix
// with earlier ones (a system prompt, earlier turns of a chat) skips recomputing it. MLA's
// compressed cache keeps a snapshot small; many fit within a RAM budget, least recently used
// evicted first. Used by the scheduler's thread only (not thread-safe).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <vector>

namespace ds {
class Session;
}

namespace ds::server {

class PrefixCache {
 public:
  /// `budget_bytes`: the most the snapshots may occupy (0 disables the cache).
  explicit PrefixCache(size_t budget_bytes) : budget_(budget_bytes) {}

  /// Length of the longest prefix of `prompt` some snapshot holds.
  int64_t match(const std::vector<int32_t>& prompt) const;
  /// Loads the longest cached prefix of `prompt`, at most `max_n` tokens, into `s` (replacing
  /// its cache) when it is longer than `min_n`; returns the tokens loaded, or 0. A session
  /// that keeps its hidden states (speculative decoding) gets them too, and the MTP rows
  /// that stay valid; snapshots without hidden states are not used for it.
  int64_t restore(Session& s, const std::vector<int32_t>& prompt, int64_t max_n, int64_t min_n);
  /// Snapshots the sequence `s` holds (with its hidden states when it keeps them). A snapshot it
  /// extends is replaced; one that already extends it is only marked used. Evicts the least
  /// recently used beyond the budget.
  void store(const Session& s);

  size_t bytes() const { return bytes_; }
  size_t entries() const { return entries_.size(); }
  size_t budget() const { return budget_; }

 private:
  struct Entry {
    std::vector<int32_t> tokens;  // [n]
    std::vector<float> kv;        // [n_layers, n, width]
    std::vector<float> hidden;    // [n, D] when the session kept its hidden states (MTP)
    int64_t mtp_past = 0;         // MTP cache rows [0, mtp_past) of kv hold true pairs
    size_t bytes() const { return tokens.size() * 4 + kv.size() * 4 + hidden.size() * 4; }
  };
  static int64_t common(const std::vector<int32_t>& a, const std::vector<int32_t>& b);
  void evict();

  size_t budget_;
  size_t bytes_ = 0;
  std::list<Entry> entries_;  // most recently used first
};

}  // namespace ds::server

// Prefix cache: snapshots of finished sequences' KV rows, so that a request sharing a prefix
// with earlier ones (a system prompt, earlier turns of a chat) skips recomputing it. MLA's
// compressed cache keeps a snapshot small; many fit within a RAM budget, least recently used
// evicted first. Used by the scheduler's thread only (not thread-safe).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <vector>

#include "core/dtype.h"

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
  /// its cache) when it is longer than `min_n`; returns the tokens loaded, or 0. Only
  /// snapshots of sessions with the same cache type are candidates. A session that keeps its
  /// hidden states (speculative decoding) gets them too, and the MTP rows that stay valid;
  /// snapshots without hidden states are not used for it.
  int64_t restore(Session& s, const std::vector<int32_t>& prompt, int64_t max_n, int64_t min_n);
  /// Snapshots the sequence `s` holds (with its hidden states when it keeps them). A snapshot
  /// it extends is replaced; one that already extends it is only marked used. Evicts the least
  /// recently used beyond the budget. The budget counts the real bytes:
  /// Session::kv_bytes_per_token() per token (half as many for a BF16 cache as for F32), 4
  /// per token id, and 4 per hidden-state float.
  void store(const Session& s);

  size_t bytes() const { return bytes_; }
  size_t entries() const { return entries_.size(); }
  size_t budget() const { return budget_; }

 private:
  struct Entry {
    std::vector<int32_t> tokens;  // [n]
    std::vector<uint8_t> kv;      // [n_layers, n, width] in the cache type of the session
    DType type = DType::F32;      // that cache type (a snapshot only fits a cache of its type)
    std::vector<float> hidden;    // [n, D] when the session kept its hidden states (MTP)
    int64_t mtp_past = 0;         // MTP cache rows [0, mtp_past) of kv hold true pairs
    size_t bytes() const { return tokens.size() * 4 + kv.size() + hidden.size() * 4; }
  };
  static int64_t common(const std::vector<int32_t>& a, const std::vector<int32_t>& b);
  void evict();

  size_t budget_;
  size_t bytes_ = 0;
  std::list<Entry> entries_;  // most recently used first
};

}  // namespace ds::server

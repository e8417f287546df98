#include "server/prefix_cache.h"

#include <algorithm>

#include "model/forward.h"

namespace ds::server {

int64_t PrefixCache::common(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return int64_t(i);
}

int64_t PrefixCache::match(const std::vector<int32_t>& prompt) const {
  int64_t best = 0;
  for (const Entry& e : entries_) best = std::max(best, common(e.tokens, prompt));
  return best;
}

int64_t PrefixCache::restore(Session& s, const std::vector<int32_t>& prompt, int64_t max_n,
                             int64_t min_n) {
  auto best = entries_.end();
  int64_t best_n = 0;
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->type != s.cache_type()) continue;
    if (s.keeps_hidden() && it->hidden.empty()) continue;
    const int64_t n = std::min(common(it->tokens, prompt), max_n);
    if (n > best_n) best_n = n, best = it;
  }
  if (best == entries_.end() || best_n <= min_n) return 0;
  s.import_prefix(best->tokens.data(), best_n, best->kv.data(), int64_t(best->tokens.size()),
                  s.keeps_hidden() ? best->hidden.data() : nullptr);
  // The pair at position i needs token i+1: MTP rows stay valid up to the prefix's end − 1.
  s.set_mtp_past(std::min(best->mtp_past, best_n - 1));
  entries_.splice(entries_.begin(), entries_, best);  // most recently used
  return best_n;
}

void PrefixCache::store(const Session& s) {
  const int64_t n = s.n_past();
  if (budget_ == 0 || n == 0) return;
  const std::vector<int32_t>& toks = s.tokens();
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->type != s.cache_type()) {
      ++it;
      continue;
    }
    const int64_t c = common(it->tokens, toks);
    if (c == int64_t(it->tokens.size())) {  // the new sequence extends this snapshot
      bytes_ -= it->bytes();
      it = entries_.erase(it);
    } else if (c == n) {  // already held by a longer snapshot
      entries_.splice(entries_.begin(), entries_, it);
      return;
    } else {
      ++it;
    }
  }
  Entry e;
  e.tokens.assign(toks.begin(), toks.begin() + n);
  e.type = s.cache_type();
  const size_t hidden_floats = s.keeps_hidden() ? s.hidden_history().size() : 0;
  if (e.tokens.size() * 4 + size_t(n * s.kv_bytes_per_token()) + hidden_floats * 4 > budget_)
    return;
  e.kv.resize(size_t(n * s.kv_bytes_per_token()));
  s.export_prefix(n, e.kv.data());
  if (s.keeps_hidden()) {
    e.hidden = s.hidden_history();
    e.mtp_past = s.mtp_past();
  }
  bytes_ += e.bytes();
  entries_.push_front(std::move(e));
  evict();
}

void PrefixCache::evict() {
  while (bytes_ > budget_ && !entries_.empty()) {
    bytes_ -= entries_.back().bytes();
    entries_.pop_back();
  }
}

}  // namespace ds::server

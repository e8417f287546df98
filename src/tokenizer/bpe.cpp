#include "tokenizer/bpe.h"

#include <queue>

#include "core/error.h"
#include "tokenizer/decoder.h"
#include "tokenizer/utf8.h"

namespace ds {

const std::array<uint32_t, 256>& byte_to_unicode() {
  // GPT-2 (encoder.py bytes_to_unicode): printable Latin-1 bytes stand for themselves, the
  // rest are shifted to U+0100 and up in byte order.
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    uint32_t n = 0;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      t[b] = printable ? b : 256 + n++;
    }
    return t;
  }();
  return table;
}

std::optional<std::string> byte_level_decode(std::string_view token) {
  static const std::array<int16_t, 324> inverse = [] {
    std::array<int16_t, 324> inv{};
    inv.fill(-1);
    const auto& fwd = byte_to_unicode();
    for (int b = 0; b < 256; ++b) inv[fwd[b]] = static_cast<int16_t>(b);
    return inv;
  }();
  std::string out;
  out.reserve(token.size());
  for (size_t i = 0; i < token.size();) {
    size_t len;
    const uint32_t cp = utf8::decode(token, i, len);
    if (cp >= inverse.size() || inverse[cp] < 0) return std::nullopt;
    out.push_back(static_cast<char>(inverse[cp]));
    i += len;
  }
  return out;
}

void StringIndex::build(const std::vector<std::string>& strings) {
  size_t cap = 16;
  while (cap < strings.size() * 2) cap <<= 1;
  slots_.assign(cap, 0);
  mask_ = cap - 1;
  for (size_t i = 0; i < strings.size(); ++i) {
    const std::string& s = strings[i];
    if (s.empty()) continue;
    const uint64_t h = std::hash<std::string_view>{}(s);
    const uint64_t tag = h >> 32;
    for (uint64_t j = h & mask_;; j = (j + 1) & mask_) {
      if (slots_[j] == 0) {
        slots_[j] = (tag << 32) | (i + 1);
        break;
      }
      if ((slots_[j] >> 32) == tag && strings[(slots_[j] & 0xFFFFFFFF) - 1] == s) break;
    }
  }
}

int32_t StringIndex::find(std::string_view s, const std::vector<std::string>& strings) const {
  if (slots_.empty()) return -1;
  const uint64_t h = std::hash<std::string_view>{}(s);
  const uint64_t tag = h >> 32;
  for (uint64_t j = h & mask_;; j = (j + 1) & mask_) {
    const uint64_t v = slots_[j];
    if (v == 0) return -1;
    if ((v >> 32) == tag) {
      const auto idx = static_cast<int32_t>((v & 0xFFFFFFFF) - 1);
      if (strings[idx] == s) return idx;
    }
  }
}

void MergeMap::reserve(size_t n) {
  size_t cap = 16;
  while (cap < n * 2) cap <<= 1;
  slots_.assign(cap, Slot{});
  mask_ = cap - 1;
}

void MergeMap::insert(int32_t a, int32_t b, Merge m) {
  const uint64_t k = key(a, b);
  for (uint64_t i = hash(k) & mask_;; i = (i + 1) & mask_) {
    Slot& s = slots_[i];
    if (s.key == k) return;
    if (s.key == kEmpty) {
      s.key = k;
      s.merge = m;
      return;
    }
  }
}

BpeModel::BpeModel(std::vector<std::string> vocab,
                   const std::vector<std::pair<std::string, std::string>>& merges,
                   BpeOptions options)
    : options_(options), vocab_(std::move(vocab)) {
  bytes_.resize(vocab_.size());
  byte_ids_.fill(-1);
  fallback_ids_.fill(-1);
  for (size_t id = 0; id < vocab_.size(); ++id) {
    const std::string& t = vocab_[id];
    if (t.empty()) continue;
    if (options_.byte_level) {
      // A token that does not map back to bytes (a special token stored in the vocab)
      // keeps an empty byte string here: merges can never produce it.
      if (auto b = byte_level_decode(t)) bytes_[id] = std::move(*b);
    } else {
      bytes_[id] = t;
      // <0xAB> byte-fallback tokens.
      if (const int v = parse_byte_token(t); v >= 0 && fallback_ids_[v] < 0)
        fallback_ids_[v] = static_cast<int32_t>(id);
    }
    if (bytes_[id].size() == 1 && byte_ids_[static_cast<uint8_t>(bytes_[id][0])] < 0)
      byte_ids_[static_cast<uint8_t>(bytes_[id][0])] = static_cast<int32_t>(id);
  }
  by_token_.build(vocab_);
  by_bytes_.build(bytes_);
  // Unmappable tokens decode to their own text.
  if (options_.byte_level)
    for (size_t id = 0; id < vocab_.size(); ++id)
      if (bytes_[id].empty()) bytes_[id] = vocab_[id];
  merges_.reserve(merges.size());
  std::string joined;
  for (size_t r = 0; r < merges.size(); ++r) {
    const auto& [a, b] = merges[r];
    joined.assign(a);
    joined += b;
    const int32_t ia = by_token_.find(a, vocab_), ib = by_token_.find(b, vocab_),
                  im = by_token_.find(joined, vocab_);
    if (ia < 0 || ib < 0 || im < 0)
      throw Error(cat("BPE merge ", r, " ('", a, "' '", b, "') uses a token not in the vocab"));
    merges_.insert(ia, ib, MergeMap::Merge{static_cast<int32_t>(r), im});
  }
}

BpeModel::BpeModel(BpeModel&& o) noexcept
    : options_(o.options_),
      vocab_(std::move(o.vocab_)),
      bytes_(std::move(o.bytes_)),
      by_token_(std::move(o.by_token_)),
      by_bytes_(std::move(o.by_bytes_)),
      merges_(std::move(o.merges_)),
      byte_ids_(o.byte_ids_),
      fallback_ids_(o.fallback_ids_) {}

BpeModel& BpeModel::operator=(BpeModel&& o) noexcept {
  options_ = o.options_;
  vocab_ = std::move(o.vocab_);
  bytes_ = std::move(o.bytes_);
  by_token_ = std::move(o.by_token_);
  by_bytes_ = std::move(o.by_bytes_);
  merges_ = std::move(o.merges_);
  byte_ids_ = o.byte_ids_;
  fallback_ids_ = o.fallback_ids_;
  std::lock_guard<std::mutex> lock(cache_mutex_);
  cache_.clear();
  return *this;
}

std::optional<int32_t> BpeModel::find(std::string_view token) const {
  const int32_t id = by_token_.find(token, vocab_);
  if (id < 0) return std::nullopt;
  return id;
}

void BpeModel::initial_symbols(std::string_view word, std::vector<int32_t>& syms) const {
  if (options_.byte_level) {
    for (unsigned char c : word) {
      if (byte_ids_[c] >= 0)
        syms.push_back(byte_ids_[c]);
      else if (options_.unk_id)
        syms.push_back(*options_.unk_id);
    }
    return;
  }
  bool last_unk = false;
  for (size_t i = 0; i < word.size();) {
    size_t len = utf8::sequence_length(word, i);
    if (len == 0) len = 1;
    const int32_t id = by_bytes_.find(word.substr(i, len), bytes_);
    if (id >= 0) {
      syms.push_back(id);
      last_unk = false;
    } else if (options_.byte_fallback) {
      for (size_t k = 0; k < len; ++k) {
        const int32_t id = fallback_ids_[static_cast<unsigned char>(word[i + k])];
        if (id >= 0)
          syms.push_back(id);
        else if (options_.unk_id)
          syms.push_back(*options_.unk_id);
      }
      last_unk = false;
    } else if (options_.unk_id) {
      if (!(options_.fuse_unk && last_unk)) syms.push_back(*options_.unk_id);
      last_unk = true;
    }
    i += len;
  }
}

void BpeModel::merge_symbols(std::vector<int32_t>& syms) const {
  const int n = static_cast<int>(syms.size());
  if (n < 2) return;
  // A linked list of symbols and a min-heap of candidate merges by (rank, position); stale
  // entries are skipped when popped. Equal ranks merge left to right, as in HF tokenizers.
  struct Cand {
    int32_t rank;
    int32_t left;
    int32_t left_id, right_id;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
  };
  std::vector<int32_t> next(n), prev(n);
  for (int i = 0; i < n; ++i) {
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  auto push = [&](int l) {
    const int r = next[l];
    if (r < 0) return;
    if (const MergeMap::Merge* m = merges_.find(syms[l], syms[r]))
      heap.push({m->rank, l, syms[l], syms[r]});
  };
  for (int i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    const int l = c.left;
    const int r = next[l];
    if (syms[l] != c.left_id || r < 0 || syms[r] != c.right_id) continue;  // stale
    syms[l] = merges_.find(c.left_id, c.right_id)->id;
    syms[r] = -1;
    next[l] = next[r];
    if (next[r] >= 0) prev[next[r]] = l;
    if (prev[l] >= 0) push(prev[l]);
    push(l);
  }
  size_t w = 0;
  for (int i = 0; i >= 0 && i < n; i = next[i]) syms[w++] = syms[i];
  syms.resize(w);
}

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    const int32_t id = by_bytes_.find(word, bytes_);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  constexpr size_t kMaxCachedWord = 64;
  constexpr size_t kMaxCacheEntries = 1 << 18;
  const bool cacheable = word.size() <= kMaxCachedWord;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(word);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> syms;
  syms.reserve(word.size());
  initial_symbols(word, syms);
  merge_symbols(syms);
  out.insert(out.end(), syms.begin(), syms.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (cache_.size() >= kMaxCacheEntries) cache_.clear();
    cache_.emplace(std::string(word), std::move(syms));
  }
}

}  // namespace ds

// The BPE model: vocabulary, merge ranks, and the merge loop with a word cache.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ds {

/// Options of a BPE model, as tokenizer.json's "model" object names them.
struct BpeOptions {
  bool byte_level = true;      // symbols are bytes (GPT-2 byte-to-unicode vocab strings)
  bool byte_fallback = false;  // unknown characters become <0xXX> tokens
  bool ignore_merges = false;  // a word that is itself a token is not merged (Llama-3)
  std::optional<int32_t> unk_id;
  bool fuse_unk = false;
};

/// An open-addressing index from strings to their position in a vector of strings (which
/// it does not own). Far faster to build and probe than std::unordered_map for a vocabulary.
class StringIndex {
 public:
  /// Indexes the non-empty strings of `strings`; the first of equal strings wins.
  void build(const std::vector<std::string>& strings);
  /// Position of `s` in `strings` (the vector given to build), or -1.
  int32_t find(std::string_view s, const std::vector<std::string>& strings) const;

 private:
  std::vector<uint64_t> slots_;  // (hash << 32) | (index + 1); 0 is empty
  uint64_t mask_ = 0;
};

/// An open-addressing map from a pair of token ids to their merge (rank and result).
class MergeMap {
 public:
  struct Merge {
    int32_t rank;
    int32_t id;
  };
  /// Sizes the table for `n` entries.
  void reserve(size_t n);
  /// Adds a pair; an existing pair keeps its (lower) rank.
  void insert(int32_t a, int32_t b, Merge m);
  /// The merge of (a, b), or nullptr.
  const Merge* find(int32_t a, int32_t b) const {
    const uint64_t k = key(a, b);
    for (uint64_t i = hash(k) & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key == k) return &s.merge;
      if (s.key == kEmpty) return nullptr;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  struct Slot {
    uint64_t key = kEmpty;
    Merge merge{};
  };
  static uint64_t key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  static uint64_t hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return k;
  }
  std::vector<Slot> slots_ = std::vector<Slot>(1);
  uint64_t mask_ = 0;
};

/// A byte-pair-encoding model. Vocabulary strings are given as they appear in the file; for a
/// byte-level model they are mapped back to raw bytes once, so that BPE runs on bytes.
class BpeModel {
 public:
  BpeModel() = default;
  /// `vocab[id]` is the token string of `id` ("" for an id the model does not define);
  /// `merges` are in rank order. Throws ds::Error for a merge of unknown tokens.
  BpeModel(std::vector<std::string> vocab,
           const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options);
  BpeModel(BpeModel&& o) noexcept;
  BpeModel& operator=(BpeModel&& o) noexcept;

  /// Appends the ids of one pre-tokenized word (raw bytes) to `out`.
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;

  /// Number of ids the vocabulary spans.
  int32_t size() const { return static_cast<int32_t>(vocab_.size()); }
  /// The token string of `id` as the file spells it.
  const std::string& token(int32_t id) const { return vocab_[id]; }
  /// The bytes `id` stands for (for byte-level models, after the byte-to-unicode map).
  const std::string& token_bytes(int32_t id) const { return bytes_[id]; }
  /// The id of a token string as the file spells it.
  std::optional<int32_t> find(std::string_view token) const;
  const BpeOptions& options() const { return options_; }

 private:
  void merge_symbols(std::vector<int32_t>& syms) const;
  void initial_symbols(std::string_view word, std::vector<int32_t>& syms) const;

  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  BpeOptions options_;
  std::vector<std::string> vocab_;  // [n_vocab] file spelling
  std::vector<std::string> bytes_;  // [n_vocab] raw bytes
  StringIndex by_token_;            // file spelling -> id
  StringIndex by_bytes_;            // raw bytes -> id
  MergeMap merges_;
  std::array<int32_t, 256> byte_ids_{};      // byte-level: id of each single byte, -1 if none
  std::array<int32_t, 256> fallback_ids_{};  // <0xXX> ids, -1 if none

  // Words seen before; BPE of natural text is dominated by a few thousand words.
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> cache_;
};

/// GPT-2's byte-to-unicode map: the code point that stands for each byte in vocab strings.
const std::array<uint32_t, 256>& byte_to_unicode();

/// Maps a byte-level vocab string back to bytes; nullopt if a character is not in the map.
std::optional<std::string> byte_level_decode(std::string_view token);

}  // namespace ds

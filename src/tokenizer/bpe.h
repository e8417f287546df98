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
  struct Merge {
    int32_t rank;
    int32_t id;
  };
  static uint64_t key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  void merge_symbols(std::vector<int32_t>& syms) const;
  void initial_symbols(std::string_view word, std::vector<int32_t>& syms) const;

  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using StringMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

  BpeOptions options_;
  std::vector<std::string> vocab_;  // [n_vocab] file spelling
  std::vector<std::string> bytes_;  // [n_vocab] raw bytes
  StringMap by_token_;              // file spelling -> id
  StringMap by_bytes_;              // raw bytes -> id
  std::unordered_map<uint64_t, Merge> merges_;
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

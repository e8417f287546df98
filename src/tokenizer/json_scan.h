// A fast path for loading tokenizer.json: the BPE vocabulary and merges (nearly all of the
// file's 8 MB) are read by a small scanner; nlohmann::json parses only the rest.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ds {

/// The bulky parts of a tokenizer.json, and the file with them emptied out.
struct ScannedModel {
  std::vector<std::string> vocab;  // [n_vocab] token string by id ("" where no id)
  std::vector<std::pair<std::string, std::string>> merges;  // in rank order
  std::string rest;  // the JSON text with model.vocab = {} and model.merges = []
};

/// Scans `text` for model.vocab and model.merges. Returns false (and the caller falls back
/// to a full parse, which reports errors properly) when the text is not shaped as expected.
bool scan_bpe_model(std::string_view text, ScannedModel& out);

}  // namespace ds

// Helpers shared by the tokenizer tests: test data paths and the DeepSeek tokenizers.
#pragma once

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace ds::test {

/// Path of a file under tests/data/tokenizer.
inline std::string tok_data(const std::string& rel) {
  return std::string(DSINFER_TEST_DATA_DIR) + "/tokenizer/" + rel;
}

/// Whole file as bytes.
inline std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

/// Each line of a JSONL file, parsed (key order kept).
inline std::vector<nlohmann::ordered_json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::ordered_json> out;
  std::ifstream f(path, std::ios::binary);
  std::string line;
  while (std::getline(f, line))
    if (!line.empty()) out.push_back(nlohmann::ordered_json::parse(line));
  return out;
}

/// DeepSeek-V3's tokenizer, loaded once per test binary.
inline const Tokenizer& deepseek_v3() {
  static const Tokenizer t = Tokenizer::from_model_dir(tok_data("deepseek-v3"));
  return t;
}

/// DeepSeek-R1's tokenizer: V3's tokenizer.json with <think> and </think> as added tokens
/// 128798 / 128799 (the only difference between the two files), and R1's config.
inline const Tokenizer& deepseek_r1() {
  static const Tokenizer t = [] {
    auto j = nlohmann::json::parse(read_all(tok_data("deepseek-v3/tokenizer.json")));
    for (auto& a : j["added_tokens"]) {
      const int id = a["id"].get<int>();
      if (id == 128798 || id == 128799) {
        a["content"] = id == 128798 ? "<think>" : "</think>";
        a["normalized"] = true;
        a["special"] = false;
      }
    }
    const auto config =
        nlohmann::json::parse(read_all(tok_data("deepseek-r1/tokenizer_config.json")));
    return Tokenizer::from_json_text(j.dump(), config, "r1 tokenizer.json");
  }();
  return t;
}

}  // namespace ds::test

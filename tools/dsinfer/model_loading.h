// Loading a model with its tokenizer and chat template for the front ends.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/weights.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace ds::cli {

struct LoadedModel {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<ChatTemplate> chat_template;  // null when the model ships none
  double load_s = 0;
};

/// Loads `path` (a HF directory or a .gguf file), or the embedded default model when `path` is
/// empty. Reports progress on stderr when it is a terminal and `verbose` or the load is slow.
LoadedModel load_model(const std::string& path, bool verbose);

/// Renders a conversation with the model's chat template (or the documented built-in
/// default for its model type) and tokenizes it without adding a second BOS.
std::vector<int32_t> chat_prompt(const LoadedModel& m, const nlohmann::json& messages,
                                 std::string* text = nullptr);

}  // namespace ds::cli

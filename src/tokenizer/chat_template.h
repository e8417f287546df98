// Chat templates: tokenizer_config.json's Jinja "chat_template", rendered as HF's
// apply_chat_template does (trim_blocks, lstrip_blocks, tojson, raise_exception, ...).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "tokenizer/jinja/template.h"

namespace ds {

/// A compiled chat template plus the special-token strings it may print.
class ChatTemplate {
 public:
  /// Reads the template from a tokenizer_config.json (string or list-of-named form; a
  /// chat_template.jinja next to it wins), or from a model directory holding them, or a
  /// tokenizer.json whose directory holds them. Throws ds::Error if there is none.
  static ChatTemplate from_tokenizer_config(const std::string& path);
  /// The built-in template for a config.json `model_type` when a model ships none:
  /// "deepseek_v3" (also used for R1-style models) gets DeepSeek-V3's template. Throws for
  /// other types.
  static ChatTemplate builtin(std::string_view model_type);

  /// Compiles `source`; throws ds::Error with the line of a syntax error.
  explicit ChatTemplate(std::string source);

  /// Renders an OpenAI-style messages array. `extra` holds more variables (tools, thinking,
  /// bos_token, ...); they override the defaults. Object keys print in the order given.
  std::string render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                     const nlohmann::ordered_json& extra = nlohmann::ordered_json::object()) const;
  /// Same, for a plain nlohmann::json (whose objects have sorted keys).
  std::string render(const nlohmann::json& messages, bool add_generation_prompt,
                     const nlohmann::json& extra = {}) const;

  /// Takes bos_token, eos_token, unk_token and pad_token from a tokenizer_config.json (or
  /// the model directory / tokenizer.json path next to it).
  void load_special_tokens(const std::string& path);
  /// Sets a special-token variable such as "bos_token" or "eos_token".
  void set_special_token(const std::string& name, const std::string& value);
  /// Limits applied to each render.
  void set_limits(const jinja::Limits& limits) { limits_ = limits; }
  /// The template source.
  const std::string& source() const { return source_; }

 private:
  std::string source_;
  std::shared_ptr<const jinja::Template> template_;
  nlohmann::ordered_json special_ = nlohmann::ordered_json::object();
  jinja::Limits limits_;
};

/// DeepSeek-V3's chat template, as in its tokenizer_config.json.
extern const char* const kDeepSeekV3ChatTemplate;

}  // namespace ds

// OpenAI / DeepSeek request bodies → validated generation requests: field checks with
// OpenAI-style errors, messages rendered with the model's chat template, tool definitions,
// JSON mode and forced tool calls turned into output constraints.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "server/scheduler.h"

namespace ds {
class Tokenizer;
class ChatTemplate;
}  // namespace ds

namespace ds::server {

struct RequestLimits {
  int64_t ctx_size = 4096;    // prompt + output must fit
  int64_t max_tokens = 4096;  // largest max_tokens a request may ask for
};

/// A request ready for the scheduler, plus what the response needs.
struct ApiRequest {
  GenRequest gen;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool logprobs = false;
  std::string model;        // as the client named it
  std::string prompt_text;  // the rendered prompt
};

class RequestBuilder {
 public:
  /// All references must outlive the builder.
  RequestBuilder(const Tokenizer& tok, const ChatTemplate& tmpl, RequestLimits limits);

  /// POST /v1/chat/completions. Throws ApiError for invalid fields.
  ApiRequest chat(const nlohmann::json& body) const;
  /// POST /v1/completions (raw prompt, no template). Throws ApiError for invalid fields.
  ApiRequest completion(const nlohmann::json& body) const;

  /// Checks and normalises `messages` (content parts joined, roles checked) and renders them
  /// with the chat template; `tools` (may be null) go to the template, or into the system
  /// prompt when the template does not print them. Throws ApiError.
  std::string render_chat(const nlohmann::json& messages, const nlohmann::json& tools) const;

 private:
  void sampling(const nlohmann::json& body, ApiRequest& r) const;
  void finish(ApiRequest& r, const nlohmann::json& body, int64_t default_max) const;

  const Tokenizer& tok_;
  const ChatTemplate& tmpl_;
  RequestLimits limits_;
  bool template_prints_tools_;
};

}  // namespace ds::server

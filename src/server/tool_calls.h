// DeepSeek's tool-call syntax in generated text, parsed into OpenAI-style tool calls.
//
// V3 / R1 (tokenizer_config.json's chat template):
//   <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\nARGS\n```
//   <｜tool▁call▁end｜>…<｜tool▁calls▁end｜>
// V3.1 (templates/deepseek-ai-DeepSeek-V3.1.jinja):
//   <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>NAME<｜tool▁sep｜>ARGS<｜tool▁call▁end｜>…
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ds::server {

inline constexpr std::string_view kToolCallsBegin = "<｜tool▁calls▁begin｜>";
inline constexpr std::string_view kToolCallsEnd = "<｜tool▁calls▁end｜>";
inline constexpr std::string_view kToolCallBegin = "<｜tool▁call▁begin｜>";
inline constexpr std::string_view kToolCallEnd = "<｜tool▁call▁end｜>";
inline constexpr std::string_view kToolSep = "<｜tool▁sep｜>";

struct ToolCall {
  std::string name;
  std::string arguments;  // JSON text as the model wrote it
};

struct ParsedToolCalls {
  std::string content;          // text before the tool-call block
  std::vector<ToolCall> calls;  // complete calls, in order
};

/// Splits `text` into plain content and the tool calls of a DeepSeek tool-call block (either
/// syntax). Text without a block is all content; a call cut off before its end tag is dropped.
ParsedToolCalls parse_tool_calls(std::string_view text);

/// The text a V3/R1 model writes to start a call of `name` (up to the JSON arguments).
std::string tool_call_prefix(std::string_view name, bool first);
/// The text after the JSON arguments of a call, closing the whole block when `last`.
std::string tool_call_suffix(bool last);

}  // namespace ds::server

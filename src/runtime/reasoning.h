// Splits generated text into R1-style reasoning (inside <think> … </think>) and the answer,
// as DeepSeek's API does with reasoning_content / content. Works on a stream: a tag split
// across tokens is held back until it is complete.
#pragma once

#include <string>
#include <string_view>

namespace ds {

class ReasoningSplitter {
 public:
  struct Piece {
    std::string reasoning, content;
  };
  /// `in_reasoning`: the prompt already opened the think block (the template ended with the
  /// open tag), so output starts as reasoning until the close tag.
  explicit ReasoningSplitter(bool in_reasoning, std::string open_tag = "<think>",
                             std::string close_tag = "</think>");
  /// Adds generated text; returns what can be attributed now.
  Piece feed(std::string_view text);
  /// Returns whatever is held back (at the end of generation).
  Piece flush();
  bool in_reasoning() const { return state_ == State::kReasoning; }
  /// True once any reasoning was seen (a think block was opened).
  bool had_reasoning() const { return had_reasoning_; }

 private:
  enum class State { kStart, kReasoning, kAfterClose, kContent };
  State state_;
  std::string open_, close_, buf_;
  bool had_reasoning_ = false;
};

/// True when `prompt` ends with the think open tag (optionally followed by a newline): the
/// model's output then starts inside the reasoning block.
bool prompt_opens_reasoning(std::string_view prompt, std::string_view open_tag = "<think>");

}  // namespace ds

#include "runtime/reasoning.h"

#include <algorithm>

namespace ds {

namespace {

// Length of the longest suffix of `s` that is a proper prefix of `tag`.
size_t partial_tag_suffix(std::string_view s, std::string_view tag) {
  for (size_t n = std::min(s.size(), tag.size() - 1); n > 0; --n)
    if (s.substr(s.size() - n) == tag.substr(0, n)) return n;
  return 0;
}

bool is_space(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

}  // namespace

ReasoningSplitter::ReasoningSplitter(bool in_reasoning, std::string open_tag, std::string close_tag)
    : state_(in_reasoning ? State::kReasoning : State::kStart),
      open_(std::move(open_tag)),
      close_(std::move(close_tag)),
      had_reasoning_(in_reasoning) {}

ReasoningSplitter::Piece ReasoningSplitter::feed(std::string_view text) {
  Piece out;
  buf_.append(text);
  for (;;) {
    switch (state_) {
      case State::kStart: {
        // Leading whitespace, then either the open tag (reasoning follows) or content.
        size_t i = 0;
        while (i < buf_.size() && is_space(buf_[i])) ++i;
        std::string_view rest = std::string_view(buf_).substr(i);
        if (rest.empty()) return out;
        if (rest.size() < open_.size() && open_.compare(0, rest.size(), rest) == 0)
          return out;  // maybe the tag
        if (rest.substr(0, open_.size()) == open_) {
          buf_.erase(0, i + open_.size());
          state_ = State::kReasoning;
          had_reasoning_ = true;
          continue;
        }
        state_ = State::kContent;
        continue;
      }
      case State::kReasoning: {
        const size_t at = buf_.find(close_);
        if (at != std::string::npos) {
          out.reasoning += buf_.substr(0, at);
          buf_.erase(0, at + close_.size());
          state_ = State::kAfterClose;
          continue;
        }
        const size_t hold = partial_tag_suffix(buf_, close_);
        out.reasoning += buf_.substr(0, buf_.size() - hold);
        buf_.erase(0, buf_.size() - hold);
        return out;
      }
      case State::kAfterClose: {
        // The answer starts after the blank line that follows the close tag.
        size_t i = 0;
        while (i < buf_.size() && is_space(buf_[i])) ++i;
        if (i == buf_.size()) {
          buf_.clear();
          return out;
        }
        buf_.erase(0, i);
        state_ = State::kContent;
        continue;
      }
      case State::kContent:
        out.content += buf_;
        buf_.clear();
        return out;
    }
  }
}

ReasoningSplitter::Piece ReasoningSplitter::flush() {
  Piece out;
  if (state_ == State::kReasoning)
    out.reasoning = std::move(buf_);
  else if (state_ != State::kAfterClose)
    out.content = std::move(buf_);
  buf_.clear();
  return out;
}

bool prompt_opens_reasoning(std::string_view prompt, std::string_view open_tag) {
  while (!prompt.empty() && is_space(prompt.back())) prompt.remove_suffix(1);
  return prompt.size() >= open_tag.size() &&
         prompt.substr(prompt.size() - open_tag.size()) == open_tag;
}

}  // namespace ds

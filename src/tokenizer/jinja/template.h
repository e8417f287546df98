// A parsed Jinja template and its renderer, with limits that stop runaway templates.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "tokenizer/jinja/value.h"

namespace ds::jinja {

struct Stmt;

/// Limits on one render; exceeding one throws ds::Error.
struct Limits {
  size_t max_steps = 5'000'000;   // statements + expressions evaluated
  size_t max_output = 64u << 20;  // bytes of output
  int max_call_depth = 100;       // nested macro calls
  size_t max_range = 1'000'000;   // length of range()
};

/// A template compiled once and rendered many times (thread-safe: render keeps its state
/// on the stack).
class Template {
 public:
  /// Parses `source`; throws ds::Error with the line of a syntax error.
  explicit Template(const std::string& source);
  ~Template();
  Template(Template&&) noexcept;
  Template& operator=(Template&&) noexcept;

  /// Renders with the variables of `context` (a dict). Throws ds::Error on a runtime error,
  /// raise_exception(), or a limit.
  std::string render(const Value& context, const Limits& limits = {}) const;

 private:
  struct Program;
  std::shared_ptr<const Program> program_;
};

}  // namespace ds::jinja

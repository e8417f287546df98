// Error reporting: one exception type for bad input, one CHECK macro for invariants.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>

namespace ds {

/// An error caused by input the user gave us (a file, a config, a request). Carries a
/// message with enough context to act on ("file X: tensor Y has shape A, expected B").
class Error : public std::runtime_error {
 public:
  explicit Error(std::string msg) : std::runtime_error(std::move(msg)) {}
};

/// Builds a message from pieces: ds::cat("tensor '", name, "' has ", n, " dims").
template <typename... Args>
std::string cat(Args&&... args);

[[noreturn]] void check_failed(const char* file, int line, const char* expr,
                               const std::string& msg);

}  // namespace ds

#include <sstream>

template <typename... Args>
std::string ds::cat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}

/// Invariant inside the engine (a bug if it fails, never bad input): aborts with file:line.
#define DS_CHECK(cond, ...)                                                             \
  do {                                                                                  \
    if (!(cond)) ::ds::check_failed(__FILE__, __LINE__, #cond, ::ds::cat(__VA_ARGS__)); \
  } while (0)

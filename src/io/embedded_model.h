// The default model compiled into the binary (models/<name>/, see CMakeLists.txt), so that
// `dsinfer run` works with no -m and no files next to the binary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ds {

struct EmbeddedFile {
  const uint8_t* data = nullptr;
  size_t size = 0;
  bool present() const { return data != nullptr; }
  std::string str() const { return std::string(reinterpret_cast<const char*>(data), size); }
};

struct EmbeddedModel {
  std::string name;  // directory name under models/
  EmbeddedFile config, weights, tokenizer, tokenizer_config;
};

/// The embedded model, or nullptr when this build has none.
const EmbeddedModel* embedded_model();

}  // namespace ds

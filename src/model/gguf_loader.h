// DeepSeek models from llama.cpp GGUF files (architecture `deepseek2`): metadata to
// ModelConfig, and every tensor bound as a WeightView in place (any GGML type).
// Tensor names and keys: docs/gguf.md.
#pragma once

#include <memory>
#include <string>

#include "model/config.h"

namespace ds {

class GgufFile;
class Model;

/// The ModelConfig a `deepseek2` GGUF describes (llama.cpp's reading of the keys, see
/// docs/gguf.md); throws ds::Error naming the file and the key or the architecture.
ModelConfig config_from_gguf(const GgufFile& f);

/// Maps `path` and binds every tensor with shape and type checks; throws ds::Error naming
/// the tensor on any mismatch.
std::unique_ptr<Model> load_gguf_model(const std::string& path);

/// True when `path` names a GGUF file (by its extension).
bool is_gguf_path(const std::string& path);

}  // namespace ds

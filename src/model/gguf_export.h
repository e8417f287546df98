// Writing a Model as a llama.cpp GGUF file (architecture `deepseek2`): tensor names and
// metadata keys as llama.cpp's converter writes them, types chosen per tensor by a
// quantisation mix, data streamed tensor by tensor (docs/gguf.md).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "io/gguf_value.h"
#include "quant/quant_mix.h"

namespace ds {

class Model;
class ThreadPool;

struct GgufExportOptions {
  FileType ftype = FileType::kQ8_0;
  std::vector<TypeOverride> overrides;
  /// Write MLA's kv_b as attn_k_b / attn_v_b (current llama.cpp files) rather than attn_kv_b.
  bool split_kv_b = true;
  std::string name;                  // general.name
  std::vector<GgufKv> tokenizer_kv;  // tokenizer.* keys
  /// Called before each tensor is written: index, count, name, type, row length.
  std::function<void(size_t, size_t, const std::string&, GgmlType, uint64_t)> on_tensor;
  /// Called with a note when a tensor's rows force a fallback type.
  std::function<void(const std::string&)> on_note;
};

/// Writes `m` to `path`. Rows are produced and quantised in chunks split across `pool`, so
/// memory stays bounded by the chunk size whatever the model size; throws ds::Error when the
/// model cannot be expressed as a deepseek2 GGUF or the file cannot be written.
void export_gguf(const Model& m, const std::string& path, const GgufExportOptions& o,
                 ThreadPool& pool);

}  // namespace ds

// Quantisation mixes: which GGML type each tensor of a GGUF file gets for a llama.cpp file
// type ("q4_k_m", ...). The rules follow llama.cpp's llama_tensor_get_type (llama-quant.cpp)
// so that `dsinfer quantize` and `llama-quantize` choose the same types; docs/quant.md.
#pragma once

#include <cstdint>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "quant/ggml_type.h"

namespace ds {

/// llama.cpp's llama_ftype values (llama.h), stored as `general.file_type`.
enum class FileType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ8_0 = 7,
  kQ5_0 = 8,
  kQ5_1 = 9,
  kQ2_K = 10,
  kQ3_K_S = 11,
  kQ3_K_M = 12,
  kQ3_K_L = 13,
  kQ4_K_S = 14,
  kQ4_K_M = 15,
  kQ5_K_S = 16,
  kQ5_K_M = 17,
  kQ6_K = 18,
  kIQ4_NL = 25,
  kIQ4_XS = 30,
  kBF16 = 32,
};

/// Parses a file type as llama-quantize spells it ("q4_k_m", "Q8_0", "f16"; any case);
/// throws ds::Error listing the known names.
FileType parse_file_type(std::string_view name);
/// The lower-case name of a file type ("q4_k_m").
std::string_view file_type_name(FileType t);
/// The type most tensors get (Q4_K for q4_k_m).
GgmlType file_type_default(FileType t);
/// Parses a GGML tensor type name ("q6_K", "Q8_0", "f16"; any case) that dsinfer can write.
GgmlType parse_ggml_type(std::string_view name);

/// The type llama.cpp falls back to when a row of `n_cols` is not a multiple of `t`'s block
/// (Q4_K → Q5_0, Q6_K → Q8_0, ..., F16 when even that does not fit).
GgmlType fallback_type(GgmlType t, int64_t n_cols);

/// A per-tensor override: an ECMAScript regex searched in the tensor name (as llama-quantize's
/// --tensor-type), or a shell glob matched against the whole name.
struct TypeOverride {
  std::string pattern;
  GgmlType type;
  /// Parses "PATTERN=TYPE"; throws ds::Error on a malformed entry or unknown type.
  static TypeOverride parse(std::string_view spec);
  bool matches(const std::string& tensor_name) const;

 private:
  bool has_regex_ = false;
  std::regex regex_;
};

/// Chooses tensor types in file order (llama.cpp counts attn_kv_b tensors as it goes).
class TypeChooser {
 public:
  struct ModelShape {
    int64_t n_layer_all = 0;  // block_count, MTP layers included
    int64_t n_expert = 0;
    int64_t n_gqa = 1;  // head_count / head_count_kv as the file states them
  };
  /// `names`: every tensor of the file, in order (to count attn_kv_b and see output.weight).
  TypeChooser(FileType ftype, ModelShape shape, const std::vector<std::string>& names,
              std::vector<TypeOverride> overrides);

  /// The type of tensor `name` with ggml dims `ne`; `fallback_note` (if given) is set to a
  /// message when the row length forced a different type.
  GgmlType choose(const std::string& name, const std::vector<int64_t>& ne,
                  std::string* fallback_note = nullptr);

 private:
  GgmlType mix(GgmlType t, const std::string& name, const std::vector<int64_t>& ne);

  FileType ftype_;
  ModelShape shape_;
  std::vector<TypeOverride> overrides_;
  bool tied_embeddings_ = true;
  int n_attention_wv_ = 0, i_attention_wv_ = 0;
};

}  // namespace ds

// GGUF reader (format versions 2 and 3, little-endian): header, metadata, tensor infos, and
// a memory-mapped data section. Every field is validated on open; a bad file throws ds::Error
// naming the file and the offending field. Spec: ggml/docs/gguf.md; behaviour mirrors
// llama.cpp's gguf.cpp (alignment, block-size and duplicate checks).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "core/mapped_file.h"
#include "io/gguf_value.h"
#include "quant/ggml_type.h"

namespace ds {

/// "GGUF" as a little-endian u32.
inline constexpr uint32_t kGgufMagic = 0x46554747;
/// Data-section alignment when the file has no `general.alignment`.
inline constexpr uint32_t kGgufDefaultAlignment = 32;
/// ggml tensors have at most this many dimensions.
inline constexpr uint32_t kGgufMaxDims = 4;

/// One tensor as described in the file (dims in GGML order: dims[0] is contiguous).
struct GgufTensorInfo {
  std::string name;
  GgmlType type = GgmlType::F32;
  std::vector<int64_t> dims;
  uint64_t offset = 0;  // from the start of the data section
  int64_t n_elements = 0;
  uint64_t n_bytes = 0;
};

/// A tensor's data in the mapped file.
struct GgufTensor {
  const GgufTensorInfo* info = nullptr;
  GgmlType type = GgmlType::F32;
  std::vector<int64_t> dims;  // GGML order: dims[0] is the contiguous dimension
  const uint8_t* data = nullptr;
  uint64_t n_bytes = 0;
};

class GgufFile {
 public:
  /// Maps and parses `path`; throws ds::Error on any inconsistency.
  static GgufFile open(const std::string& path);
  /// Parses an image already in memory (tests, fuzzing). `name` is used in error messages.
  /// The bytes are not copied and must outlive the returned object.
  static GgufFile parse(const uint8_t* data, size_t size, std::string name);

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  /// File offset of the data section (tensor offsets are relative to it).
  uint64_t data_offset() const { return data_offset_; }

  /// All metadata in file order.
  const std::vector<GgufKv>& metadata() const { return kv_; }
  /// The value of `key`, or null.
  const GgufValue* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }

  // Typed getters: throw ds::Error naming the file and key when the key is missing, has an
  // incompatible type, or its value does not fit. Integer getters accept any integer type
  // whose value fits; float getters accept f32 and f64. The overloads with a fallback return
  // it when the key is absent (but still throw on a wrong type).
  /// Unsigned 32-bit integer value of `key`.
  uint32_t get_u32(std::string_view key) const;
  /// As get_u32, `fallback` when absent.
  uint32_t get_u32(std::string_view key, uint32_t fallback) const;
  /// Signed 32-bit integer value of `key`.
  int32_t get_i32(std::string_view key) const;
  /// Unsigned 64-bit integer value of `key`.
  uint64_t get_u64(std::string_view key) const;
  /// Signed 64-bit integer value of `key`.
  int64_t get_i64(std::string_view key) const;
  /// Float value of `key` (f32, or f64 narrowed).
  float get_f32(std::string_view key) const;
  /// As get_f32, `fallback` when absent.
  float get_f32(std::string_view key, float fallback) const;
  /// Double value of `key`.
  double get_f64(std::string_view key) const;
  /// Bool value of `key`.
  bool get_bool(std::string_view key) const;
  /// As get_bool, `fallback` when absent.
  bool get_bool(std::string_view key, bool fallback) const;
  /// String value of `key`.
  const std::string& get_string(std::string_view key) const;
  /// As get_string, `fallback` when absent.
  std::string get_string(std::string_view key, std::string_view fallback) const;
  /// String array value of `key`.
  const std::vector<std::string>& get_string_array(std::string_view key) const;
  /// Numeric array `key` converted element-wise to T (integers range-checked; floats from
  /// f32/f64 arrays; bool from bool arrays).
  template <typename T>
  std::vector<T> get_array(std::string_view key) const;

  /// All tensors in file order.
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  /// Info of tensor `name`, or null.
  const GgufTensorInfo* find_tensor(std::string_view name) const;
  /// Tensor `name` with its data pointer; throws ds::Error when absent.
  GgufTensor tensor(std::string_view name) const;
  /// Data of `info` (which must belong to this file).
  const uint8_t* tensor_data(const GgufTensorInfo& info) const;

 private:
  friend class GgufParser;
  const GgufValue& require(std::string_view key) const;
  [[noreturn]] void key_error(std::string_view key, const std::string& what) const;

  std::string path_;
  MappedFile file_;  // empty when parsed from memory
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  uint32_t version_ = 0;
  uint32_t alignment_ = kGgufDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<GgufKv> kv_;
  std::unordered_map<std::string, size_t> kv_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
};

template <typename T>
std::vector<T> GgufFile::get_array(std::string_view key) const {
  const GgufValue& v = require(key);
  if (!v.is_array())
    key_error(key, cat("has type ", gguf_type_name(v.type()), ", expected an array"));
  std::vector<T> out;
  out.reserve(v.size());
  for (uint64_t i = 0; i < v.size(); ++i) {
    if constexpr (std::is_same_v<T, bool>) {
      if (v.element_type() != GgufType::BOOL)
        key_error(key, cat("is an array of ", gguf_type_name(v.element_type()), ", expected bool"));
      out.push_back(v.raw()[i] != 0);
    } else if constexpr (std::is_floating_point_v<T>) {
      double d;
      if (!v.element_to_f64(i, &d))
        key_error(key,
                  cat("is an array of ", gguf_type_name(v.element_type()), ", expected floats"));
      out.push_back(T(d));
    } else if constexpr (std::is_signed_v<T>) {
      int64_t x;
      if (!v.element_to_i64(i, &x) || x < int64_t(std::numeric_limits<T>::min()) ||
          x > int64_t(std::numeric_limits<T>::max()))
        key_error(key, cat("element ", i, " is not an integer that fits the requested type"));
      out.push_back(T(x));
    } else {
      uint64_t x;
      if (!v.element_to_u64(i, &x) || x > uint64_t(std::numeric_limits<T>::max()))
        key_error(key, cat("element ", i, " is not an integer that fits the requested type"));
      out.push_back(T(x));
    }
  }
  return out;
}

}  // namespace ds

// Streaming GGUF v3 writer: metadata and tensor infos are declared first, the header is
// written in one go, then tensor data is streamed one tensor at a time (in declaration order,
// in as many chunks as convenient) with alignment padding between tensors. Memory use is
// independent of the tensor sizes, so a quantiser can write a 700 GB model row by row.
#pragma once

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "io/gguf_value.h"
#include "quant/ggml_type.h"

namespace ds {

class GgufWriter {
 public:
  /// Longest tensor name llama.cpp accepts (GGML_MAX_NAME - 1).
  static constexpr size_t kMaxTensorName = 63;

  /// Prepares to write `path`; nothing touches the disk until write_header().
  explicit GgufWriter(std::string path);
  ~GgufWriter();
  GgufWriter(const GgufWriter&) = delete;
  GgufWriter& operator=(const GgufWriter&) = delete;

  /// Adds metadata `key`. `general.alignment` (u32, a power of two) also sets the alignment.
  void set(std::string key, GgufValue value);
  /// Adds a numeric or bool scalar.
  template <typename T>
  void set_scalar(std::string key, T v) {
    set(std::move(key), GgufValue::scalar<T>(v));
  }
  /// Adds a string.
  void set_string(std::string key, std::string v) {
    set(std::move(key), GgufValue::string(std::move(v)));
  }
  /// Adds a numeric or bool array.
  template <typename T>
  void set_array(std::string key, std::span<const T> v) {
    set(std::move(key), GgufValue::array<T>(v));
  }
  /// Adds a string array.
  void set_string_array(std::string key, std::vector<std::string> v) {
    set(std::move(key), GgufValue::string_array(std::move(v)));
  }

  /// Declares a tensor (dims in GGML order, dims[0] contiguous); returns its byte size.
  uint64_t add_tensor(std::string name, GgmlType type, std::vector<int64_t> dims);

  /// Writes header, metadata, tensor infos and padding. No set/add_tensor afterwards.
  void write_header();
  /// Appends bytes to the current tensor; moves on (padding) once it is complete.
  void write_tensor_data(const void* data, size_t n);
  /// Writes one whole tensor, checking that it is the next one declared and the size matches.
  void write_tensor(std::string_view name, const void* data, size_t n);
  /// Checks every tensor was written in full, flushes and closes the file.
  void finish();

  uint32_t alignment() const { return alignment_; }

 private:
  struct Tensor {
    std::string name;
    GgmlType type;
    std::vector<int64_t> dims;
    uint64_t offset;
    uint64_t n_bytes;
  };
  [[noreturn]] void fail(const std::string& what) const;
  void put(const void* p, size_t n);
  void put_u32(uint32_t v) { put(&v, 4); }
  void put_u64(uint64_t v) { put(&v, 8); }
  void put_string(std::string_view s);
  void put_array_body(const GgufValue& v);
  void put_value(const GgufValue& v);
  void pad_to_alignment();
  void advance_tensor();

  std::string path_;
  std::FILE* fp_ = nullptr;
  uint64_t pos_ = 0;  // bytes written so far
  uint32_t alignment_ = 32;
  std::vector<GgufKv> kv_;
  std::unordered_set<std::string> keys_;
  std::vector<Tensor> tensors_;
  std::unordered_set<std::string> tensor_names_;
  uint64_t next_offset_ = 0;  // data-section offset of the next declared tensor
  bool header_written_ = false;
  bool finished_ = false;
  size_t current_ = 0;         // tensor being written
  uint64_t current_done_ = 0;  // its bytes written so far
  uint64_t data_start_ = 0;    // file offset of the data section
};

}  // namespace ds

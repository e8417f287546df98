// GGUF metadata values: the 13 value types of the GGUF spec, scalars, strings and (nested)
// arrays, shared by the reader (gguf.h) and the writer (gguf_writer.h).
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace ds {

/// GGUF metadata value type ids (gguf.h `enum gguf_type`).
enum class GgufType : uint32_t {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
};

/// Spec name of a value type ("u32", "string", ...); "?" for ids outside the spec.
std::string_view gguf_type_name(GgufType t);
/// Bytes of one scalar of type `t` (0 for STRING and ARRAY).
size_t gguf_scalar_size(GgufType t);

/// The GgufType that stores a C++ scalar type.
template <typename T>
constexpr GgufType gguf_type_of() {
  if constexpr (std::is_same_v<T, uint8_t>)
    return GgufType::U8;
  else if constexpr (std::is_same_v<T, int8_t>)
    return GgufType::I8;
  else if constexpr (std::is_same_v<T, uint16_t>)
    return GgufType::U16;
  else if constexpr (std::is_same_v<T, int16_t>)
    return GgufType::I16;
  else if constexpr (std::is_same_v<T, uint32_t>)
    return GgufType::U32;
  else if constexpr (std::is_same_v<T, int32_t>)
    return GgufType::I32;
  else if constexpr (std::is_same_v<T, float>)
    return GgufType::F32;
  else if constexpr (std::is_same_v<T, bool>)
    return GgufType::BOOL;
  else if constexpr (std::is_same_v<T, uint64_t>)
    return GgufType::U64;
  else if constexpr (std::is_same_v<T, int64_t>)
    return GgufType::I64;
  else if constexpr (std::is_same_v<T, double>)
    return GgufType::F64;
  else
    static_assert(sizeof(T) == 0, "not a GGUF scalar type");
}

/// One metadata value. Numeric scalars and numeric arrays keep their little-endian bytes.
class GgufValue {
 public:
  GgufValue() = default;

  /// A numeric or bool scalar.
  template <typename T>
  static GgufValue scalar(T v) {
    GgufValue r;
    r.type_ = gguf_type_of<T>();
    r.raw_.resize(sizeof(T));
    std::memcpy(r.raw_.data(), &v, sizeof(T));
    return r;
  }
  /// A string (GGUF strings are UTF-8 bytes, not NUL-terminated).
  static GgufValue string(std::string s);
  /// An array of numeric or bool scalars.
  template <typename T>
  static GgufValue array(std::span<const T> v) {
    GgufValue r;
    r.type_ = GgufType::ARRAY;
    r.elem_ = gguf_type_of<T>();
    r.n_ = v.size();
    r.raw_.resize(v.size() * sizeof(T));
    if (!v.empty()) std::memcpy(r.raw_.data(), v.data(), r.raw_.size());
    return r;
  }
  /// An array of strings.
  static GgufValue string_array(std::vector<std::string> v);
  /// An array of arrays (each element itself an array, of any element type).
  static GgufValue array_of_arrays(std::vector<GgufValue> v);
  /// An array of `n` scalars of type `elem` from raw little-endian bytes (the reader's path).
  static GgufValue raw_array(GgufType elem, uint64_t n, std::vector<uint8_t> bytes);
  /// A scalar of type `t` from raw little-endian bytes.
  static GgufValue raw_scalar(GgufType t, const uint8_t* bytes);

  GgufType type() const { return type_; }
  /// Element type of an array (meaningless for scalars).
  GgufType element_type() const { return elem_; }
  bool is_array() const { return type_ == GgufType::ARRAY; }
  /// Number of elements of an array.
  uint64_t size() const { return n_; }

  /// The scalar as exactly type T (DS_CHECKs the type; use the GgufFile getters for input).
  template <typename T>
  T as() const {
    check_scalar(gguf_type_of<T>());
    T v;
    std::memcpy(&v, raw_.data(), sizeof(T));
    return v;
  }
  /// Any integer scalar widened; false when the value is not an integer or does not fit.
  bool to_i64(int64_t* out) const;
  bool to_u64(uint64_t* out) const;
  /// Integer element `i` of an integer array (same conventions as to_i64 / to_u64).
  bool element_to_i64(uint64_t i, int64_t* out) const;
  bool element_to_u64(uint64_t i, uint64_t* out) const;
  /// F32 or F64 scalar / array element as double; false otherwise.
  bool to_f64(double* out) const;
  bool element_to_f64(uint64_t i, double* out) const;

  const std::string& as_string() const;
  const std::vector<std::string>& strings() const { return strs_; }
  const std::vector<GgufValue>& arrays() const { return items_; }
  /// Raw bytes of a numeric scalar or numeric array.
  const std::vector<uint8_t>& raw() const { return raw_; }

  bool operator==(const GgufValue& o) const = default;

 private:
  void check_scalar(GgufType t) const;

  GgufType type_ = GgufType::U8;
  GgufType elem_ = GgufType::U8;
  uint64_t n_ = 0;
  std::vector<uint8_t> raw_;       // numeric scalar, or numeric array elements
  std::vector<std::string> strs_;  // the string, or string array elements
  std::vector<GgufValue> items_;   // nested arrays
};

/// One key/value pair, in file order.
struct GgufKv {
  std::string key;
  GgufValue value;
};

}  // namespace ds

#include "io/gguf_value.h"

#include <limits>

#include "core/error.h"

namespace ds {

std::string_view gguf_type_name(GgufType t) {
  switch (t) {
    case GgufType::U8:
      return "u8";
    case GgufType::I8:
      return "i8";
    case GgufType::U16:
      return "u16";
    case GgufType::I16:
      return "i16";
    case GgufType::U32:
      return "u32";
    case GgufType::I32:
      return "i32";
    case GgufType::F32:
      return "f32";
    case GgufType::BOOL:
      return "bool";
    case GgufType::STRING:
      return "string";
    case GgufType::ARRAY:
      return "array";
    case GgufType::U64:
      return "u64";
    case GgufType::I64:
      return "i64";
    case GgufType::F64:
      return "f64";
  }
  return "?";
}

size_t gguf_scalar_size(GgufType t) {
  switch (t) {
    case GgufType::U8:
    case GgufType::I8:
    case GgufType::BOOL:
      return 1;
    case GgufType::U16:
    case GgufType::I16:
      return 2;
    case GgufType::U32:
    case GgufType::I32:
    case GgufType::F32:
      return 4;
    case GgufType::U64:
    case GgufType::I64:
    case GgufType::F64:
      return 8;
    case GgufType::STRING:
    case GgufType::ARRAY:
      return 0;
  }
  return 0;
}

GgufValue GgufValue::string(std::string s) {
  GgufValue r;
  r.type_ = GgufType::STRING;
  r.strs_.push_back(std::move(s));
  return r;
}

GgufValue GgufValue::string_array(std::vector<std::string> v) {
  GgufValue r;
  r.type_ = GgufType::ARRAY;
  r.elem_ = GgufType::STRING;
  r.n_ = v.size();
  r.strs_ = std::move(v);
  return r;
}

GgufValue GgufValue::array_of_arrays(std::vector<GgufValue> v) {
  for (const auto& e : v) DS_CHECK(e.is_array(), "array_of_arrays: every element must be an array");
  GgufValue r;
  r.type_ = GgufType::ARRAY;
  r.elem_ = GgufType::ARRAY;
  r.n_ = v.size();
  r.items_ = std::move(v);
  return r;
}

GgufValue GgufValue::raw_array(GgufType elem, uint64_t n, std::vector<uint8_t> bytes) {
  DS_CHECK(gguf_scalar_size(elem) > 0 && bytes.size() == n * gguf_scalar_size(elem),
           "raw_array: ", n, " elements of ", gguf_type_name(elem), " in ", bytes.size(), " bytes");
  GgufValue r;
  r.type_ = GgufType::ARRAY;
  r.elem_ = elem;
  r.n_ = n;
  r.raw_ = std::move(bytes);
  return r;
}

GgufValue GgufValue::raw_scalar(GgufType t, const uint8_t* bytes) {
  const size_t size = gguf_scalar_size(t);
  DS_CHECK(size > 0, "raw_scalar: ", gguf_type_name(t), " is not a scalar type");
  GgufValue r;
  r.type_ = t;
  r.raw_.assign(bytes, bytes + size);
  return r;
}

void GgufValue::check_scalar(GgufType t) const {
  DS_CHECK(type_ == t, "GGUF value has type ", gguf_type_name(type_), ", read as ",
           gguf_type_name(t));
}

const std::string& GgufValue::as_string() const {
  DS_CHECK(type_ == GgufType::STRING, "GGUF value has type ", gguf_type_name(type_),
           ", read as string");
  return strs_[0];
}

namespace {
// Integer at `p` of type t, as a signed/unsigned pair; false for non-integer types.
bool load_integer(GgufType t, const uint8_t* p, bool* is_signed, int64_t* s, uint64_t* u) {
  auto load = [&](auto tag) {
    decltype(tag) v;
    std::memcpy(&v, p, sizeof(v));
    if constexpr (std::is_signed_v<decltype(v)>) {
      *is_signed = true;
      *s = int64_t(v);
    } else {
      *is_signed = false;
      *u = uint64_t(v);
    }
  };
  switch (t) {
    case GgufType::U8:
      load(uint8_t{});
      return true;
    case GgufType::I8:
      load(int8_t{});
      return true;
    case GgufType::U16:
      load(uint16_t{});
      return true;
    case GgufType::I16:
      load(int16_t{});
      return true;
    case GgufType::U32:
      load(uint32_t{});
      return true;
    case GgufType::I32:
      load(int32_t{});
      return true;
    case GgufType::U64:
      load(uint64_t{});
      return true;
    case GgufType::I64:
      load(int64_t{});
      return true;
    default:
      return false;
  }
}

bool integer_to_i64(GgufType t, const uint8_t* p, int64_t* out) {
  bool is_signed;
  int64_t s;
  uint64_t u;
  if (!load_integer(t, p, &is_signed, &s, &u)) return false;
  if (is_signed) {
    *out = s;
    return true;
  }
  if (u > uint64_t(std::numeric_limits<int64_t>::max())) return false;
  *out = int64_t(u);
  return true;
}

bool integer_to_u64(GgufType t, const uint8_t* p, uint64_t* out) {
  bool is_signed;
  int64_t s;
  uint64_t u;
  if (!load_integer(t, p, &is_signed, &s, &u)) return false;
  if (is_signed) {
    if (s < 0) return false;
    *out = uint64_t(s);
    return true;
  }
  *out = u;
  return true;
}

bool float_to_f64(GgufType t, const uint8_t* p, double* out) {
  if (t == GgufType::F32) {
    float f;
    std::memcpy(&f, p, 4);
    *out = f;
    return true;
  }
  if (t == GgufType::F64) {
    std::memcpy(out, p, 8);
    return true;
  }
  return false;
}
}  // namespace

bool GgufValue::to_i64(int64_t* out) const {
  return !is_array() && type_ != GgufType::STRING && integer_to_i64(type_, raw_.data(), out);
}

bool GgufValue::to_u64(uint64_t* out) const {
  return !is_array() && type_ != GgufType::STRING && integer_to_u64(type_, raw_.data(), out);
}

bool GgufValue::to_f64(double* out) const {
  return !is_array() && float_to_f64(type_, raw_.data(), out);
}

bool GgufValue::element_to_i64(uint64_t i, int64_t* out) const {
  const size_t sz = gguf_scalar_size(elem_);
  return is_array() && sz && i < n_ && integer_to_i64(elem_, raw_.data() + i * sz, out);
}

bool GgufValue::element_to_u64(uint64_t i, uint64_t* out) const {
  const size_t sz = gguf_scalar_size(elem_);
  return is_array() && sz && i < n_ && integer_to_u64(elem_, raw_.data() + i * sz, out);
}

bool GgufValue::element_to_f64(uint64_t i, double* out) const {
  const size_t sz = gguf_scalar_size(elem_);
  return is_array() && sz && i < n_ && float_to_f64(elem_, raw_.data() + i * sz, out);
}

}  // namespace ds

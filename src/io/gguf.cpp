#include "io/gguf.h"

#include <algorithm>
#include <cstring>

namespace ds {

namespace {
// Nested arrays deeper than this are rejected (the spec sets no limit; this bounds recursion).
constexpr int kMaxArrayDepth = 16;
// Smallest encodings, used to reject counts that cannot fit in the rest of the file before
// anything is allocated for them.
constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;              // key len, 1-byte key, type, u8
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 4 + 8;  // name len, name, n_dims, type, offset
}  // namespace

// Reads the header, metadata and tensor infos of one file, throwing with context on the first
// inconsistency.
class GgufParser {
 public:
  explicit GgufParser(GgufFile& f) : f_(f), p_(f.base_), size_(f.size_) {}

  void run() {
    if (size_ < 4) fail(cat("file too small for a GGUF header (", size_, " bytes)"));
    const uint32_t magic = u32("magic");
    if (magic != kGgufMagic) {
      fail(cat("not a GGUF file: magic is ", hex(magic), ", expected ", hex(kGgufMagic),
               " (\"GGUF\")"));
    }
    const uint32_t version = u32("version");
    if (version == 1) fail("GGUF version 1 (32-bit counts) is not supported; re-convert the file");
    if ((version & 0xffff) == 0 && version != 0) {
      fail(cat("version field ", hex(version),
               " looks byte-swapped: big-endian GGUF is not "
               "supported"));
    }
    if (version != 2 && version != 3) fail(cat("unsupported GGUF version ", version));
    f_.version_ = version;
    const uint64_t n_tensors = u64("tensor count");
    const uint64_t n_kv = u64("metadata count");
    if (n_kv > remaining() / kMinKvBytes)
      fail(cat("metadata count ", n_kv, " cannot fit in the ", remaining(), " bytes left"));
    if (n_tensors > remaining() / kMinTensorInfoBytes)
      fail(cat("tensor count ", n_tensors, " cannot fit in the ", remaining(), " bytes left"));

    f_.kv_.reserve(n_kv);
    for (uint64_t i = 0; i < n_kv; ++i) read_kv(i);
    read_alignment();

    f_.tensors_.reserve(n_tensors);
    for (uint64_t i = 0; i < n_tensors; ++i) read_tensor_info(i);

    const uint64_t data_offset = align_up(pos_, f_.alignment_);
    f_.data_offset_ = data_offset;
    if (n_tensors > 0 && data_offset > size_) {
      fail(cat("truncated: data section would start at offset ", data_offset, " but the file has ",
               size_, " bytes"));
    }
    check_tensor_ranges();
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw Error(cat(f_.path_, ": ", what)); }

  static std::string hex(uint32_t v) {
    static const char* kDigits = "0123456789abcdef";
    std::string s = "0x";
    for (int i = 7; i >= 0; --i) s += kDigits[(v >> (4 * i)) & 0xf];
    return s;
  }

  static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

  uint64_t remaining() const { return size_ - pos_; }

  void need(uint64_t n, std::string_view field) const {
    if (n > remaining()) {
      fail(cat("truncated: ", field, " at offset ", pos_, " needs ", n, " bytes, ", remaining(),
               " left"));
    }
  }

  const uint8_t* take(uint64_t n, std::string_view field) {
    need(n, field);
    const uint8_t* at = p_ + pos_;
    pos_ += n;
    return at;
  }

  uint32_t u32(std::string_view field) {
    uint32_t v;
    std::memcpy(&v, take(4, field), 4);
    return v;
  }

  uint64_t u64(std::string_view field) {
    uint64_t v;
    std::memcpy(&v, take(8, field), 8);
    return v;
  }

  std::string str(std::string_view field) {
    const uint64_t len = u64(field);
    if (len > remaining()) {
      fail(cat("string length ", len, " of ", field, " at offset ", pos_ - 8,
               " runs past the end of the file (", remaining(), " bytes left)"));
    }
    const uint8_t* at = take(len, field);
    return std::string(reinterpret_cast<const char*>(at), size_t(len));
  }

  GgufType value_type(std::string_view field) {
    const uint32_t t = u32(field);
    if (t > uint32_t(GgufType::F64)) fail(cat(field, " has unknown value type ", t));
    return GgufType(t);
  }

  // A scalar or string of type t.
  GgufValue scalar(GgufType t, const std::string& ctx) {
    if (t == GgufType::STRING) return GgufValue::string(str(ctx));
    const uint8_t* at = take(gguf_scalar_size(t), ctx);
    if (t == GgufType::BOOL && *at > 1) fail(cat(ctx, ": invalid bool byte ", int(*at)));
    return GgufValue::raw_scalar(t, at);
  }

  // The body of an array (element type and count already known from `ctx`).
  GgufValue array(const std::string& ctx, int depth) {
    if (depth > kMaxArrayDepth) fail(cat(ctx, ": arrays nested deeper than ", kMaxArrayDepth));
    const GgufType elem = value_type(ctx + " element type");
    const uint64_t n = u64(ctx + " length");
    // Each element takes at least this much; reject counts the file cannot hold.
    const uint64_t min_elem = elem == GgufType::STRING  ? 8
                              : elem == GgufType::ARRAY ? 12
                                                        : gguf_scalar_size(elem);
    if (n > remaining() / min_elem) {
      fail(cat(ctx, ": array of ", n, " ", gguf_type_name(elem), " elements cannot fit in the ",
               remaining(), " bytes left"));
    }
    if (elem == GgufType::STRING) {
      std::vector<std::string> v;
      v.reserve(n);
      for (uint64_t i = 0; i < n; ++i) v.push_back(str(ctx));
      return GgufValue::string_array(std::move(v));
    }
    if (elem == GgufType::ARRAY) {
      std::vector<GgufValue> v;
      v.reserve(n);
      for (uint64_t i = 0; i < n; ++i) v.push_back(array(cat(ctx, "[", i, "]"), depth + 1));
      return GgufValue::array_of_arrays(std::move(v));
    }
    const uint64_t bytes = n * min_elem;
    const uint8_t* at = take(bytes, ctx);
    if (elem == GgufType::BOOL) {
      for (uint64_t i = 0; i < n; ++i)
        if (at[i] > 1) fail(cat(ctx, ": element ", i, " is an invalid bool byte ", int(at[i])));
    }
    return GgufValue::raw_array(elem, n, std::vector<uint8_t>(at, at + bytes));
  }

  void read_kv(uint64_t i) {
    const uint64_t at = pos_;
    std::string key = str(cat("key of metadata entry ", i));
    if (key.empty()) fail(cat("metadata entry ", i, " at offset ", at, " has an empty key"));
    const std::string ctx = cat("metadata key '", key, "'");
    if (f_.kv_index_.count(key)) fail(cat("duplicate ", ctx));
    const GgufType t = value_type(ctx + " type");
    GgufValue v = t == GgufType::ARRAY ? array(ctx, 1) : scalar(t, ctx);
    f_.kv_index_.emplace(key, f_.kv_.size());
    f_.kv_.push_back({std::move(key), std::move(v)});
  }

  void read_alignment() {
    const GgufValue* v = f_.find("general.alignment");
    if (!v) return;
    if (v->type() != GgufType::U32) {
      fail(cat("metadata key 'general.alignment' has type ", gguf_type_name(v->type()),
               ", expected u32"));
    }
    const uint32_t a = v->as<uint32_t>();
    if (a == 0 || (a & (a - 1)) != 0) fail(cat("general.alignment ", a, " is not a power of two"));
    f_.alignment_ = a;
  }

  void read_tensor_info(uint64_t i) {
    GgufTensorInfo t;
    t.name = str(cat("name of tensor ", i));
    const std::string ctx = cat("tensor '", t.name, "'");
    if (f_.tensor_index_.count(t.name)) fail(cat("duplicate ", ctx));
    const uint32_t n_dims = u32(ctx + " n_dims");
    if (n_dims > kGgufMaxDims) fail(cat(ctx, " has ", n_dims, " dims, at most ", kGgufMaxDims));
    int64_t n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t dim = u64(ctx + " dims");
      if (dim > uint64_t(INT64_MAX)) fail(cat(ctx, " has a negative dimension"));
      t.dims.push_back(int64_t(dim));
      if (__builtin_mul_overflow(n_elements, int64_t(dim), &n_elements))
        fail(cat(ctx, ": element count overflows (dims ", dims_str(t.dims), "...)"));
    }
    t.n_elements = n_elements;
    const uint32_t type_id = u32(ctx + " type");
    if (!ggml_type_from_id(type_id, &t.type)) fail(cat(ctx, " has unknown ggml type ", type_id));
    const int64_t block = ggml_block_size(t.type);
    const int64_t row = t.dims.empty() ? 1 : t.dims[0];
    if (row % block != 0) {
      fail(cat(ctx, " of type ", ggml_type_name(t.type), " has ", row,
               " elements per row, not a multiple of the block size ", block));
    }
    uint64_t n_bytes;
    if (__builtin_mul_overflow(uint64_t(n_elements / block), uint64_t(ggml_block_bytes(t.type)),
                               &n_bytes)) {
      fail(cat(ctx, ": byte size overflows"));
    }
    t.n_bytes = n_bytes;
    t.offset = u64(ctx + " offset");
    if (t.offset % f_.alignment_ != 0) {
      fail(cat(ctx, " offset ", t.offset, " is not a multiple of the alignment ", f_.alignment_));
    }
    f_.tensor_index_.emplace(t.name, f_.tensors_.size());
    f_.tensors_.push_back(std::move(t));
  }

  static std::string dims_str(const std::vector<int64_t>& dims) {
    std::string s = "[";
    for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
    return s + "]";
  }

  void check_tensor_ranges() {
    const uint64_t data_size = f_.data_offset_ <= size_ ? size_ - f_.data_offset_ : 0;
    std::vector<const GgufTensorInfo*> by_offset;
    for (const auto& t : f_.tensors_) {
      if (t.offset > data_size || t.n_bytes > data_size - t.offset) {
        fail(cat("tensor '", t.name, "' (offset ", t.offset, ", ", t.n_bytes,
                 " bytes) runs past the end of the data section (", data_size,
                 " bytes): file truncated?"));
      }
      if (t.n_bytes > 0) by_offset.push_back(&t);
    }
    std::sort(by_offset.begin(), by_offset.end(),
              [](const auto* a, const auto* b) { return a->offset < b->offset; });
    for (size_t i = 1; i < by_offset.size(); ++i) {
      const auto* a = by_offset[i - 1];
      const auto* b = by_offset[i];
      if (a->offset + a->n_bytes > b->offset) {
        fail(cat("tensors '", a->name, "' (offset ", a->offset, ", ", a->n_bytes, " bytes) and '",
                 b->name, "' (offset ", b->offset, ") overlap"));
      }
    }
  }

  GgufFile& f_;
  const uint8_t* p_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

GgufFile GgufFile::open(const std::string& path) {
  GgufFile f;
  f.path_ = path;
  f.file_ = MappedFile(path);
  f.base_ = f.file_.data();
  f.size_ = f.file_.size();
  GgufParser(f).run();
  return f;
}

GgufFile GgufFile::parse(const uint8_t* data, size_t size, std::string name) {
  GgufFile f;
  f.path_ = std::move(name);
  f.base_ = data;
  f.size_ = size;
  GgufParser(f).run();
  return f;
}

const GgufValue* GgufFile::find(std::string_view key) const {
  const auto it = kv_index_.find(std::string(key));
  return it == kv_index_.end() ? nullptr : &kv_[it->second].value;
}

void GgufFile::key_error(std::string_view key, const std::string& what) const {
  throw Error(cat(path_, ": metadata key '", key, "' ", what));
}

const GgufValue& GgufFile::require(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) key_error(key, "is missing");
  return *v;
}

uint32_t GgufFile::get_u32(std::string_view key) const {
  uint64_t x;
  const GgufValue& v = require(key);
  if (!v.to_u64(&x)) key_error(key, cat("has type ", gguf_type_name(v.type()), ", expected u32"));
  if (x > UINT32_MAX) key_error(key, cat("value ", x, " does not fit in u32"));
  return uint32_t(x);
}

uint32_t GgufFile::get_u32(std::string_view key, uint32_t fallback) const {
  return has(key) ? get_u32(key) : fallback;
}

int32_t GgufFile::get_i32(std::string_view key) const {
  int64_t x;
  const GgufValue& v = require(key);
  if (!v.to_i64(&x)) key_error(key, cat("has type ", gguf_type_name(v.type()), ", expected i32"));
  if (x < INT32_MIN || x > INT32_MAX) key_error(key, cat("value ", x, " does not fit in i32"));
  return int32_t(x);
}

uint64_t GgufFile::get_u64(std::string_view key) const {
  uint64_t x;
  const GgufValue& v = require(key);
  if (!v.to_u64(&x)) key_error(key, cat("has type ", gguf_type_name(v.type()), ", expected u64"));
  return x;
}

int64_t GgufFile::get_i64(std::string_view key) const {
  int64_t x;
  const GgufValue& v = require(key);
  if (!v.to_i64(&x)) key_error(key, cat("has type ", gguf_type_name(v.type()), ", expected i64"));
  return x;
}

double GgufFile::get_f64(std::string_view key) const {
  double x;
  const GgufValue& v = require(key);
  if (!v.to_f64(&x)) {
    key_error(key, cat("has type ", gguf_type_name(v.type()), ", expected a float (f32/f64)"));
  }
  return x;
}

float GgufFile::get_f32(std::string_view key) const {
  return float(get_f64(key));
}

float GgufFile::get_f32(std::string_view key, float fallback) const {
  return has(key) ? get_f32(key) : fallback;
}

bool GgufFile::get_bool(std::string_view key) const {
  const GgufValue& v = require(key);
  if (v.type() != GgufType::BOOL)
    key_error(key, cat("has type ", gguf_type_name(v.type()), ", expected bool"));
  return v.as<bool>();
}

bool GgufFile::get_bool(std::string_view key, bool fallback) const {
  return has(key) ? get_bool(key) : fallback;
}

const std::string& GgufFile::get_string(std::string_view key) const {
  const GgufValue& v = require(key);
  if (v.type() != GgufType::STRING)
    key_error(key, cat("has type ", gguf_type_name(v.type()), ", expected string"));
  return v.as_string();
}

std::string GgufFile::get_string(std::string_view key, std::string_view fallback) const {
  return has(key) ? get_string(key) : std::string(fallback);
}

const std::vector<std::string>& GgufFile::get_string_array(std::string_view key) const {
  const GgufValue& v = require(key);
  if (!v.is_array() || v.element_type() != GgufType::STRING) {
    key_error(key, cat("has type ", gguf_type_name(v.type()),
                       v.is_array() ? cat(" of ", gguf_type_name(v.element_type())) : "",
                       ", expected array of string"));
  }
  return v.strings();
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  const auto it = tensor_index_.find(std::string(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const uint8_t* GgufFile::tensor_data(const GgufTensorInfo& info) const {
  return base_ + data_offset_ + info.offset;
}

GgufTensor GgufFile::tensor(std::string_view name) const {
  const GgufTensorInfo* info = find_tensor(name);
  if (!info) throw Error(cat(path_, ": tensor '", name, "' not found"));
  return {info, info->type, info->dims, tensor_data(*info), info->n_bytes};
}

}  // namespace ds

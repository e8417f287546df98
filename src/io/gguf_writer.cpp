#include "io/gguf_writer.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "io/gguf.h"

namespace ds {

namespace {
uint64_t align_up(uint64_t x, uint64_t a) {
  return (x + a - 1) / a * a;
}
}  // namespace

GgufWriter::GgufWriter(std::string path) : path_(std::move(path)) {}

GgufWriter::~GgufWriter() {
  if (fp_) std::fclose(fp_);
}

void GgufWriter::fail(const std::string& what) const {
  throw Error(cat(path_, ": ", what));
}

void GgufWriter::set(std::string key, GgufValue value) {
  if (header_written_) fail(cat("metadata key '", key, "' added after the header was written"));
  if (key.empty()) fail("empty metadata key");
  if (keys_.count(key)) fail(cat("duplicate metadata key '", key, "'"));
  if (key == "general.alignment") {
    if (value.type() != GgufType::U32) fail("general.alignment must be a u32");
    const uint32_t a = value.as<uint32_t>();
    if (a == 0 || (a & (a - 1)) != 0) fail(cat("general.alignment ", a, " is not a power of two"));
    if (!tensors_.empty()) fail("general.alignment must be set before tensors are added");
    alignment_ = a;
  }
  keys_.insert(key);
  kv_.push_back({std::move(key), std::move(value)});
}

uint64_t GgufWriter::add_tensor(std::string name, GgmlType type, std::vector<int64_t> dims) {
  if (header_written_) fail(cat("tensor '", name, "' added after the header was written"));
  if (name.empty() || name.size() > kMaxTensorName)
    fail(cat("tensor name '", name, "' must have 1..", kMaxTensorName, " bytes"));
  if (tensor_names_.count(name)) fail(cat("duplicate tensor '", name, "'"));
  if (dims.size() > kGgufMaxDims) fail(cat("tensor '", name, "' has more than 4 dims"));
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0 || __builtin_mul_overflow(n, d, &n))
      fail(cat("tensor '", name, "' has a negative or overflowing shape"));
  }
  const int64_t block = ggml_block_size(type);
  const int64_t row = dims.empty() ? 1 : dims[0];
  if (row % block != 0) {
    fail(cat("tensor '", name, "' of type ", ggml_type_name(type), " has ", row,
             " elements per row, not a multiple of the block size ", block));
  }
  const uint64_t n_bytes = uint64_t(n / block) * ggml_block_bytes(type);
  tensor_names_.insert(name);
  tensors_.push_back({std::move(name), type, std::move(dims), next_offset_, n_bytes});
  next_offset_ += align_up(n_bytes, alignment_);
  return n_bytes;
}

void GgufWriter::put(const void* p, size_t n) {
  if (n && std::fwrite(p, 1, n, fp_) != n) fail(cat("write failed: ", std::strerror(errno)));
  pos_ += n;
}

void GgufWriter::put_string(std::string_view s) {
  put_u64(s.size());
  put(s.data(), s.size());
}

void GgufWriter::put_array_body(const GgufValue& v) {
  put_u32(uint32_t(v.element_type()));
  put_u64(v.size());
  if (v.element_type() == GgufType::STRING) {
    for (const auto& s : v.strings()) put_string(s);
  } else if (v.element_type() == GgufType::ARRAY) {
    for (const auto& a : v.arrays()) put_array_body(a);
  } else {
    put(v.raw().data(), v.raw().size());
  }
}

void GgufWriter::put_value(const GgufValue& v) {
  put_u32(uint32_t(v.type()));
  if (v.type() == GgufType::STRING) {
    put_string(v.as_string());
  } else if (v.is_array()) {
    put_array_body(v);
  } else {
    put(v.raw().data(), v.raw().size());
  }
}

void GgufWriter::pad_to_alignment() {
  static const uint8_t kZeros[256] = {};
  uint64_t pad = align_up(pos_ - data_start_, alignment_) - (pos_ - data_start_);
  while (pad > 0) {
    const size_t n = size_t(std::min<uint64_t>(pad, sizeof(kZeros)));
    put(kZeros, n);
    pad -= n;
  }
}

void GgufWriter::write_header() {
  if (header_written_) fail("header written twice");
  fp_ = std::fopen(path_.c_str(), "wb");
  if (!fp_) fail(cat("cannot create: ", std::strerror(errno)));
  header_written_ = true;
  put_u32(kGgufMagic);
  put_u32(3);
  put_u64(tensors_.size());
  put_u64(kv_.size());
  for (const auto& kv : kv_) {
    put_string(kv.key);
    put_value(kv.value);
  }
  for (const auto& t : tensors_) {
    put_string(t.name);
    put_u32(uint32_t(t.dims.size()));
    for (int64_t d : t.dims) put_u64(uint64_t(d));
    put_u32(uint32_t(t.type));
    put_u64(t.offset);
  }
  // The data section starts aligned relative to the file start (data_start_ is 0 here).
  data_start_ = 0;
  pad_to_alignment();
  data_start_ = pos_;
  advance_tensor();
}

// Skips over finished (or empty) tensors, padding after each.
void GgufWriter::advance_tensor() {
  while (current_ < tensors_.size() && current_done_ == tensors_[current_].n_bytes) {
    pad_to_alignment();
    ++current_;
    current_done_ = 0;
  }
}

void GgufWriter::write_tensor_data(const void* data, size_t n) {
  if (!header_written_ || finished_) fail("tensor data written outside write_header()..finish()");
  const auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    if (current_ >= tensors_.size()) fail(cat(n, " bytes of tensor data beyond the last tensor"));
    const Tensor& t = tensors_[current_];
    const uint64_t take = std::min<uint64_t>(n, t.n_bytes - current_done_);
    put(p, size_t(take));
    current_done_ += take;
    p += take;
    n -= size_t(take);
    advance_tensor();
  }
}

void GgufWriter::write_tensor(std::string_view name, const void* data, size_t n) {
  // Zero-byte tensors have nothing to stream and are passed over automatically.
  if (n == 0 && tensor_names_.count(std::string(name))) {
    for (const Tensor& t : tensors_)
      if (t.name == name && t.n_bytes == 0) return;
  }
  if (current_ >= tensors_.size()) fail(cat("tensor '", name, "' written but none is pending"));
  const Tensor& t = tensors_[current_];
  if (t.name != name || current_done_ != 0) {
    fail(cat("tensor '", name, "' written out of order; next is '", t.name, "'"));
  }
  if (n != t.n_bytes) fail(cat("tensor '", name, "' has ", t.n_bytes, " bytes, got ", n));
  write_tensor_data(data, n);
}

void GgufWriter::finish() {
  if (!header_written_) write_header();
  if (current_ < tensors_.size()) {
    fail(cat("finished with tensor '", tensors_[current_].name, "' incomplete (", current_done_,
             " of ", tensors_[current_].n_bytes, " bytes)"));
  }
  finished_ = true;
  const bool ok = std::fflush(fp_) == 0;
  const int e = errno;
  const bool closed = std::fclose(fp_) == 0;
  fp_ = nullptr;
  if (!ok || !closed) fail(cat("write failed: ", std::strerror(e)));
}

}  // namespace ds

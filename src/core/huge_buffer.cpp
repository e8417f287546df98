#include "core/huge_buffer.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <utility>

#include "core/error.h"

namespace ds {

namespace {
constexpr size_t kHugePage = size_t(2) << 20;
}  // namespace

HugeBuffer::HugeBuffer(size_t bytes) : size_(bytes) {
  if (bytes == 0) return;
  if (bytes < kHugePage) {
    data_ = new uint8_t[bytes]();
    return;
  }
  map_len_ = (bytes + kHugePage - 1) / kHugePage * kHugePage + kHugePage;
  void* p = ::mmap(nullptr, map_len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    const int e = errno;
    map_len_ = 0;
    size_ = 0;
    throw Error(cat("cannot allocate ", bytes, " bytes: ", std::strerror(e)));
  }
  map_base_ = p;
  auto* base = static_cast<uint8_t*>(p);
  data_ = base + (kHugePage - reinterpret_cast<uintptr_t>(base) % kHugePage) % kHugePage;
  ::madvise(data_, bytes, MADV_HUGEPAGE);  // advice only: 4 KiB pages still work
}

void HugeBuffer::make_read_only() {
  if (map_base_) ::mprotect(data_, size_, PROT_READ);
}

void HugeBuffer::release() {
  if (map_base_)
    ::munmap(map_base_, map_len_);
  else
    delete[] data_;
  data_ = nullptr;
  size_ = 0;
  map_base_ = nullptr;
  map_len_ = 0;
}

HugeBuffer::~HugeBuffer() {
  release();
}

HugeBuffer::HugeBuffer(const HugeBuffer& o) : HugeBuffer(o.size_) {
  if (size_) std::memcpy(data_, o.data_, size_);
}

HugeBuffer& HugeBuffer::operator=(const HugeBuffer& o) {
  if (this != &o) {
    HugeBuffer copy(o);
    *this = std::move(copy);
  }
  return *this;
}

HugeBuffer::HugeBuffer(HugeBuffer&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      map_base_(std::exchange(o.map_base_, nullptr)),
      map_len_(std::exchange(o.map_len_, 0)) {}

HugeBuffer& HugeBuffer::operator=(HugeBuffer&& o) noexcept {
  if (this != &o) {
    release();
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    map_base_ = std::exchange(o.map_base_, nullptr);
    map_len_ = std::exchange(o.map_len_, 0);
  }
  return *this;
}

}  // namespace ds

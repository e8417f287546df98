// Zero-initialised memory for large buffers that are streamed every step (the KV cache):
// 2 MiB aligned and advised for transparent huge pages, since with 4 KiB pages each 4 KiB
// streamed costs a TLB miss (a two-level page walk inside a virtual machine). Small buffers
// use the heap.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ds {

class HugeBuffer {
 public:
  HugeBuffer() = default;
  /// `bytes` zeroed bytes; throws ds::Error when they cannot be had.
  explicit HugeBuffer(size_t bytes);
  ~HugeBuffer();
  HugeBuffer(const HugeBuffer& o);
  HugeBuffer& operator=(const HugeBuffer& o);
  HugeBuffer(HugeBuffer&& o) noexcept;
  HugeBuffer& operator=(HugeBuffer&& o) noexcept;

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  /// Makes the pages read-only (a buffer of 2 MiB or more; smaller ones live on the heap and
  /// are left writable). Copies of the buffer are writable again.
  void make_read_only();

 private:
  void release();

  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  void* map_base_ = nullptr;  // non-null when mapped (else data_ is from operator new)
  size_t map_len_ = 0;
};

}  // namespace ds

// The fuzz input copied to a page-aligned heap block, as the parsers see a memory-mapped
// file: tensor alignment then depends on the file's layout only, and code that would unmap or
// free memory it does not own fails on every input instead of only on a chance alignment.
// ASan still reports any read past the input's last byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <sys/mman.h>

class PageAlignedInput {
 public:
  PageAlignedInput(const uint8_t* data, size_t size) : size_(size) {
    void* p = nullptr;
    if (posix_memalign(&p, 4096, size > 0 ? size : 1) != 0) std::abort();
    if (size > 0) std::memcpy(p, data, size);
    data_ = static_cast<uint8_t*>(p);
  }
  ~PageAlignedInput() {
    // msync fails with ENOMEM when the pages are no longer mapped.
    if (size_ > 0 && msync(data_, size_, MS_ASYNC) != 0) {
      std::fputs("the code under test unmapped the input's memory\n", stderr);
      std::abort();
    }
    std::free(data_);
  }
  PageAlignedInput(const PageAlignedInput&) = delete;
  PageAlignedInput& operator=(const PageAlignedInput&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// libFuzzer target for the safetensors reader (the header length, the JSON header, dtypes,
// shapes, data offsets and overlaps): any input must either be accepted or throw ds::Error,
// and an accepted file must be internally consistent: every tensor's byte count is its shape
// times its dtype size, and its data is aligned to its element size and lies either inside the
// input (no two tensors overlapping) or in the reader's aligned copy of a misaligned tensor.
// Build: see tests/fuzz/README.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "io/safetensors.h"
#include "page_aligned_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* input, size_t size) {
  const PageAlignedInput copy(input, size);
  const uint8_t* data = copy.data();
  try {
    const ds::TensorStore store = ds::TensorStore::from_memory(data, size, "fuzz");
    std::vector<std::pair<const uint8_t*, const uint8_t*>> inside;
    volatile uint8_t sink = 0;
    for (const auto& [name, t] : store.all()) {
      if (t == nullptr || t->name != name || store.find(name) != t) std::abort();
      const size_t el = ds::dtype_size(t->dtype);
      if (el == 0 || t->shape.size() > 8) std::abort();
      uint64_t n = 1;
      for (int64_t d : t->shape) {
        if (d < 0) std::abort();
        n *= uint64_t(d);
      }
      if (uint64_t(t->n_elements()) != n || t->n_bytes != n * el) std::abort();
      if (t->n_bytes == 0) continue;
      if (t->data == nullptr || reinterpret_cast<uintptr_t>(t->data) % el != 0) std::abort();
      const uint8_t* p = t->data;
      if (p >= data && p < data + size) {
        if (t->n_bytes > size_t(data + size - p)) std::abort();
        inside.push_back({p, p + t->n_bytes});
      }
      // Touch every byte: ASan reports a read past the input or the aligned copy.
      for (size_t i = 0; i < t->n_bytes; ++i) sink = sink ^ p[i];
    }
    std::sort(inside.begin(), inside.end());
    for (size_t i = 1; i < inside.size(); ++i)
      if (inside[i].first < inside[i - 1].second) std::abort();
  } catch (const ds::Error&) {
  }
  return 0;
}

// libFuzzer target for the GGUF reader: any input must either parse or throw ds::Error, and a
// parsed file must be internally consistent (every tensor's bytes lie inside the input). The
// typed getters are then called on every key: each either returns a value or throws ds::Error.
// Build: see tests/fuzz/README.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "io/gguf.h"
#include "page_aligned_input.h"

namespace {

// Calls fn, swallowing the ds::Error a getter throws on a type mismatch.
template <typename F>
void attempt(F&& fn) {
  try {
    fn();
  } catch (const ds::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* input, size_t size) {
  const PageAlignedInput copy(input, size);
  const uint8_t* data = copy.data();
  try {
    const ds::GgufFile f = ds::GgufFile::parse(data, size, "fuzz");
    volatile uint8_t sink = 0;
    for (const auto& t : f.tensors()) {
      if (f.find_tensor(t.name) != &t) std::abort();
      const ds::GgufTensor view = f.tensor(t.name);
      const uint8_t* p = view.data;
      if (view.n_bytes != t.n_bytes) std::abort();
      if (t.n_bytes > 0 && (p < data || p + t.n_bytes > data + size)) std::abort();
      // Touch the first and last byte: ASan reports a pointer outside the input.
      if (t.n_bytes > 0) sink = sink ^ p[0] ^ p[t.n_bytes - 1];
    }
    // Exercise the getters on whatever keys exist.
    for (const auto& kv : f.metadata()) {
      if (f.find(kv.key) != &kv.value) std::abort();
      const std::string& k = kv.key;
      attempt([&] { (void)f.get_u32(k); });
      attempt([&] { (void)f.get_i32(k); });
      attempt([&] { (void)f.get_u64(k); });
      attempt([&] { (void)f.get_i64(k); });
      attempt([&] { (void)f.get_f32(k); });
      attempt([&] { (void)f.get_bool(k); });
      attempt([&] { (void)f.get_string(k); });
      attempt([&] { (void)f.get_string_array(k); });
      attempt([&] { (void)f.get_array<int32_t>(k); });
      attempt([&] { (void)f.get_array<uint64_t>(k); });
      attempt([&] { (void)f.get_array<float>(k); });
      attempt([&] { (void)f.get_array<bool>(k); });
    }
  } catch (const ds::Error&) {
  }
  return 0;
}

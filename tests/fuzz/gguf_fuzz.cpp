// libFuzzer target for the GGUF reader: any input must either parse or throw ds::Error, and a
// parsed file must be internally consistent (every tensor's bytes lie inside the input).
// Build: see tests/fuzz/README.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "io/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const ds::GgufFile f = ds::GgufFile::parse(data, size, "fuzz");
    for (const auto& t : f.tensors()) {
      const uint8_t* p = f.tensor_data(t);
      if (t.n_bytes > 0 && (p < data || p + t.n_bytes > data + size)) std::abort();
    }
    // Exercise the getters on whatever keys exist.
    for (const auto& kv : f.metadata()) {
      try {
        (void)f.get_u64(kv.key);
      } catch (const ds::Error&) {
      }
      try {
        (void)f.get_string_array(kv.key);
      } catch (const ds::Error&) {
      }
    }
  } catch (const ds::Error&) {
  }
  return 0;
}

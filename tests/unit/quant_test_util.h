// Deterministic inputs shared by the quant tests (and by the recording of the golden hashes,
// which must build exactly the same data). Only integer ops and exact float ops: no libm, so
// the values are identical on every compiler and library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "quant/ggml_type.h"

namespace ds::quant_test {

/// FNV-1a 64 of a byte range.
inline uint64_t fnv1a(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

/// FNV-1a 64 of float values with every NaN made the same quiet NaN first: the NaN sign and
/// payload that random scale bytes produce depend on how the compiler lowered x * (+-1)
/// (multiply or sign flip), which is not a property of the format.
inline uint64_t hash_floats(const std::vector<float>& y) {
  std::vector<uint32_t> bits(y.size());
  for (size_t i = 0; i < y.size(); ++i) {
    std::memcpy(&bits[i], &y[i], 4);
    if ((bits[i] & 0x7fffffffu) > 0x7f800000u) bits[i] = 0x7fc00000u;
  }
  return fnv1a(bits.data(), 4 * bits.size());
}

/// 64-bit LCG (Knuth's MMIX constants); uniform() is exact: a 24-bit integer times 2^-24.
struct Lcg {
  uint64_t s;
  uint32_t next() {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return uint32_t(s >> 33);
  }
  float uniform() { return float(next() >> 7) * (1.0f / 16777216.0f); }
  /// Sum of four uniforms, centred: a bell shape with sd ~0.58 on [-2, 2).
  float bell() { return uniform() + uniform() + uniform() + uniform() - 2.0f; }
};

/// 16 super-blocks of structured data: plain, tiny (x0.01), sparse outliers (x16), offset
/// positive, and one all-zero block.
inline std::vector<float> golden_input() {
  Lcg r{12345};
  std::vector<float> x(256 * 16);
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t blk = i / 256;
    float v = r.bell();
    if (blk % 4 == 1) v *= 0.01f;
    if (blk % 4 == 2 && i % 37 == 0) v *= 16.0f;
    if (blk % 4 == 3) v = v * 0.5f + 0.75f;
    if (blk == 5) v = 0;
    x[i] = v;
  }
  return x;
}

/// Random block bytes for type `t` (scale fields included, so some are NaN/Inf halves: hash
/// the dequantised values with hash_floats()).
inline std::vector<uint8_t> golden_blocks(GgmlType t, int64_t n) {
  Lcg r{777 + uint64_t(t)};
  std::vector<uint8_t> q(ggml_row_bytes(t, n));
  for (auto& v : q) v = uint8_t(r.next());
  return q;
}

}  // namespace ds::quant_test

// Code-book grids of the low-bit i-quants (format data from ggml-common.h).
#pragma once

#include <cstdint>

namespace ds {

/// 8 unsigned magnitudes per entry (one byte each, element 0 lowest), IQ2_XXS.
extern const uint64_t kIq2xxsGrid[256];
/// As kIq2xxsGrid, 512 entries, IQ2_XS.
extern const uint64_t kIq2xsGrid[512];
/// As kIq2xxsGrid, 1024 entries, IQ2_S.
extern const uint64_t kIq2sGrid[1024];
/// 4 unsigned magnitudes per entry, IQ3_XXS.
extern const uint32_t kIq3xxsGrid[256];
/// 4 unsigned magnitudes per entry, IQ3_S.
extern const uint32_t kIq3sGrid[512];
/// 8 signed bytes in {-1, 0, 1} per entry, IQ1_S and IQ1_M.
extern const uint64_t kIq1sGrid[2048];

/// The +-1/8 shift IQ1_S / IQ1_M add to every grid value (ggml's IQ1S_DELTA).
inline constexpr float kIq1Delta = 0.125f;

/// Sign pattern for a 7-bit sign index: bit 7 makes the number of negative signs even
/// (ggml's ksigns_iq2xs table, which is exactly this parity rule).
constexpr uint8_t iq2_signs(uint32_t idx7) {
  const uint32_t v = idx7 & 127;
  uint32_t parity = 0;
  for (uint32_t b = v; b; b >>= 1) parity ^= b & 1;
  return uint8_t(v | (parity << 7));
}

}  // namespace ds

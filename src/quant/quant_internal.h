// Helpers shared by the reference quantisers (not part of the public API).
#pragma once

#include <cstdint>
#include <cstring>

#include "core/dtype.h"

namespace ds::quant_detail {

/// Groups whose largest magnitude is below this are stored as all-zero (ggml's GROUP_MAX_EPS).
inline constexpr float kGroupMaxEps = 1e-15f;

/// Round to nearest, ties to even, for |x| < 2^22: adding 1.5 * 2^23 leaves the rounded integer
/// in the low mantissa bits. Matches ggml's nearest_int bit for bit.
inline int nearest_int(float x) {
  float biased = x + 12582912.0f;
  int32_t bits;
  std::memcpy(&bits, &biased, 4);
  return (bits & 0x007fffff) - 0x00400000;
}

/// The 2-bit field of element i of a Q2_K / Q3_K super-block: element 128h + 32k + l lives in
/// byte 32h + l of qs at bits 2k.
inline int q2_at(const uint8_t* qs, int i) {
  return (qs[32 * (i / 128) + i % 32] >> (2 * ((i / 32) % 4))) & 3;
}

/// The unsigned 3-bit value u of element i of a Q3_K super-block (value u − 4): the 2-bit
/// field and, as bit 2, bit i / 32 of hmask[i % 32].
inline int q3_at(const uint8_t* qs, const uint8_t* hmask, int i) {
  return q2_at(qs, i) | (((hmask[i % 32] >> (i / 32)) & 1) << 2);
}

/// Half bits -> float, and float -> half -> float (the value a reader will see).
inline float half(uint16_t h) {
  return f16_to_f32(h);
}
inline float round_to_half(float f) {
  return f16_to_f32(f32_to_f16(f));
}

/// Reads a little-endian u32 from unaligned bytes.
inline uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

/// 6-bit (scale, min) pair `j` (0..7) of the 12-byte Q4_K/Q5_K scale field: pairs 0-3 sit in
/// the low 6 bits of bytes j and j+4; pairs 4-7 keep their low nibbles in byte j+4 and their
/// top 2 bits in the spare high bits of bytes j-4 (scale) and j (min).
inline void unpack_k4_scale_min(const uint8_t* q, int j, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = uint8_t((q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4));
    *min = uint8_t((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

/// Inverse of unpack_k4_scale_min for all 8 pairs (values must be < 64).
void pack_k4_scales_mins(const uint8_t* scales, const uint8_t* mins, uint8_t* q);

/// The 16 signed 6-bit Q3_K group scales (returned with the +32 offset removed).
void unpack_q3_k_scales(const uint8_t* packed, int8_t* scales);

/// Symmetric scale for `n` values onto integers [-nmax, nmax-1]: tries 19 candidate inverse
/// scales around nmax/max and keeps the one with the least x^2-weighted squared error
/// (ggml's make_qx_quants, rmse_type 1). L receives q + nmax. Returns the scale.
float search_symmetric_scale(int n, int nmax, const float* x, int8_t* L);

/// Symmetric scale for Q3_K groups: starts from nmax/max, then greedily moves single quants
/// while that lowers the x^2-weighted error (ggml's make_q3_quants with rmse). L gets q + nmax.
float refine_q3_scale(int n, int nmax, const float* x, int8_t* L);

/// Affine fit x ~ scale * L + min with L in [0, nmax], min <= 0: tries nstep+1 inverse scales
/// (nmax + rmin + rdelta*i) / (max - min) and solves weighted least squares for (scale, min)
/// at each (ggml's make_qkx2_quants). Returns scale; *neg_min receives -min.
float search_affine_scale_min(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                              float* neg_min, float rmin, float rdelta, int nstep, bool use_mad);

/// Index of the IQ4_NL code value nearest to x (ties go to the lower index).
int nearest_iq4nl_index(float x);

/// IQ4 scale search for one group of `n` values with weights `w`: tries scales that map the
/// group's signed max onto the code ends (-127 +- ntry), keeping the weighted-LS best. L gets
/// code indices for the returned scale's first estimate; callers re-derive them after rounding.
float search_iq4_scale(int n, const float* x, const float* w, uint8_t* L, int ntry);

}  // namespace ds::quant_detail

// Block layouts of the GGML quantisation formats, byte-compatible with ggml-common.h.
// All multi-byte fields are little-endian; `uint16_t` scale fields hold IEEE half bits.
#pragma once

#include <cstdint>

#include "quant/ggml_type.h"

namespace ds {

/// Q4_0: x = d * (q - 8), q in [0, 15]. qs[j] holds element j (low nibble) and j + 16 (high).
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK32 / 2];
};
static_assert(sizeof(BlockQ4_0) == 18);

/// Q4_1: x = d * q + m, q in [0, 15]; nibble order as Q4_0.
struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[kQK32 / 2];
};
static_assert(sizeof(BlockQ4_1) == 20);

/// Q5_0: x = d * (q - 16), q in [0, 31]; bit 4 of element j is bit j of the LE u32 qh.
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK32 / 2];
};
static_assert(sizeof(BlockQ5_0) == 22);

/// Q5_1: x = d * q + m, q in [0, 31]; bit layout as Q5_0.
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kQK32 / 2];
};
static_assert(sizeof(BlockQ5_1) == 24);

/// Q8_0: x = d * q, q in [-127, 127].
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK32];
};
static_assert(sizeof(BlockQ8_0) == 34);

/// Q8_1 (activations): as Q8_0 plus s = d * sum(qs), which folds the min term of Q4_1/Q5_1.
struct BlockQ8_1 {
  uint16_t d;
  uint16_t s;
  int8_t qs[kQK32];
};
static_assert(sizeof(BlockQ8_1) == 36);

/// Q2_K: 16 groups of 16; x = d * (scales[g] & 15) * q - dmin * (scales[g] >> 4), q in [0, 3].
/// qs: for each 128-element half h, byte 32h + l holds elements 128h + l + 32k at bits 2k.
struct BlockQ2_K {
  uint8_t scales[kQKK / 16];
  uint8_t qs[kQKK / 4];
  uint16_t d;
  uint16_t dmin;
};
static_assert(sizeof(BlockQ2_K) == 84);

/// Q3_K: 16 groups of 16; x = d * (s6[g] - 32) * (q - 4), q in [0, 7]. Low 2 bits in qs
/// (as Q2_K), bit 2 in hmask (element i: byte i % 32, bit i / 32), 6-bit scales packed in 12 bytes.
struct BlockQ3_K {
  uint8_t hmask[kQKK / 8];
  uint8_t qs[kQKK / 4];
  uint8_t scales[12];
  uint16_t d;
};
static_assert(sizeof(BlockQ3_K) == 110);

/// Q4_K: 8 groups of 32; x = d * sc[g] * q - dmin * mn[g], q in [0, 15], 6-bit sc/mn packed in
/// 12 bytes. qs: for each 64-element chunk c, byte 32c + l holds elements 64c + l (low nibble)
/// and 64c + 32 + l (high).
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[kQKK / 2];
};
static_assert(sizeof(BlockQ4_K) == 144);

/// Q5_K: as Q4_K with q in [0, 31]; bit 4 of element 64c + l (+32) is bit 2c (2c + 1) of qh[l].
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[kQKK / 8];
  uint8_t qs[kQKK / 2];
};
static_assert(sizeof(BlockQ5_K) == 176);

/// Q6_K: 16 groups of 16; x = d * scales[g] * (q - 32), q in [0, 63], signed 8-bit scales.
struct BlockQ6_K {
  uint8_t ql[kQKK / 2];
  uint8_t qh[kQKK / 4];
  int8_t scales[kQKK / 16];
  uint16_t d;
};
static_assert(sizeof(BlockQ6_K) == 210);

/// Q8_K (activations of the k-quant dot products): float scale, bsums = sums of 16 quants.
struct BlockQ8_K {
  float d;
  int8_t qs[kQKK];
  int16_t bsums[kQKK / 16];
};
static_assert(sizeof(BlockQ8_K) == 292);

/// IQ4_NL: x = d * kIq4nlValues[q]; nibble order as Q4_0.
struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[kQK32 / 2];
};
static_assert(sizeof(BlockIQ4_NL) == 18);

/// IQ4_XS: 8 groups of 32; x = d * (ls[g] - 32) * kIq4nlValues[q], ls 6 bits (low 4 in
/// scales_l, high 2 in scales_h); each group's 16 qs bytes are in IQ4_NL order.
struct BlockIQ4_XS {
  uint16_t d;
  uint16_t scales_h;
  uint8_t scales_l[kQKK / 64];
  uint8_t qs[kQKK / 2];
};
static_assert(sizeof(BlockIQ4_XS) == 136);

/// IQ2_XXS: per 32 elements two u32: 4 grid indices (8 bits each) and 4x7 sign bits + 4-bit scale.
struct BlockIQ2_XXS {
  uint16_t d;
  uint16_t qs[kQKK / 8];
};
static_assert(sizeof(BlockIQ2_XXS) == 66);

/// IQ2_XS: 9-bit grid index + 7-bit sign index per 8 elements, 4-bit scales per 16.
struct BlockIQ2_XS {
  uint16_t d;
  uint16_t qs[kQKK / 8];
  uint8_t scales[kQKK / 32];
};
static_assert(sizeof(BlockIQ2_XS) == 74);

/// IQ2_S: 10-bit grid index per 8 elements (low 8 in qs, high 2 in qh), explicit sign bytes.
struct BlockIQ2_S {
  uint16_t d;
  uint8_t qs[kQKK / 4];
  uint8_t qh[kQKK / 32];
  uint8_t scales[kQKK / 32];
};
static_assert(sizeof(BlockIQ2_S) == 82);

/// IQ3_XXS: 8-bit grid index per 4 elements; per 32 one u32 of 4x7 sign bits + 4-bit scale.
struct BlockIQ3_XXS {
  uint16_t d;
  uint8_t qs[3 * kQKK / 8];
};
static_assert(sizeof(BlockIQ3_XXS) == 98);

/// IQ3_S: 9-bit grid index per 4 elements, explicit signs, 4-bit scales per 32.
struct BlockIQ3_S {
  uint16_t d;
  uint8_t qs[kQKK / 4];
  uint8_t qh[kQKK / 32];
  uint8_t signs[kQKK / 8];
  uint8_t scales[kQKK / 64];
};
static_assert(sizeof(BlockIQ3_S) == 110);

/// IQ1_S: 11-bit grid index per 8 elements; qh holds 3 index bits x4, a 3-bit scale and a sign
/// for the +-1/8 shift per 32 elements.
struct BlockIQ1_S {
  uint16_t d;
  uint8_t qs[kQKK / 8];
  uint16_t qh[kQKK / 32];
};
static_assert(sizeof(BlockIQ1_S) == 50);

/// IQ1_M: as IQ1_S with a shift sign per 8 elements; the half super-scale is spread over the
/// top nibbles of the four u16 in `scales`.
struct BlockIQ1_M {
  uint8_t qs[kQKK / 8];
  uint8_t qh[kQKK / 16];
  uint8_t scales[kQKK / 32];
};
static_assert(sizeof(BlockIQ1_M) == 56);

/// The 16 IQ4_NL / IQ4_XS code values (ggml-common.h `kvalues_iq4nl`; format data).
inline constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

}  // namespace ds

// Scalar reference dot products of a weight row with an activation row, pairing formats as
// ggml's CPU backend does (Q4_0/Q5_0/Q8_0/IQ4_NL x Q8_0, Q4_1/Q5_1 x Q8_1, k-quants and
// IQ4_XS x Q8_K). Integer sums per block are exact; the float combination per block follows
// ggml's generic kernels, so optimised kernels can be held to a tight tolerance against these.
#include <cmath>

#include "core/error.h"
#include "quant/quant.h"
#include "quant/quant_internal.h"

namespace ds {

using quant_detail::half;

namespace {
int64_t blocks_of(int64_t n, int64_t qk) {
  DS_CHECK(n % qk == 0, "row of ", n, " elements is not a multiple of the block size ", qk);
  return n / qk;
}

// 5-bit quant j (0..31) of a Q5_0 / Q5_1 block.
int q5_at(const uint8_t* qs, uint32_t qh, int j) {
  const int lo = j < 16 ? (qs[j] & 0xf) : (qs[j - 16] >> 4);
  return lo | int(((qh >> j) & 1) << 4);
}

int nibble_at(const uint8_t* qs, int j) {
  return j < 16 ? (qs[j] & 0xf) : (qs[j - 16] >> 4);
}
}  // namespace

float vec_dot_f32(const void* x, const void* y, int64_t n) {
  const auto* a = static_cast<const float*>(x);
  const auto* b = static_cast<const float*>(y);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += double(a[i] * b[i]);
  return float(sum);
}

float vec_dot_f16(const void* x, const void* y, int64_t n) {
  const auto* a = static_cast<const uint16_t*>(x);
  const auto* b = static_cast<const uint16_t*>(y);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += double(f16_to_f32(a[i]) * f16_to_f32(b[i]));
  return float(sum);
}

float vec_dot_bf16(const void* x, const void* y, int64_t n) {
  const auto* a = static_cast<const uint16_t*>(x);
  const auto* b = static_cast<const uint16_t*>(y);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += double(bf16_to_f32(a[i]) * bf16_to_f32(b[i]));
  return float(sum);
}

float vec_dot_q4_0_q8_0(const void* x, const void* y, int64_t n) {
  const auto* a = static_cast<const BlockQ4_0*>(x);
  const auto* b = static_cast<const BlockQ8_0*>(y);
  float sum = 0;
  for (int64_t i = 0, nb = blocks_of(n, kQK32); i < nb; ++i) {
    int sumi = 0;
    for (int j = 0; j < 32; ++j) sumi += (nibble_at(a[i].qs, j) - 8) * b[i].qs[j];
    sum += float(sumi) * half(a[i].d) * half(b[i].d);
  }
  return sum;
}

float vec_dot_q4_1_q8_1(const void* x, const void* y, int64_t n) {
  const auto* a = static_cast<const BlockQ4_1*>(x);
  const auto* b = static_cast<const BlockQ8_1*>(y);
  float sum = 0;
  for (int64_t i = 0, nb = blocks_of(n, kQK32); i < nb; ++i) {
    int sumi = 0;
    for (int j = 0; j < 32; ++j) sumi += nibble_at(a[i].qs, j) * b[i].qs[j];
    // sum (d*q + m) * dy*qy = d*dy*sumi + m * (dy * sum qy); the last factor is Q8_1's s.
    sum += (half(a[i].d) * half(b[i].d)) * float(sumi) + half(a[i].m) * half(b[i].s);
  }
  return sum;
}

float vec_dot_q5_0_q8_0(const void* x, const void* y, int64_t n) {
  const auto* a = static_cast<const BlockQ5_0*>(x);
  const auto* b = static_cast<const BlockQ8_0*>(y);
  float sum = 0;
  for (int64_t i = 0, nb = blocks_of(n, kQK32); i < nb; ++i) {
    const uint32_t qh = quant_detail::load_u32(a[i].qh);
    int sumi = 0;
    for (int j = 0; j < 32; ++j) sumi += (q5_at(a[i].qs, qh, j) - 16) * b[i].qs[j];
    sum += float(sumi) * half(a[i].d) * half(b[i].d);
  }
  return sum;
}

float vec_dot_q5_1_q8_1(const void* x, const void* y, int64_t n) {
  const auto* a = static_cast<const BlockQ5_1*>(x);
  const auto* b = static_cast<const BlockQ8_1*>(y);
  float sum = 0;
  for (int64_t i = 0, nb = blocks_of(n, kQK32); i < nb; ++i) {
    const uint32_t qh = quant_detail::load_u32(a[i].qh);
    int sumi = 0;
    for (int j = 0; j < 32; ++j) sumi += q5_at(a[i].qs, qh, j) * b[i].qs[j];
    sum += (half(a[i].d) * half(b[i].d)) * float(sumi) + half(a[i].m) * half(b[i].s);
  }
  return sum;
}

float vec_dot_q8_0_q8_0(const void* x, const void* y, int64_t n) {
  const auto* a = static_cast<const BlockQ8_0*>(x);
  const auto* b = static_cast<const BlockQ8_0*>(y);
  float sum = 0;
  for (int64_t i = 0, nb = blocks_of(n, kQK32); i < nb; ++i) {
    int sumi = 0;
    for (int j = 0; j < 32; ++j) sumi += a[i].qs[j] * b[i].qs[j];
    sum += float(sumi) * (half(a[i].d) * half(b[i].d));
  }
  return sum;
}

float vec_dot_iq4_nl_q8_0(const void* x, const void* y, int64_t n) {
  const auto* a = static_cast<const BlockIQ4_NL*>(x);
  const auto* b = static_cast<const BlockQ8_0*>(y);
  float sum = 0;
  for (int64_t i = 0, nb = blocks_of(n, kQK32); i < nb; ++i) {
    int sumi = 0;
    for (int j = 0; j < 32; ++j) sumi += kIq4nlValues[nibble_at(a[i].qs, j)] * b[i].qs[j];
    sum += (half(a[i].d) * half(b[i].d)) * float(sumi);
  }
  return sum;
}

float vec_dot_q2_K_q8_K(const void* x, const void* y, int64_t n) {
  const auto* a = static_cast<const BlockQ2_K*>(x);
  const auto* b = static_cast<const BlockQ8_K*>(y);
  float sum = 0;
  for (int64_t i = 0, nb = blocks_of(n, kQKK); i < nb; ++i) {
    // x = d*sc*q - dmin*m per group of 16; the min term only needs the Q8_K group sums.
    int sum_mins = 0, sumi = 0;
    for (int g = 0; g < 16; ++g) {
      const uint8_t sc = a[i].scales[g];
      sum_mins += (sc >> 4) * b[i].bsums[g];
      int gs = 0;
      for (int l = 0; l < 16; ++l) {
        const int e = 16 * g + l;
        gs += quant_detail::q2_at(a[i].qs, e) * b[i].qs[e];
      }
      sumi += (sc & 0xf) * gs;
    }
    const float dall = b[i].d * half(a[i].d), dmin = b[i].d * half(a[i].dmin);
    sum += dall * float(sumi) - dmin * float(sum_mins);
  }
  return sum;
}

float vec_dot_q3_K_q8_K(const void* x, const void* y, int64_t n) {
  const auto* a = static_cast<const BlockQ3_K*>(x);
  const auto* b = static_cast<const BlockQ8_K*>(y);
  float sum = 0;
  for (int64_t i = 0, nb = blocks_of(n, kQKK); i < nb; ++i) {
    int8_t sc[16];
    quant_detail::unpack_q3_k_scales(a[i].scales, sc);
    int sumi = 0;
    for (int g = 0; g < 16; ++g) {
      int gs = 0;
      for (int l = 0; l < 16; ++l) {
        const int e = 16 * g + l;
        gs += (quant_detail::q3_at(a[i].qs, a[i].hmask, e) - 4) * b[i].qs[e];
      }
      sumi += sc[g] * gs;
    }
    sum += half(a[i].d) * b[i].d * float(sumi);
  }
  return sum;
}

namespace {
// Q4_K and Q5_K share scales and the min term; `quant` reads element e's quant.
template <typename Block, typename QuantAt>
float dot_k4_family(const Block* a, const BlockQ8_K* b, int64_t nb, QuantAt quant) {
  float sum = 0;
  for (int64_t i = 0; i < nb; ++i) {
    int sumi = 0, sum_mins = 0;
    for (int g = 0; g < 8; ++g) {
      uint8_t sc, m;
      quant_detail::unpack_k4_scale_min(a[i].scales, g, &sc, &m);
      sum_mins += m * (b[i].bsums[2 * g] + b[i].bsums[2 * g + 1]);
      int gs = 0;
      for (int l = 0; l < 32; ++l) gs += quant(a[i], g, l) * b[i].qs[32 * g + l];
      sumi += sc * gs;
    }
    const float d = half(a[i].d) * b[i].d, dmin = half(a[i].dmin) * b[i].d;
    sum += d * float(sumi) - dmin * float(sum_mins);
  }
  return sum;
}
}  // namespace

float vec_dot_q4_K_q8_K(const void* x, const void* y, int64_t n) {
  return dot_k4_family(static_cast<const BlockQ4_K*>(x), static_cast<const BlockQ8_K*>(y),
                       blocks_of(n, kQKK), [](const BlockQ4_K& blk, int g, int l) {
                         return (blk.qs[32 * (g / 2) + l] >> (4 * (g % 2))) & 0xf;
                       });
}

float vec_dot_q5_K_q8_K(const void* x, const void* y, int64_t n) {
  return dot_k4_family(static_cast<const BlockQ5_K*>(x), static_cast<const BlockQ8_K*>(y),
                       blocks_of(n, kQKK), [](const BlockQ5_K& blk, int g, int l) {
                         return ((blk.qs[32 * (g / 2) + l] >> (4 * (g % 2))) & 0xf) |
                                (((blk.qh[l] >> g) & 1) << 4);
                       });
}

float vec_dot_q6_K_q8_K(const void* x, const void* y, int64_t n) {
  const auto* a = static_cast<const BlockQ6_K*>(x);
  const auto* b = static_cast<const BlockQ8_K*>(y);
  float sum = 0;
  for (int64_t i = 0, nb = blocks_of(n, kQKK); i < nb; ++i) {
    int sumi = 0;
    for (int g = 0; g < 16; ++g) {
      int gs = 0;
      for (int l = 0; l < 16; ++l) {
        const int e = 16 * g + l, h = e / 128, r = e % 128, p = r % 32, k = r / 32;
        const int lo = (a[i].ql[64 * h + p + 32 * (k % 2)] >> (4 * (k / 2))) & 0xf;
        const int hi = (a[i].qh[32 * h + p] >> (2 * k)) & 3;
        gs += ((lo | (hi << 4)) - 32) * b[i].qs[e];
      }
      sumi += a[i].scales[g] * gs;
    }
    sum += half(a[i].d) * b[i].d * float(sumi);
  }
  return sum;
}

float vec_dot_iq4_xs_q8_K(const void* x, const void* y, int64_t n) {
  const auto* a = static_cast<const BlockIQ4_XS*>(x);
  const auto* b = static_cast<const BlockQ8_K*>(y);
  float sum = 0;
  for (int64_t i = 0, nb = blocks_of(n, kQKK); i < nb; ++i) {
    int sumi = 0;
    for (int g = 0; g < 8; ++g) {
      const int ls =
          ((a[i].scales_l[g / 2] >> (4 * (g % 2))) & 0xf) | (((a[i].scales_h >> (2 * g)) & 3) << 4);
      int gs = 0;
      for (int l = 0; l < 32; ++l)
        gs += kIq4nlValues[nibble_at(a[i].qs + 16 * g, l)] * b[i].qs[32 * g + l];
      sumi += (ls - 32) * gs;
    }
    sum += half(a[i].d) * b[i].d * float(sumi);
  }
  return sum;
}

}  // namespace ds

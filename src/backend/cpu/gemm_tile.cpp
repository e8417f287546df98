// Portable parts of the integer GEMM path (gemm_tile.h): activation quantisation and the
// reference tile kernel.
#include "backend/cpu/gemm_tile.h"

#include <cmath>
#include <cstring>

namespace ds {

void quantize_act_tile(const float* x, int64_t cols, uint8_t* dst) {
  const int64_t nb = cols / 32;
  auto* q = reinterpret_cast<int8_t*>(dst);
  float* d = reinterpret_cast<float*>(dst + cols);
  float* ds = d + nb;
  for (int64_t k = 0; k < nb; ++k) {
    const float* xb = x + 32 * k;
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::fmax(amax, std::fabs(xb[i]));
    const float dk = amax / 127.0f, id = dk > 0 ? 127.0f / amax : 0.0f;
    int sum = 0;
    for (int i = 0; i < 32; ++i) {
      // Round half to even by the 1.5·2^23 trick (|x·id| ≤ 127), which vectorises.
      const float biased = xb[i] * id + 12582912.0f;
      int32_t bits;
      std::memcpy(&bits, &biased, 4);
      const int v = (bits & 0x007fffff) - 0x00400000;
      q[32 * k + i] = int8_t(v);
      sum += v;
    }
    d[k] = dk;
    ds[k] = dk * float(sum);
  }
}

void gemm_tile_ref(const uint8_t* tile, int64_t nb, const uint8_t* act, int64_t act_stride, int nt,
                   float* out) {
  const int64_t cols = nb * 32;
  for (int t = 0; t < nt; ++t) {
    const uint8_t* at = act + t * act_stride;
    const auto* q = reinterpret_cast<const int8_t*>(at);
    float d[1], ds[1];
    float acc[kTileRows] = {};
    for (int64_t k = 0; k < nb; ++k) {
      const uint8_t* tb = tile + size_t(k) * kTileBlockBytes;
      std::memcpy(d, at + cols + 4 * k, 4);
      std::memcpy(ds, at + cols + 4 * (nb + k), 4);
      float s[kTileRows], o[kTileRows];
      std::memcpy(s, tb + 512, sizeof s);
      std::memcpy(o, tb + 512 + sizeof s, sizeof o);
      for (int r = 0; r < kTileRows; ++r) {
        int32_t sum = 0;
        for (int g = 0; g < 8; ++g)
          for (int b = 0; b < 4; ++b)
            sum += int32_t(tb[64 * g + 4 * r + b]) * int32_t(q[32 * k + 4 * g + b]);
        acc[r] = std::fma(float(sum), s[r] * d[0], acc[r]);
        acc[r] = std::fma(-o[r], ds[0], acc[r]);
      }
    }
    std::memcpy(out + t * kTileRows, acc, sizeof acc);
  }
}

void group_act_tile(const uint8_t* row, int64_t cols, int slot, uint8_t* group) {
  const int64_t nb = cols / 32;
  for (int64_t k = 0; k < nb; ++k) {
    uint8_t* gb = group + size_t(k) * kActGroupBlockBytes;
    std::memcpy(gb + 32 * slot, row + 32 * k, 32);
    std::memcpy(gb + 32 * kActGroup + 4 * slot, row + cols + 4 * k, 4);
    std::memcpy(gb + 36 * kActGroup + 4 * slot, row + cols + 4 * (nb + k), 4);
  }
}

void clear_act_group_slots(int64_t cols, int first, uint8_t* group) {
  if (first >= kActGroup) return;
  const int n = kActGroup - first;
  for (int64_t k = 0; k < cols / 32; ++k) {
    uint8_t* gb = group + size_t(k) * kActGroupBlockBytes;
    std::memset(gb + 32 * first, 0, size_t(32 * n));
    std::memset(gb + 32 * kActGroup + 4 * first, 0, size_t(4 * n));
    std::memset(gb + 36 * kActGroup + 4 * first, 0, size_t(4 * n));
  }
}

bool gemm_tile_unpack_none(GgmlType, int, const uint8_t*, size_t, int, int64_t, uint8_t*) {
  return false;
}

}  // namespace ds

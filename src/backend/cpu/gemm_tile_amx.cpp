// AMX kernel of the integer GEMM path (gemm_tile.h), and the "amx" kernel table: the AVX-512
// table with this kernel for tiles of many tokens.
//
// One block of a weight tile (8 groups × 64 bytes: 4 bytes of each of 16 rows per group) is
// exactly an AMX B tile of 8 rows × 64 bytes, and 16 tokens' 32 activation bytes of that
// block, in the grouped activation layout (gemm_tile.h), are an A tile of 16 rows × 32 bytes.
// One TDPBSUD (signed activations × unsigned weights) then gives the exact 32-bit sums Σu·q of
// 16 tokens × 16 rows, which AVX-512 scales exactly as the VNNI kernel does:
//   acc = fma(float(Σu·q), s·d, acc); acc = fma(−o, d·Σq, acc)
// so every result is bit-identical to gemm_tile_ref. Two pairs of sum tiles alternate so that
// the matrix unit could multiply one pair while the vector unit scales the other; on the
// machine measured in docs/PERFORMANCE.md ("AMX tiles for prompts") the two do not overlap,
// and a block and 16 tokens cost the tile work plus the scaling (4 vector operations per
// token), against 12 operations per token with vpdpbusd.
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "backend/cpu/amx_tiles.h"
#include "backend/cpu/gemm_tile.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/row_dot.h"

namespace ds {

namespace amx {

ConfigId& loaded_config() {
  thread_local ConfigId id = kNoConfig;
  return id;
}

namespace {

// The one configuration of the kernel. tmm0–tmm3: 32-bit sums of 16 tokens × 16 rows, two
// pairs of blocks in flight; tmm4, tmm5: a pair's activations, 16 tokens × 32 bytes; tmm6,
// tmm7: its weight blocks, 8 × 64 bytes.

void configure() {
  if (loaded_config() == kGemmConfig) return;
  TileConfig c;
  std::memset(&c, 0, sizeof c);
  c.palette = 1;
  for (int i = 0; i < 8; ++i) {
    c.rows[i] = i < 6 ? kActGroup : 8;
    c.colsb[i] = i == 4 || i == 5 ? 32 : 64;
  }
  load_config(c);
  loaded_config() = kGemmConfig;
}

// Sums of blocks k and k + 1 into tiles CA and CB. (A macro: the tile intrinsics paste
// their register numbers into the instruction text, so they must be literals.)
#define DS_AMX_MULTIPLY_PAIR(CA, CB, k)                           \
  do {                                                            \
    const uint8_t* tb_ = tile + size_t(k) * kTileBlockBytes;      \
    const uint8_t* ab_ = group + size_t(k) * kActGroupBlockBytes; \
    _tile_zero(CA);                                               \
    _tile_loadd(4, ab_, 32);                                      \
    _tile_loadd(6, tb_, 64);                                      \
    _tile_dpbsud(CA, 4, 6);                                       \
    _tile_zero(CB);                                               \
    _tile_loadd(5, ab_ + kActGroupBlockBytes, 32);                \
    _tile_loadd(7, tb_ + kTileBlockBytes, 64);                    \
    _tile_dpbsud(CB, 5, 7);                                       \
  } while (0)

// acc[t] += the scaled sums of block k held in `sums` (token t's 16 rows at 16·t).
[[gnu::always_inline]] inline void scale_block(__m512 (&acc)[kActGroup], const int32_t* sums,
                                               const uint8_t* tile, const uint8_t* group,
                                               int64_t k) {
  const uint8_t* tb = tile + size_t(k) * kTileBlockBytes;
  const float* d =
      reinterpret_cast<const float*>(group + size_t(k) * kActGroupBlockBytes + 32 * kActGroup);
  const __m512 s = _mm512_load_ps(reinterpret_cast<const float*>(tb + 512));
  const __m512 o = _mm512_load_ps(reinterpret_cast<const float*>(tb + 512 + 4 * kTileRows));
  DS_UNROLL for (int t = 0; t < kActGroup; ++t) {
    const __m512 f = _mm512_cvtepi32_ps(_mm512_load_si512(sums + 16 * t));
    acc[t] = _mm512_fmadd_ps(f, _mm512_mul_ps(s, _mm512_set1_ps(d[t])), acc[t]);
    acc[t] = _mm512_fnmadd_ps(o, _mm512_set1_ps(d[kActGroup + t]), acc[t]);
  }
}

// One group of (up to) 16 tokens against the whole tile; y[t·ys + r] for t < m, r < nr.
// `lines` cache lines from `pf` are prefetched into L2, a share per pair of blocks.
void token_group(const uint8_t* tile, int64_t nb, const uint8_t* group, int m, int nr, float* y,
                 int64_t ys, const uint8_t* pf, int64_t lines) {
  alignas(64) int32_t sums[2][16 * kTileRows], sums_y[2][16 * kTileRows];
  __m512 acc[kActGroup];
  DS_UNROLL for (int t = 0; t < kActGroup; ++t) acc[t] = _mm512_setzero_ps();
  // Over pairs of blocks: one pair is multiplied into one half of the sum tiles while the
  // pair stored from the other half is scaled (see the top of the file).
#define DS_AMX_SCALE_PAIR(s, k)                   \
  do {                                            \
    scale_block(acc, s[0], tile, group, k);       \
    scale_block(acc, s[1], tile, group, (k) + 1); \
  } while (0)
  const int64_t pairs = nb / 2;
  if (pairs > 0) {
    DS_AMX_MULTIPLY_PAIR(0, 1, 0);
    _tile_stored(0, sums[0], 64);
    _tile_stored(1, sums[1], 64);
  }
  const int64_t step = pairs > 1 ? (lines + pairs - 2) / (pairs - 1) : lines;
  auto fetch = [&] {
    for (int64_t i = 0; i < step && lines > 0; ++i, --lines, pf += 64)
      _mm_prefetch(pf, _MM_HINT_T1);
  };
  int64_t p = 1;
  for (; p + 1 < pairs; p += 2) {
    fetch();
    DS_AMX_MULTIPLY_PAIR(2, 3, 2 * p);
    DS_AMX_SCALE_PAIR(sums, 2 * p - 2);
    _tile_stored(2, sums_y[0], 64);
    _tile_stored(3, sums_y[1], 64);
    DS_AMX_MULTIPLY_PAIR(0, 1, 2 * p + 2);
    DS_AMX_SCALE_PAIR(sums_y, 2 * p);
    fetch();
    _tile_stored(0, sums[0], 64);
    _tile_stored(1, sums[1], 64);
  }
  while (lines > 0) fetch();
  if (p < pairs) {  // one pair left after the stored one
    DS_AMX_MULTIPLY_PAIR(2, 3, 2 * p);
    DS_AMX_SCALE_PAIR(sums, 2 * p - 2);
    _tile_stored(2, sums_y[0], 64);
    _tile_stored(3, sums_y[1], 64);
    DS_AMX_SCALE_PAIR(sums_y, 2 * p);
  } else if (pairs > 0) {
    DS_AMX_SCALE_PAIR(sums, 2 * p - 2);
  }
  if (nb % 2) {  // the last block alone
    const int64_t k = nb - 1;
    _tile_zero(0);
    _tile_loadd(4, group + size_t(k) * kActGroupBlockBytes, 32);
    _tile_loadd(6, tile + size_t(k) * kTileBlockBytes, 64);
    _tile_dpbsud(0, 4, 6);
    _tile_stored(0, sums[0], 64);
    scale_block(acc, sums[0], tile, group, k);
  }
  const __mmask16 keep = __mmask16((1u << nr) - 1);
  DS_UNROLL for (int t = 0; t < kActGroup; ++t) if (t < m)
      _mm512_mask_storeu_ps(y + t * ys, keep, acc[t]);
}

#undef DS_AMX_MULTIPLY_PAIR
#undef DS_AMX_SCALE_PAIR

}  // namespace

void gemm_tile_rows(const uint8_t* tile, int64_t nb, const uint8_t* groups, int64_t n, int nr,
                    float* y, int64_t y_stride, const uint8_t* prefetch, size_t prefetch_bytes) {
  configure();
  const size_t gb = size_t(nb) * kActGroupBlockBytes;
  const int64_t ngroups = (n + kActGroup - 1) / kActGroup;
  const int64_t lines = int64_t(prefetch_bytes + 63) / 64;
  const int64_t per_group = (lines + ngroups - 1) / ngroups;
  for (int64_t g = 0; g < ngroups; ++g) {
    const int64_t t0 = g * kActGroup;
    const int64_t first = std::min(lines, g * per_group);
    token_group(tile, nb, groups + size_t(g) * gb, int(std::min<int64_t>(kActGroup, n - t0)), nr,
                y + t0 * y_stride, y_stride, prefetch + 64 * first,
                std::min(lines, first + per_group) - first);
  }
}

// TDPBSUD on full 16 × 64-byte tiles, four independent sums.
double int8_loop(int64_t iters) {
  use_full_tiles();
  alignas(64) static const int8_t ones[16 * 64] = {1};
  _tile_loadd(4, ones, 64);
  _tile_loadd(5, ones, 64);
  _tile_loadd(6, ones, 64);
  _tile_loadd(7, ones, 64);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int64_t it = 0; it < iters; ++it) {
    _tile_dpbsud(0, 4, 6);
    _tile_dpbsud(1, 4, 7);
    _tile_dpbsud(2, 5, 6);
    _tile_dpbsud(3, 5, 7);
  }
  alignas(64) int32_t out[16 * 16];
  _tile_stored(0, out, 64);
  volatile int32_t sink = out[0];
  (void)sink;
  return double(iters) * 4 * 16 * 16 * 64 * 2;
}

}  // namespace amx

bool amx_enable() {
#if defined(__linux__)
  // Linux hands out the AMX tile state only to processes that ask for it (arch_prctl
  // ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA); without it the first tile instruction faults.
  constexpr long kReqXcompPerm = 0x1023, kXtileData = 18;
  return syscall(SYS_arch_prctl, kReqXcompPerm, kXtileData) == 0;
#else
  return false;
#endif
}

const CpuKernels& kernels_amx() {
  static const CpuKernels k = [] {
    CpuKernels t = kernels_avx512();
    t.isa = Isa::kAmx;
    t.name = "amx";
    t.gemm_tile_rows = amx::gemm_tile_rows;
    t.int8_loop = amx::int8_loop;
    if (cpu_has_amx_bf16()) {
      t.attend_bf16 = amx::attend_bf16;
      t.split_act_bf16 = amx::split_act_bf16;
      t.clear_act_bf16 = amx::clear_act_bf16;
      t.gemm_bf16_rows = amx::gemm_bf16_rows;
      t.gemm_fp8_rows = amx::gemm_fp8_rows;
    }
    return t;
  }();
  return k;
}

}  // namespace ds

// What the AMX kernels (gemm_tile_amx.cpp, attn_amx.cpp) share: the tile configuration and
// which one this thread has loaded. Included only by files compiled with the AMX flags.
#pragma once

#include <cstdint>

namespace ds::amx {

/// The 64-byte operand of LDTILECFG (palette 1).
struct alignas(64) TileConfig {
  uint8_t palette;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

/// LDTILECFG with the whole 64-byte operand as the asm's input: GCC 12's _tile_loadconfig
/// names only its first 8 bytes, so the compiler dropped the stores of the rest.
inline void load_config(const TileConfig& c) {
  __asm__ volatile("ldtilecfg %0" : : "m"(c));
}

/// The configurations of the kernels; each kernel reloads its own when this thread last
/// loaded another (loaded_config()).
enum ConfigId : int { kNoConfig = 0, kGemmConfig = 1, kFullTilesConfig = 2 };

/// The configuration this thread last loaded (defined in gemm_tile_amx.cpp).
ConfigId& loaded_config();

/// Loads the configuration with all eight tiles at their largest, 16 rows of 64 bytes (the
/// attention kernel, the peak loop), unless this thread has it loaded already.
inline void use_full_tiles() {
  if (loaded_config() == kFullTilesConfig) return;
  TileConfig c{};
  c.palette = 1;
  for (int i = 0; i < 8; ++i) {
    c.rows[i] = 16;
    c.colsb[i] = 64;
  }
  load_config(c);
  loaded_config() = kFullTilesConfig;
}

/// CpuKernels::attend_bf16 on the tiles (attn_amx.cpp); needs AMX-BF16.
void attend_bf16(const float* q, int64_t nh, const uint16_t* kv, int64_t w, int64_t r, int64_t len,
                 float scale, float* u, float* mx, float* sum);

/// CpuKernels::split_act_bf16, clear_act_bf16 and gemm_bf16_rows on the tiles
/// (gemm_bf16_amx.cpp); need AMX-BF16.
void split_act_bf16(const float* x, int64_t cols, int64_t t, uint16_t* act);
void clear_act_bf16(int64_t cols, int64_t n, uint16_t* act);
void gemm_bf16_rows(const uint16_t* w, int64_t ws, int nr, const uint16_t* act, int64_t n,
                    int64_t cols, float* y, int64_t ys, const uint16_t* next);
void gemm_fp8_rows(const uint8_t* w, int64_t ws, int nr, const float* const* scales, int64_t block,
                   const uint16_t* act, int64_t n, int64_t cols, float* y, int64_t ys,
                   const uint8_t* next);

}  // namespace ds::amx

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>

#include "backend/cpu/kernels.h"
#include "core/error.h"
#include "ops/ops.h"
#include "ops/qtile.h"
#include "quant/blocks.h"
#include "quant/ggml_type.h"
#include "quant/quant.h"
#include "runtime/thread_pool.h"

namespace ds {

WeightView WeightView::row_slice(int64_t r0, int64_t n) const {
  DS_CHECK(r0 >= 0 && n >= 0 && r0 + n <= rows, "row slice out of range");
  WeightView v = *this;
  v.data = static_cast<const uint8_t*>(data) + size_t(r0) * row_bytes();
  v.rows = n;
  v.row0 = row0 + r0;
  return v;
}

size_t WeightView::n_bytes() const {
  size_t b = size_t(rows) * row_bytes();
  if (scale_inv) b += size_t((rows + block_rows - 1) / block_rows) * size_t(scale_cols) * 4;
  return b;
}

void dequantize_row(const WeightView& w, int64_t r, float* dst) {
  const CpuKernels& k = cpu_kernels();
  const uint8_t* row = static_cast<const uint8_t*>(w.data) + size_t(r) * w.row_bytes();
  switch (w.dtype) {
    case DType::F32:
      std::copy_n(reinterpret_cast<const float*>(row), w.cols, dst);
      return;
    case DType::BF16:
      k.bf16_to_f32(reinterpret_cast<const uint16_t*>(row), dst, w.cols);
      return;
    case DType::F16:
      k.f16_to_f32(reinterpret_cast<const uint16_t*>(row), dst, w.cols);
      return;
    case DType::F8_E4M3: {
      const float* scales = w.scale_inv + ((w.row0 + r) / w.block_rows) * w.scale_cols;
      k.fp8_to_f32(row, dst, w.cols, scales, w.block_cols);
      return;
    }
    default: {
      // GGML block types (GGUF weights): the reference dequantiser of the type.
      GgmlType gt;
      const QuantTraits* q = dtype_to_ggml_type(w.dtype, &gt) ? quant_traits(gt) : nullptr;
      if (q && q->dequantize) {
        q->dequantize(row, dst, w.cols);
        return;
      }
      break;
    }
  }
  DS_CHECK(false, "dequantize_row: unsupported dtype ", dtype_name(w.dtype));
}

namespace {

// Rows dequantised together by the fallback path: the tile (kDequantRows × cols floats) stays in
// L1/L2 while every token of the batch is multiplied with it.
constexpr int64_t kDequantRows = 8;
// Rows swept by the fused path before moving to the next block of tokens: the block's
// activations stay in L1 while the weight rows stream past them (see docs/PERFORMANCE.md).
constexpr int64_t kRowBlock = 16;

std::vector<float>& scratch(size_t n) {
  thread_local std::vector<float> buf;
  if (buf.size() < n) buf.resize(n);
  return buf;
}

// 64-byte aligned per-thread buffer for the integer path's weight tile and unpacked row.
uint8_t* tile_scratch(size_t n) {
  thread_local std::vector<uint8_t> buf;
  if (buf.size() < n + 64) buf.resize(n + 64);
  const auto p = reinterpret_cast<uintptr_t>(buf.data());
  return buf.data() + ((64 - p % 64) % 64);
}

// One token's activations in the tile row layout, before grouping.
std::vector<uint8_t>& tile_row_scratch(size_t n) {
  thread_local std::vector<uint8_t> buf;
  if (buf.size() < n) buf.resize(n);
  return buf;
}

// Quantised activations of one matmul (the caller's thread owns them; pool workers only read).
std::vector<uint8_t>& act_scratch(size_t n) {
  thread_local std::vector<uint8_t> buf;
  if (buf.size() < n) buf.resize(n);
  return buf;
}

using RowDotFn = void (*)(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,
                          float* y);

// How one matmul runs, chosen once per call from the weight dtype (no dtype switch in the
// row loop).
struct MatmulPlan {
  enum class Path {
    kF32,
    kBf16,
    kF16,
    kFp8,
    kBf16Tile,
    kFp8Tile,
    kQuant,
    kTile,
    kDequant
  } path = Path::kDequant;
  RowDotFn row_dot = nullptr;            // kQuant: weight row · quantised activation rows
  QuantizeRowFn quantize_act = nullptr;  // kQuant: f32 activation row -> vec_dot_type
  size_t act_row_bytes = 0;              // kQuant, kTile: bytes of one activation row
  TileRowUnpackFn unpack = nullptr;      // kTile: weight row -> tile values
  GemmTileFn tile_fn = nullptr;          // kTile: the tile kernel for the format's u
  bool grouped = false;    // kTile: activations in groups of kActGroup tokens (gemm_tile_rows)
  int col_factor = 1;      // kTile: tile columns per matrix column (tile_col_factor)
  bool half_sums = false;  // kTile: expanded activations' sums per half (tile_half_sums)
};

// Bytes of n tokens' activations in the plan's layout.
size_t act_bytes(const MatmulPlan& p, int64_t cols, int64_t n) {
  if (p.path == MatmulPlan::Path::kBf16Tile ||
      p.path == MatmulPlan::Path::kFp8Tile)  // groups of 16 tokens × 3 pieces × cols bf16
    return size_t((n + 15) / 16) * size_t(cols) * 3 * 16 * 2;
  if (p.grouped)
    return size_t((n + kActGroup - 1) / kActGroup) * tile_act_group_bytes(cols * p.col_factor);
  return size_t(n) * p.act_row_bytes;
}

// From this many tokens on, unpacking a tile of weights once and running the integer GEMM
// kernel over all tokens beats the row-dot kernels, which re-unpack every weight row for each
// group of kMaxRowTokens tokens (measured: docs/PERFORMANCE.md, "Integer GEMM tiles").
std::atomic<int64_t> g_tile_min_tokens{kDefaultTileMinTokens};
std::atomic<int64_t> g_bf16_tile_min_tokens{kDefaultBf16TileMinTokens};

// The per-row plan: a fused row-dot kernel, or dequantisation to f32.
MatmulPlan row_plan_for(const WeightView& w, const CpuKernels& k) {
  MatmulPlan p;
  switch (w.dtype) {
    case DType::F32:
      p.path = MatmulPlan::Path::kF32;
      return p;
    case DType::BF16:
      p.path = MatmulPlan::Path::kBf16;
      return p;
    case DType::F16:
      if (k.dot_f16_f32) p.path = MatmulPlan::Path::kF16;
      return p;
    default:
      break;
  }
  GgmlType gt;
  if (!dtype_to_ggml_type(w.dtype, &gt)) return p;
  switch (gt) {
    case GgmlType::Q8_0:
      p.row_dot = k.vec_dot_q8_0_q8_0;
      break;
    case GgmlType::Q5_0:
      p.row_dot = k.vec_dot_q5_0_q8_0;
      break;
    case GgmlType::Q4_K:
      p.row_dot = k.vec_dot_q4_K_q8_K;
      p.path = MatmulPlan::Path::kQuant;
      p.quantize_act = k.quantize_act_q4_K;  // the order this ISA's kernel reads
      p.act_row_bytes = size_t(w.cols / kQKK) * sizeof(BlockQ8_K);
      return p;
    case GgmlType::Q6_K:
      p.row_dot = k.vec_dot_q6_K_q8_K;
      break;
    case GgmlType::Q2_K:
      if (!k.vec_dot_q2_K_q8_K) return p;  // rows widened to f32
      p.row_dot = k.vec_dot_q2_K_q8_K;
      break;
    case GgmlType::Q3_K:
      if (!k.vec_dot_q3_K_q8_K) return p;
      p.row_dot = k.vec_dot_q3_K_q8_K;
      break;
    case GgmlType::IQ4_XS:
      // Decode-sized calls; prompts take the tiles below (from the tile threshold on).
      if (!k.vec_dot_iq4_xs_q8_K) return p;
      p.row_dot = k.vec_dot_iq4_xs_q8_K;
      break;
    case GgmlType::IQ4_NL:
      if (!k.vec_dot_iq4_nl_q8_0) return p;
      p.row_dot = k.vec_dot_iq4_nl_q8_0;
      break;
    default:
      return p;
  }
  const QuantTraits* act = quant_traits(quant_traits(gt)->vec_dot_type);
  p.path = MatmulPlan::Path::kQuant;
  p.quantize_act = act->quantize;
  p.act_row_bytes = size_t(w.cols / act->block_size) * act->block_bytes;
  return p;
}

MatmulPlan plan_for(const WeightView& w, const CpuKernels& k, int64_t n) {
  MatmulPlan p = row_plan_for(w, k);
  // BF16 prompts on the AMX-BF16 tiles (gemm_bf16_amx.cpp), from kBf16TileMinTokens on.
  if (w.dtype == DType::BF16 && k.gemm_bf16_rows && w.cols % 32 == 0 &&
      n >= g_bf16_tile_min_tokens.load(std::memory_order_relaxed)) {
    p.path = MatmulPlan::Path::kBf16Tile;
    return p;
  }
  // FP8 prompts on the same tiles, the weights widened exactly to bf16 and scaled per block.
  if (w.dtype == DType::F8_E4M3 && k.gemm_fp8_rows && w.scale_inv && w.cols % 32 == 0 &&
      w.block_cols % 32 == 0 && n >= g_bf16_tile_min_tokens.load(std::memory_order_relaxed)) {
    p.path = MatmulPlan::Path::kFp8Tile;
    return p;
  }
  // FP8 (DeepSeek's released checkpoints): the fused kernel for decode-sized calls; other
  // prompts widen rows to f32 once and take the f32 register blocks (kDequant).
  if (w.dtype == DType::F8_E4M3 && k.dot_fp8_f32 && w.scale_inv && w.block_cols % 16 == 0 &&
      n <= kMaxRowTokens) {
    p.path = MatmulPlan::Path::kFp8;
    return p;
  }
  int max_u = 0;
  const int factor = tile_col_factor(w.dtype, k.gemm_tile_max_u);
  const TileRowUnpackFn f = tile_unpacker(w.dtype, factor, &max_u);
  // Formats without a row-dot kernel take the integer path for any n: it beats dequantising
  // to f32. Q2_K's, Q3_K's and Q6_K's tiles do twice the work (two tile blocks per 32
  // elements): from the table's wide_tile_min_tokens on at the default threshold.
  int64_t min_n = g_tile_min_tokens.load(std::memory_order_relaxed);
  if (factor > 1 && min_n >= kDefaultTileMinTokens)
    min_n = std::max<int64_t>(min_n, k.wide_tile_min_tokens);
  if (f && max_u <= k.gemm_tile_max_u && (n >= min_n || p.path == MatmulPlan::Path::kDequant)) {
    p = MatmulPlan{};
    p.path = MatmulPlan::Path::kTile;
    p.unpack = f;
    p.tile_fn = k.gemm_tile_for_u ? k.gemm_tile_for_u(max_u) : k.gemm_tile;
    p.col_factor = factor;
    p.half_sums = tile_half_sums(w.dtype);
    p.act_row_bytes = tile_act_bytes(w.cols * p.col_factor);
    p.grouped = k.gemm_tile_rows != nullptr;
  }
  return p;
}

// Rows [t0, t1) of x [n, cols] -> the activation format of the plan, into `qa`
// (kQuant and kTile) of act_bytes(p, cols, n) bytes; the non-empty range ending at n also clears
// the grouped layout's slots past n.
void quantize_activations(const MatmulPlan& p, const float* x, int64_t cols, int64_t t0, int64_t t1,
                          int64_t n, uint8_t* qa) {
  if (p.path == MatmulPlan::Path::kBf16Tile || p.path == MatmulPlan::Path::kFp8Tile) {
    const CpuKernels& k = cpu_kernels();
    uint16_t* act = reinterpret_cast<uint16_t*>(qa);
    for (int64_t t = t0; t < t1; ++t) k.split_act_bf16(x + t * cols, cols, t, act);
    if (t0 < t1 && t1 == n) k.clear_act_bf16(cols, n, act);  // the range that ends the batch
    return;
  }
  if (p.path == MatmulPlan::Path::kTile) {
    const auto quantize = cpu_kernels().quantize_act_tile;
    const int64_t tcols = cols * p.col_factor;  // tile columns
    // Token t's row in the tile layout: in place, or through scratch when it is then
    // expanded (col_factor > 1) or grouped.
    std::vector<uint8_t>& plain = tile_row_scratch(tile_act_bytes(cols) + p.act_row_bytes);
    uint8_t* expanded = plain.data() + tile_act_bytes(cols);
    const size_t gb = tile_act_group_bytes(tcols);
    for (int64_t t = t0; t < t1; ++t) {
      uint8_t* row = p.grouped ? expanded : qa + t * p.act_row_bytes;
      if (p.col_factor == 1) {
        quantize(x + t * cols, cols, row);
      } else {
        quantize(x + t * cols, cols, plain.data());
        expand_act_tile(plain.data(), cols, p.col_factor, p.half_sums, row);
      }
      if (p.grouped)
        group_act_tile(row, tcols, int(t % kActGroup), qa + size_t(t / kActGroup) * gb);
    }
    if (p.grouped && t0 < t1 && t1 == n && n % kActGroup)  // the range that ends the batch
      clear_act_group_slots(tcols, int(n % kActGroup), qa + size_t(n / kActGroup) * gb);
    return;
  }
  for (int64_t t = t0; t < t1; ++t) p.quantize_act(x + t * cols, qa + t * p.act_row_bytes, cols);
}

bool quantises_activations(const MatmulPlan& p) {
  return p.path == MatmulPlan::Path::kQuant || p.path == MatmulPlan::Path::kTile ||
         p.path == MatmulPlan::Path::kBf16Tile || p.path == MatmulPlan::Path::kFp8Tile;
}

// Rows [r0, r1) of y = x·Wᵀ on the calling thread. `qa` is x quantised by the plan (kQuant).
void run_rows(const MatmulPlan& p, const WeightView& w, const float* x, const uint8_t* qa,
              int64_t n, float* y, int64_t y_stride, int64_t r0, int64_t r1) {
  const CpuKernels& k = cpu_kernels();
  const int64_t cols = w.cols;
  const size_t rb = w.row_bytes();
  const uint8_t* base = static_cast<const uint8_t*>(w.data);
  switch (p.path) {
    case MatmulPlan::Path::kF32:
    case MatmulPlan::Path::kBf16:
    case MatmulPlan::Path::kF16: {
      // Blocks of kRowBlock rows × kMaxRowTokens tokens, swept kMaxRowTokens rows at a time:
      // every activation load feeds up to 4 weight rows and every weight load up to 4 tokens,
      // and the weight block is reused from cache across the token blocks.
      float out[kMaxRowTokens * kMaxRowTokens];
      const int64_t ws = int64_t(rb / 2), wf = int64_t(rb / 4);  // row strides in elements
      for (int64_t rb0 = r0; rb0 < r1; rb0 += kRowBlock) {
        const int64_t rb1 = std::min(r1, rb0 + kRowBlock);
        for (int64_t t0 = 0; t0 < n; t0 += kMaxRowTokens) {
          const int nt = int(std::min<int64_t>(kMaxRowTokens, n - t0));
          for (int64_t r = rb0; r < rb1; r += kMaxRowTokens) {
            const int nr = int(std::min<int64_t>(kMaxRowTokens, rb1 - r));
            if (p.path == MatmulPlan::Path::kBf16)
              k.dot_bf16_f32(reinterpret_cast<const uint16_t*>(base + r * rb), ws, nr,
                             x + t0 * cols, cols, nt, cols, out);
            else if (p.path == MatmulPlan::Path::kF16)
              k.dot_f16_f32(reinterpret_cast<const uint16_t*>(base + r * rb), ws, nr, x + t0 * cols,
                            cols, nt, cols, out);
            else
              k.dot_f32_rows(reinterpret_cast<const float*>(base + r * rb), wf, nr, x + t0 * cols,
                             cols, nt, cols, out);
            for (int i = 0; i < nr; ++i)
              for (int j = 0; j < nt; ++j)
                y[(t0 + j) * y_stride + r + i] = out[i * kMaxRowTokens + j];
          }
        }
      }
      return;
    }
    case MatmulPlan::Path::kBf16Tile: {
      const uint16_t* act = reinterpret_cast<const uint16_t*>(qa);
      for (int64_t rt = r0; rt < r1; rt += 16) {
        // The next 16 rows of the matrix (often the next chunk's, another thread's or ours),
        // when it has 16 more.
        const uint16_t* next =
            rt + 32 <= w.rows ? reinterpret_cast<const uint16_t*>(base + (rt + 16) * rb) : nullptr;
        k.gemm_bf16_rows(reinterpret_cast<const uint16_t*>(base + rt * rb), int64_t(rb / 2),
                         int(std::min<int64_t>(16, r1 - rt)), act, n, cols, y + rt, y_stride, next);
      }
      return;
    }
    case MatmulPlan::Path::kFp8Tile: {
      const uint16_t* act = reinterpret_cast<const uint16_t*>(qa);
      const float* scales[16];
      for (int64_t rt = r0; rt < r1; rt += 16) {
        const int nr = int(std::min<int64_t>(16, r1 - rt));
        for (int i = 0; i < nr; ++i)
          scales[i] = w.scale_inv + ((w.row0 + rt + i) / w.block_rows) * w.scale_cols;
        const uint8_t* next = rt + 32 <= w.rows ? base + (rt + 16) * rb : nullptr;
        k.gemm_fp8_rows(base + rt * rb, int64_t(rb), nr, scales, w.block_cols, act, n, cols, y + rt,
                        y_stride, next);
      }
      return;
    }
    case MatmulPlan::Path::kFp8: {
      // As kBf16 (n ≤ kMaxRowTokens here): rows in register blocks of kMaxRowTokens, each
      // with the block-scale row of its 128-row band.
      float out[kMaxRowTokens * kMaxRowTokens];
      const float* scales[kMaxRowTokens];
      for (int64_t r = r0; r < r1; r += kMaxRowTokens) {
        const int nr = int(std::min<int64_t>(kMaxRowTokens, r1 - r));
        for (int i = 0; i < nr; ++i)
          scales[i] = w.scale_inv + ((w.row0 + r + i) / w.block_rows) * w.scale_cols;
        k.dot_fp8_f32(base + r * rb, int64_t(rb), nr, scales, w.block_cols, x, cols, int(n), cols,
                      out);
        for (int i = 0; i < nr; ++i)
          for (int j = 0; j < n; ++j) y[j * y_stride + r + i] = out[i * kMaxRowTokens + j];
      }
      return;
    }
    case MatmulPlan::Path::kQuant: {
      // Blocks of kRowBlock rows × kMaxRowTokens tokens: a quantised weight row (a few KiB)
      // is re-read from L1 for each token of the block, and the token block's activations
      // stay in L1 across the row block.
      float out[kMaxRowTokens];
      for (int64_t rb0 = r0; rb0 < r1; rb0 += kRowBlock) {
        const int64_t rb1 = std::min(r1, rb0 + kRowBlock);
        for (int64_t t0 = 0; t0 < n; t0 += kMaxRowTokens) {
          const int nt = int(std::min<int64_t>(kMaxRowTokens, n - t0));
          for (int64_t r = rb0; r < rb1; ++r) {
            // The quantised kernels read one row per call: ask for the row two ahead now, so
            // it is on its way from L3 / DRAM while this one is computed. Into L2 (prefetcht1):
            // prefetches into L1 each hold a fill buffer until their line arrives, which
            // stalled the loop and capped one core's stream (BM_Matmul n = 1: +10–20%).
            if (!k.row_dot_prefetches && t0 == 0 && r + 2 < r1) {
              const uint8_t* ahead = base + (r + 2) * rb;
              for (size_t off = 0; off < rb; off += 64) __builtin_prefetch(ahead + off, 0, 2);
            }
            p.row_dot(base + r * rb, qa + t0 * p.act_row_bytes, int64_t(p.act_row_bytes), nt, cols,
                      out);
            for (int j = 0; j < nt; ++j) y[(t0 + j) * y_stride + r] = out[j];
          }
        }
      }
      return;
    }
    case MatmulPlan::Path::kTile: {
      // Tiles of kTileRows rows (r0 is a multiple of kTileRows unless it is the matrix's
      // last partial tile): unpacked once, then every token runs over the tile from L1/L2.
      const int64_t tcols = cols * p.col_factor, nb = tcols / 32;  // tile columns, blocks
      uint8_t* tile = tile_scratch(tile_bytes(tcols) + size_t(tcols) + 8 * size_t(nb));
      uint8_t* row_buf = tile + tile_bytes(tcols);
      float out[kTileTokens * kTileRows];
      for (int64_t rt = r0; rt < r1; rt += kTileRows) {
        const int nr = int(std::min<int64_t>(kTileRows, r1 - rt));
        unpack_tile(p.unpack, p.col_factor, w, rt, nr, tile, row_buf);
        // The next tile's rows (expert weights come from DRAM once per batch) are fetched
        // into L2 while this tile's tokens run, a share after each group of tokens so the
        // prefetches do not queue up behind each other.
        const bool more = rt + kTileRows < r1;
        const uint8_t* next = more ? base + size_t(rt + kTileRows) * rb : base;
        const size_t next_bytes =
            more ? size_t(std::min<int64_t>(kTileRows, r1 - rt - kTileRows)) * rb : 0;
        if (k.gemm_tile_rows) {  // all tokens in one call, results straight into y
          k.gemm_tile_rows(tile, nb, qa, n, nr, y + rt, y_stride, next, next_bytes);
          continue;
        }
        const size_t groups = size_t((n + kTileTokens - 1) / kTileTokens);
        const size_t step = (next_bytes / 64 + groups - 1) / groups * 64;
        size_t fetched = 0;
        for (int64_t t0 = 0; t0 < n; t0 += kTileTokens) {
          const int nt = int(std::min<int64_t>(kTileTokens, n - t0));
          p.tile_fn(tile, nb, qa + t0 * p.act_row_bytes, int64_t(p.act_row_bytes), nt, out);
          for (int j = 0; j < nt; ++j)
            std::copy_n(out + j * kTileRows, nr, y + (t0 + j) * y_stride + rt);
          for (const size_t end = std::min(next_bytes, fetched + step); fetched < end;
               fetched += 64)
            __builtin_prefetch(next + fetched, 0, 2);
        }
      }
      return;
    }
    case MatmulPlan::Path::kDequant:
      break;
  }
  // Formats without a fused kernel for this call (FP8 prompts, F16 on the scalar table, GGML
  // types with neither a row-dot kernel nor an integer tile layout): kDequantRows rows widened to
  // f32 once, then the register blocks of the f32 path (kMaxRowTokens rows × tokens) over every
  // token, so a prompt multiplies at the f32 kernel's rate instead of one dot product per row and
  // token.
  std::vector<float>& tile = scratch(size_t(kDequantRows * cols));
  float out[kMaxRowTokens * kMaxRowTokens];
  for (int64_t rt = r0; rt < r1; rt += kDequantRows) {
    const int64_t nrt = std::min(kDequantRows, r1 - rt);
    for (int64_t i = 0; i < nrt; ++i) dequantize_row(w, rt + i, tile.data() + i * cols);
    for (int64_t t0 = 0; t0 < n; t0 += kMaxRowTokens) {
      const int nt = int(std::min<int64_t>(kMaxRowTokens, n - t0));
      for (int64_t i0 = 0; i0 < nrt; i0 += kMaxRowTokens) {
        const int nr = int(std::min<int64_t>(kMaxRowTokens, nrt - i0));
        k.dot_f32_rows(tile.data() + i0 * cols, cols, nr, x + t0 * cols, cols, nt, cols, out);
        for (int i = 0; i < nr; ++i)
          for (int j = 0; j < nt; ++j)
            y[(t0 + j) * y_stride + rt + i0 + i] = out[i * kMaxRowTokens + j];
      }
    }
  }
}

// Multiply-adds from which a call is split into claimed chunks (below); smaller calls take
// microseconds, where contended claims on a shared counter cost more than they save (a 5M-
// parameter model decoded 25 % slower with every call chunked).
constexpr int64_t kClaimMinWork = int64_t(1) << 22;

// Runs fn(b, e) over [0, units) on every thread of the pool. Calls of at least
// kClaimMinWork multiply-adds (`work`) are split into chunks that each thread claims as it
// finishes one, instead of one fixed share per thread. Every row's result is the same
// whichever thread computes it, so outputs do not change; but a thread that the OS preempts
// (a server's HTTP threads, a client on the same cores) no longer holds the others up at the
// end of the call: the rest of the rows go to the threads that run. Chunks are 1/8 of a
// thread's share (at least one unit): long enough runs for the hardware prefetchers, and ~16
// atomic claims per call. Smaller calls keep the fixed shares.
template <class F>
void claim_units(ThreadPool& pool, int64_t units, int64_t work, F&& fn) {
  if (work < kClaimMinWork) {
    pool.run([&](int ti, int nt) {
      int64_t b, e;
      split_range(units, ti, nt, &b, &e);
      if (b < e) fn(b, e);
    });
    return;
  }
  std::atomic<int64_t> next{0};
  pool.run([&](int ti, int nt) {
    const int64_t chunk = std::max<int64_t>(1, units / (int64_t(nt) * 8));
    for (;;) {
      const int64_t b = next.fetch_add(chunk, std::memory_order_relaxed);
      if (b >= units) return;
      fn(b, std::min(units, b + chunk));
    }
  });
}

}  // namespace

void matmul_rows(const WeightView& w, const float* x, int64_t n, float* y, int64_t y_stride,
                 int64_t r0, int64_t r1) {
  const MatmulPlan p = plan_for(w, cpu_kernels(), n);
  uint8_t* qa = nullptr;
  if (quantises_activations(p)) {
    qa = act_scratch(act_bytes(p, w.cols, n)).data();
    quantize_activations(p, x, w.cols, 0, n, n, qa);
  }
  run_rows(p, w, x, qa, n, y, y_stride, r0, r1);
}

void matmul(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool) {
  const MatmulPlan p = plan_for(w, cpu_kernels(), n);
  // Small matrices are not worth waking the pool for.
  const bool serial = pool.size() == 1 || w.rows * w.cols * n < 32768;
  // The activations are quantised once per call (split over tokens when there are several)
  // into the caller's buffer, which every worker then reads.
  uint8_t* qa = nullptr;
  if (quantises_activations(p)) {
    qa = act_scratch(act_bytes(p, w.cols, n)).data();
    if (serial || n == 1) {
      quantize_activations(p, x, w.cols, 0, n, n, qa);
    } else {
      pool.run([&](int ti, int nt) {
        int64_t b, e;
        split_range(n, ti, nt, &b, &e);
        quantize_activations(p, x, w.cols, b, e, n, qa);
      });
    }
  }
  if (serial) {
    run_rows(p, w, x, qa, n, y, w.rows, 0, w.rows);
    return;
  }
  // Units of whole integer tiles, or of row blocks.
  const int64_t unit = p.path == MatmulPlan::Path::kTile ? kTileRows : kRowBlock;
  claim_units(pool, (w.rows + unit - 1) / unit, w.rows * w.cols * n, [&](int64_t b, int64_t e) {
    run_rows(p, w, x, qa, n, y, w.rows, b * unit, std::min(w.rows, e * unit));
  });
}

void matmul_batch(const MatmulJob* jobs, int n_jobs, ThreadPool& pool) {
  constexpr int64_t kUnit = 16;  // rows per work unit: whole integer tiles, whole row blocks
  static_assert(kUnit % kTileRows == 0);
  const CpuKernels& k = cpu_kernels();
  // The caller's buffers (grow only); the workers reach them through these references (a
  // thread_local named inside the lambda would be the worker's own).
  thread_local std::vector<MatmulPlan> plans_buf;
  thread_local std::vector<size_t> act_off_buf;
  thread_local std::vector<int64_t> unit0_buf;
  std::vector<MatmulPlan>& plans = plans_buf;
  std::vector<size_t>& act_off = act_off_buf;
  std::vector<int64_t>& unit0 = unit0_buf;
  plans.resize(size_t(n_jobs));
  act_off.assign(size_t(n_jobs), SIZE_MAX);
  unit0.resize(size_t(n_jobs) + 1);
  size_t act_bytes = 0;
  unit0[0] = 0;
  for (int i = 0; i < n_jobs; ++i) {
    const MatmulJob& j = jobs[i];
    plans[size_t(i)] = plan_for(j.w, k, j.n);
    unit0[size_t(i) + 1] = unit0[size_t(i)] + (j.w.rows + kUnit - 1) / kUnit;
    const MatmulPlan& p = plans[size_t(i)];
    if (!quantises_activations(p)) continue;
    for (int s = 0; s < i && act_off[size_t(i)] == SIZE_MAX; ++s) {
      const MatmulPlan& q = plans[size_t(s)];
      if (jobs[s].x == j.x && jobs[s].n == j.n && jobs[s].w.cols == j.w.cols && q.path == p.path &&
          q.quantize_act == p.quantize_act && q.col_factor == p.col_factor &&
          q.grouped == p.grouped && act_off[size_t(s)] != SIZE_MAX)
        act_off[size_t(i)] = act_off[size_t(s)];
    }
    if (act_off[size_t(i)] == SIZE_MAX) {
      act_off[size_t(i)] = act_bytes;
      act_bytes += ds::act_bytes(p, j.w.cols, j.n);
    }
  }
  uint8_t* qa = act_scratch(std::max<size_t>(act_bytes, 1)).data();
  thread_local std::vector<int> quantise_buf;  // the jobs whose quantisation others share
  std::vector<int>& quantise = quantise_buf;
  quantise.clear();
  int64_t quantise_work = 0;
  for (int i = 0; i < n_jobs; ++i) {  // each shared quantisation once (its first job)
    const MatmulPlan& p = plans[size_t(i)];
    if (!quantises_activations(p)) continue;
    bool first = true;
    for (int s = 0; s < i && first; ++s)
      first =
          !(quantises_activations(plans[size_t(s)]) && act_off[size_t(s)] == act_off[size_t(i)]);
    if (first) {
      quantise.push_back(i);
      quantise_work += jobs[i].n * jobs[i].w.cols;
    }
  }
  // Prompts: every thread quantises its share of each job's tokens.
  auto quantise_range = [&](int ti, int nt) {
    for (int i : quantise) {
      int64_t b, e;
      split_range(jobs[i].n, ti, nt, &b, &e);
      quantize_activations(plans[size_t(i)], jobs[i].x, jobs[i].w.cols, b, e, jobs[i].n,
                           qa + act_off[size_t(i)]);
    }
  };
  if (pool.size() > 1 && quantise_work >= 65536)
    pool.run(quantise_range);
  else
    quantise_range(0, 1);
  const int64_t units = unit0[size_t(n_jobs)];
  auto run_units = [&](int64_t b, int64_t e) {
    for (int i = 0; i < n_jobs; ++i) {
      const int64_t u0 = std::max(b, unit0[size_t(i)]), u1 = std::min(e, unit0[size_t(i) + 1]);
      if (u0 >= u1) continue;
      const MatmulJob& j = jobs[i];
      const int64_t r0 = (u0 - unit0[size_t(i)]) * kUnit;
      const int64_t r1 = std::min(j.w.rows, (u1 - unit0[size_t(i)]) * kUnit);
      const MatmulPlan& p = plans[size_t(i)];
      run_rows(p, j.w, j.x, quantises_activations(p) ? qa + act_off[size_t(i)] : nullptr, j.n, j.y,
               j.w.rows, r0, r1);
    }
  };
  if (pool.size() == 1 || units < 2) {
    run_units(0, units);
    return;
  }
  int64_t work = 0;
  for (int i = 0; i < n_jobs; ++i) work += jobs[i].w.rows * jobs[i].w.cols * jobs[i].n;
  claim_units(pool, units, work, run_units);
}

void set_matmul_tile_min_tokens(int64_t n) {
  g_tile_min_tokens.store(n, std::memory_order_relaxed);
}

int64_t matmul_tile_min_tokens() {
  return g_tile_min_tokens.load(std::memory_order_relaxed);
}

void set_matmul_bf16_tile_min_tokens(int64_t n) {
  g_bf16_tile_min_tokens.store(n, std::memory_order_relaxed);
}

void matmul_transposed(const WeightView& w, const float* x, int64_t n, float* y) {
  const CpuKernels& k = cpu_kernels();
  std::fill(y, y + n * w.cols, 0.0f);
  std::vector<float>& row = scratch(size_t(w.cols));
  for (int64_t r = 0; r < w.rows; ++r) {
    const float* wr;
    if (w.dtype == DType::F32) {
      wr = static_cast<const float*>(w.data) + r * w.cols;
    } else {
      dequantize_row(w, r, row.data());
      wr = row.data();
    }
    for (int64_t t = 0; t < n; ++t) k.axpy_f32(x[t * w.rows + r], wr, y + t * w.cols, w.cols);
  }
}

}  // namespace ds

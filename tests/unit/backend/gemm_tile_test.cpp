// The integer GEMM path (backend/cpu/gemm_tile.h): weight tiles unpacked by each ISA equal
// the portable unpacker's, their values equal the reference dequantiser's, the tile kernel of
// each ISA is bit-identical to the portable reference, and activations quantise as documented.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backend/cpu/gemm_tile.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/row_dot.h"
#include "core/dtype.h"
#include "ops/ops.h"
#include "ops/qtile.h"
#include "quant/quant.h"
#include "runtime/thread_pool.h"

namespace ds {
namespace {

class GemmTileTest : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!isa_supported(GetParam()))
      GTEST_SKIP() << isa_name(GetParam()) << " not supported by this CPU";
  }
  void TearDown() override { set_cpu_isa(previous_); }

 private:
  Isa previous_ = cpu_kernels().isa;
};

std::vector<float> random_floats(size_t n, uint32_t seed, float sigma) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.0f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

// 64-byte aligned storage for tiles.
struct Aligned {
  explicit Aligned(size_t n) : buf(n + 64) {
    const auto p = reinterpret_cast<uintptr_t>(buf.data());
    ptr = buf.data() + (64 - p % 64) % 64;
  }
  std::vector<uint8_t> buf;
  uint8_t* ptr;
};

struct Matrix {
  std::vector<uint8_t> bytes;
  WeightView view;
};

Matrix make_matrix(GgmlType gt, int64_t rows, int64_t cols, uint32_t seed) {
  const QuantTraits* t = quant_traits(gt);
  Matrix m;
  const size_t rb = size_t(cols / t->block_size) * t->block_bytes;
  m.bytes.resize(rb * size_t(rows));
  auto f = random_floats(size_t(rows * cols), seed, 0.05f);
  for (size_t i = 0; i < f.size(); i += 29) f[i] *= 9;  // outliers: scales, mins, full ranges
  for (int64_t r = 0; r < rows; ++r)
    t->quantize(f.data() + r * cols, m.bytes.data() + r * rb, cols);
  DType dt;
  EXPECT_TRUE(ggml_type_to_dtype(gt, &dt));
  m.view.dtype = dt;
  m.view.data = m.bytes.data();
  m.view.rows = rows;
  m.view.cols = cols;
  return m;
}

// The formats with one tile block per 32 elements (Q3_K: with kernels that multiply u up to
// 252, its scaled layout).
const GgmlType kTileTypes[] = {GgmlType::Q4_0,   GgmlType::Q4_1,   GgmlType::Q5_0, GgmlType::Q5_1,
                               GgmlType::Q8_0,   GgmlType::IQ4_NL, GgmlType::Q4_K, GgmlType::Q5_K,
                               GgmlType::IQ4_XS, GgmlType::Q3_K};

TEST_P(GemmTileTest, UnpackedTilesMatchPortableAndDequantiser) {
  for (GgmlType gt : kTileTypes) {
    for (int64_t cols : {256, 1536}) {
      const int64_t rows = 21;  // one full tile and one of 5 rows
      Matrix m = make_matrix(gt, rows, cols, uint32_t(cols) + uint32_t(gt));
      int max_u = 0;
      const TileRowUnpackFn f = tile_unpacker(m.view.dtype, 1, &max_u);
      ASSERT_NE(f, nullptr) << quant_traits(gt)->name;
      const size_t tb = tile_bytes(cols);
      Aligned got(tb), want(tb), row_buf(size_t(cols) * 2);
      std::vector<float> deq(static_cast<size_t>(cols));
      for (int64_t r0 : {int64_t(0), int64_t(16)}) {
        const int nr = int(std::min<int64_t>(kTileRows, rows - r0));
        set_cpu_isa(Isa::kScalar);  // the portable unpacker
        unpack_tile(f, 1, m.view, r0, nr, want.ptr, row_buf.ptr);
        set_cpu_isa(GetParam());
        std::memset(got.ptr, 0xAB, tb);
        unpack_tile(f, 1, m.view, r0, nr, got.ptr, row_buf.ptr);
        ASSERT_EQ(std::memcmp(got.ptr, want.ptr, tb), 0)
            << quant_traits(gt)->name << " cols=" << cols << " r0=" << r0;
        for (int r = 0; r < kTileRows; ++r) {
          if (r < nr) dequantize_row(m.view, r0 + r, deq.data());
          for (int64_t i = 0; i < cols; ++i) {
            const uint8_t* blk = want.ptr + size_t(i / 32) * kTileBlockBytes;
            const int g = int(i % 32) / 4, b = int(i % 4);
            const int u = blk[64 * g + 4 * r + b];
            ASSERT_LE(u, max_u) << quant_traits(gt)->name;
            float s, o;
            std::memcpy(&s, blk + 512 + 4 * r, 4);
            std::memcpy(&o, blk + 512 + 4 * kTileRows + 4 * r, 4);
            const float v = s * float(u) - o;
            const float ref = r < nr ? deq[size_t(i)] : 0.0f;
            // Both are f32 roundings of the same exact value (a few ulp of the block's range).
            ASSERT_NEAR(v, ref, 4e-7 * (std::fabs(s) * float(max_u) + std::fabs(o)) + 1e-30)
                << quant_traits(gt)->name << " r=" << r << " i=" << i;
          }
        }
      }
    }
  }
}

// Q2_K, Q3_K and Q6_K take two tile blocks per 32 elements (tile_col_factor): each half's
// values equal the dequantiser's, and the other half of its tile block adds exactly nothing —
// for Q3_K and Q6_K its values are zero, for Q2_K its u is 0 and the expanded activations'
// d·Σq covers only the block's own half (tile_half_sums). The activations' q and d are the
// block's own, repeated.
TEST(GemmTileSixteens, TwoTileBlocksPerBlock) {
  struct Case {
    GgmlType gt;
    int max_u;
    bool half_sums;
  };
  for (const Case& c : {Case{GgmlType::Q6_K, 63, false}, Case{GgmlType::Q3_K, 7, false},
                        Case{GgmlType::Q2_K, 3, true}}) {
    const char* name = quant_traits(c.gt)->name;
    Matrix m = make_matrix(c.gt, 5, 512, 9);
    // Two tile blocks per 32 elements with a kernel limited to u ≤ 127; Q3_K takes one
    // with a kernel that multiplies u up to 252 (its scaled layout, tested with the others).
    ASSERT_EQ(tile_col_factor(m.view.dtype, 127), 2) << name;
    ASSERT_EQ(tile_col_factor(m.view.dtype, 255), c.gt == GgmlType::Q3_K ? 1 : 2) << name;
    ASSERT_EQ(tile_half_sums(m.view.dtype), c.half_sums) << name;
    int max_u = 0;
    const TileRowUnpackFn f = tile_unpacker(m.view.dtype, 2, &max_u);
    ASSERT_NE(f, nullptr) << name;
    EXPECT_EQ(max_u, c.max_u) << name;
    const int64_t cols = 512, tcols = 2 * cols;
    Aligned tile(tile_bytes(tcols)), row_buf(size_t(tcols) * 2);
    unpack_tile(f, 2, m.view, 0, 5, tile.ptr, row_buf.ptr);
    std::vector<float> deq(static_cast<size_t>(cols));
    for (int r = 0; r < kTileRows; ++r) {
      if (r < 5) dequantize_row(m.view, r, deq.data());
      for (int64_t tb = 0; tb < tcols / 32; ++tb) {
        const uint8_t* blk = tile.ptr + size_t(tb) * kTileBlockBytes;
        float s, o;
        std::memcpy(&s, blk + 512 + 4 * r, 4);
        std::memcpy(&o, blk + 512 + 4 * kTileRows + 4 * r, 4);
        for (int j = 0; j < 32; ++j) {
          const int u = blk[64 * (j / 4) + 4 * r + j % 4];
          ASSERT_LE(u, max_u) << name;
          const bool own = (j / 16) == tb % 2;  // the half this tile block stands for
          const float v = s * float(u) - o;
          if (r >= 5) {
            ASSERT_EQ(v, 0.0f) << name << " r=" << r << " tb=" << tb << " j=" << j;
          } else if (!own) {
            if (c.half_sums)
              ASSERT_EQ(u, 0) << name << " r=" << r << " tb=" << tb << " j=" << j;
            else
              ASSERT_EQ(v, 0.0f) << name << " r=" << r << " tb=" << tb << " j=" << j;
          } else {
            const float ref = deq[size_t(32 * (tb / 2) + j)];
            ASSERT_NEAR(v, ref, 4e-7 * (std::fabs(s) * float(max_u) + std::fabs(o)) + 1e-30)
                << name << " r=" << r << " tb=" << tb << " j=" << j;
          }
        }
      }
    }
    // Activations: block k of the expanded row is block k / 2 of the plain one, with d·Σq of
    // the whole block or, with half sums, of its half k % 2.
    const auto x = random_floats(size_t(cols), 4, 1.0f);
    std::vector<uint8_t> plain(tile_act_bytes(cols)), wide(tile_act_bytes(tcols));
    quantize_act_tile(x.data(), cols, plain.data());
    expand_act_tile(plain.data(), cols, 2, c.half_sums, wide.data());
    for (int64_t k = 0; k < tcols / 32; ++k) {
      ASSERT_EQ(std::memcmp(wide.data() + 32 * k, plain.data() + 32 * (k / 2), 32), 0) << name;
      float d, dw, dsw;
      std::memcpy(&d, plain.data() + cols + 4 * (k / 2), 4);
      std::memcpy(&dw, wide.data() + tcols + 4 * k, 4);
      ASSERT_EQ(d, dw) << name;
      std::memcpy(&dsw, wide.data() + tcols + 4 * (tcols / 32 + k), 4);
      int sum = 0;
      for (int j = 0; j < 32; ++j)
        if (!c.half_sums || j / 16 == k % 2) sum += int8_t(plain[size_t(32 * (k / 2) + j)]);
      ASSERT_EQ(dsw, d * float(sum)) << name << " k=" << k;
    }
  }
}

// The ISA's unpackers of the formats with two tile blocks per 32 elements against the
// portable ones, for a full tile and a partial one.
TEST_P(GemmTileTest, SixteensTilesMatchPortable) {
  for (GgmlType gt : {GgmlType::Q6_K, GgmlType::Q3_K, GgmlType::Q2_K}) {
    for (int64_t cols : {256, 1536}) {
      const int64_t rows = 21;
      Matrix m = make_matrix(gt, rows, cols, uint32_t(cols) + 77 + uint32_t(gt));
      int max_u = 0;
      const TileRowUnpackFn f = tile_unpacker(m.view.dtype, 2, &max_u);
      ASSERT_NE(f, nullptr);
      const size_t tb = tile_bytes(2 * cols);
      Aligned got(tb), want(tb), row_buf(size_t(cols) * 4);
      for (int64_t r0 : {int64_t(0), int64_t(16)}) {
        const int nr = int(std::min<int64_t>(kTileRows, rows - r0));
        set_cpu_isa(Isa::kScalar);
        unpack_tile(f, 2, m.view, r0, nr, want.ptr, row_buf.ptr);
        set_cpu_isa(GetParam());
        std::memset(got.ptr, 0xAB, tb);
        unpack_tile(f, 2, m.view, r0, nr, got.ptr, row_buf.ptr);
        ASSERT_EQ(std::memcmp(got.ptr, want.ptr, tb), 0)
            << quant_traits(gt)->name << " cols=" << cols << " r0=" << r0;
      }
    }
  }
}

// nb random tile blocks: u in [0, max_u], scales and offsets exact multiples of 2^-12.
void fill_random_tile(uint8_t* tile, int64_t nb, int max_u, uint32_t seed) {
  std::mt19937 g{seed};
  for (int64_t kb = 0; kb < nb; ++kb) {
    uint8_t* blk = tile + size_t(kb) * kTileBlockBytes;
    for (int i = 0; i < 512; ++i) blk[i] = uint8_t(g() % uint32_t(max_u + 1));
    float so[2 * kTileRows];
    for (float& v : so) v = std::ldexp(float(g() % 1000) - 300.0f, -12);
    std::memcpy(blk + 512, so, sizeof so);
  }
}

TEST_P(GemmTileTest, KernelBitIdenticalToReference) {
  const CpuKernels& k = cpu_kernels_for(GetParam());
  for (int64_t cols : {32, 256, 1408}) {
    const int64_t nb = cols / 32;
    Aligned tile(tile_bytes(cols));
    fill_random_tile(tile.ptr, nb, k.gemm_tile_max_u, uint32_t(cols));
    const size_t ab = tile_act_bytes(cols);
    std::vector<uint8_t> act(ab * kTileTokens);
    for (int t = 0; t < kTileTokens; ++t) {
      const auto x = random_floats(size_t(cols), uint32_t(7 + t), 3.0f);
      quantize_act_tile(x.data(), cols, act.data() + size_t(t) * ab);
    }
    for (int nt = 1; nt <= kTileTokens; ++nt) {
      float got[kTileTokens * kTileRows], want[kTileTokens * kTileRows];
      k.gemm_tile(tile.ptr, nb, act.data(), int64_t(ab), nt, got);
      gemm_tile_ref(tile.ptr, nb, act.data(), int64_t(ab), nt, want);
      for (int i = 0; i < nt * kTileRows; ++i)
        ASSERT_EQ(got[i], want[i]) << "cols=" << cols << " nt=" << nt << " i=" << i;
    }
  }
}

#if defined(__x86_64__)
// The avx2 table's tile kernels (vpmaddubsw: the plain one for u ≤ 127, those gemm_tile_for_u
// picks for smaller u, which add pair sums in 16 bits, and the signed one for u ≤ 255; or
// vpdpbusd where the CPU has AVX-VNNI), each against the reference: random tiles, and tiles
// at the kernel's bound (every u at max_u, or at 0 and 255 for the signed one) with
// activations of ±127 in runs, where a 16-bit sum one group too long would overflow.
TEST(GemmTileAvx2, EveryKernelBitIdenticalToReference) {
  if (!isa_supported(Isa::kAvx2)) GTEST_SKIP() << "no AVX2 on this CPU";
  struct Kernel {
    GemmTileFn fn;
    int max_u;
    bool available;
  };
  const Kernel kernels[] = {
      {avx2::gemm_tile, 127, true},          {avx2::gemm_tile_signed, 255, true},
      {avx2::gemm_tile_for_u(16), 16, true}, {avx2::gemm_tile_for_u(32), 32, true},
      {avx2::gemm_tile_for_u(64), 64, true}, {avx2::gemm_tile_vnni, 255, cpu_has_avx_vnni()},
  };
  EXPECT_EQ(avx2::gemm_tile_for_u(127), avx2::gemm_tile);
  EXPECT_EQ(avx2::gemm_tile_for_u(255), avx2::gemm_tile_signed);
  EXPECT_EQ(avx2::gemm_tile_for_u(256), nullptr);
  for (const Kernel& kern : kernels) {
    if (!kern.available) continue;
    for (int64_t cols : {32, 1408}) {
      const int64_t nb = cols / 32;
      for (int pattern = 0; pattern < 3; ++pattern) {
        Aligned tile(tile_bytes(cols));
        fill_random_tile(tile.ptr, nb, kern.max_u, uint32_t(cols) + 11);
        const size_t ab = tile_act_bytes(cols);
        std::vector<uint8_t> act(ab * kTileTokens);
        for (int t = 0; t < kTileTokens; ++t) {
          auto x = random_floats(size_t(cols), uint32_t(17 + t), 3.0f);
          if (pattern > 0) {
            // Runs of equal signs, |q| = 127: token t flips sign every 2^t elements, so some
            // tokens keep one sign across a whole block.
            for (int64_t i = 0; i < cols; ++i) x[size_t(i)] = ((i >> t) & 1) ? -1.0f : 1.0f;
            for (int64_t kb = 0; kb < nb; ++kb)
              for (int i = 0; i < 512; ++i) {
                const int u = pattern == 1 ? kern.max_u : (i & 4 ? 0 : kern.max_u);
                tile.ptr[size_t(kb) * kTileBlockBytes + size_t(i)] = uint8_t(u);
              }
          }
          quantize_act_tile(x.data(), cols, act.data() + size_t(t) * ab);
        }
        for (int nt = 1; nt <= kTileTokens; ++nt) {
          float got[kTileTokens * kTileRows], want[kTileTokens * kTileRows];
          kern.fn(tile.ptr, nb, act.data(), int64_t(ab), nt, got);
          gemm_tile_ref(tile.ptr, nb, act.data(), int64_t(ab), nt, want);
          for (int i = 0; i < nt * kTileRows; ++i)
            ASSERT_EQ(got[i], want[i]) << "max_u=" << kern.max_u << " pattern=" << pattern
                                       << " cols=" << cols << " nt=" << nt << " i=" << i;
        }
      }
    }
  }
}
#endif

// The many-token kernel (of the ISAs that have one) against the reference, for token counts
// around its groups of 16 and partial tiles of rows.
void check_rows_kernel(const CpuKernels& k) {
  for (int64_t cols : {32, 96, 1408}) {
    const int64_t nb = cols / 32;
    Aligned tile(tile_bytes(cols));
    fill_random_tile(tile.ptr, nb, k.gemm_tile_max_u, uint32_t(cols) + 5);
    const size_t ab = tile_act_bytes(cols);
    const int max_n = 40;
    std::vector<uint8_t> act(ab * max_n);
    for (int t = 0; t < max_n; ++t) {
      const auto x = random_floats(size_t(cols), uint32_t(70 + t), 3.0f);
      quantize_act_tile(x.data(), cols, act.data() + size_t(t) * ab);
    }
    std::vector<float> want(size_t(max_n) * kTileRows);
    for (int t0 = 0; t0 < max_n; t0 += kTileTokens)
      gemm_tile_ref(tile.ptr, nb, act.data() + size_t(t0) * ab, int64_t(ab),
                    std::min(kTileTokens, max_n - t0), want.data() + size_t(t0) * kTileRows);
    for (int n : {1, 5, 15, 16, 17, 32, 33, 40}) {
      // The grouped layout, its unused slots cleared.
      const size_t gb = tile_act_group_bytes(cols);
      const int groups = (n + kActGroup - 1) / kActGroup;
      Aligned grouped(gb * size_t(groups));
      std::memset(grouped.ptr, 0x5A, gb * size_t(groups));
      for (int t = 0; t < n; ++t)
        group_act_tile(act.data() + size_t(t) * ab, cols, t % kActGroup,
                       grouped.ptr + size_t(t / kActGroup) * gb);
      if (n % kActGroup)
        clear_act_group_slots(cols, n % kActGroup, grouped.ptr + size_t(n / kActGroup) * gb);
      for (int nr : {16, 11}) {
        const int64_t ys = 19;  // a row stride wider than the tile
        std::vector<float> y(size_t(n) * size_t(ys), -7.0f);
        k.gemm_tile_rows(tile.ptr, nb, grouped.ptr, n, nr, y.data(), ys, act.data(), act.size());
        for (int t = 0; t < n; ++t)
          for (int r = 0; r < ys; ++r)
            ASSERT_EQ(y[size_t(t * ys + r)], r < nr ? want[size_t(t * kTileRows + r)] : -7.0f)
                << "cols=" << cols << " n=" << n << " nr=" << nr << " t=" << t << " r=" << r;
      }
    }
  }
}

TEST(GemmTileRows, BitIdenticalToReference) {
  int checked = 0;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kAmx}) {
    if (!isa_supported(isa) || !cpu_kernels_for(isa).gemm_tile_rows) continue;
    SCOPED_TRACE(isa_name(isa));
    check_rows_kernel(cpu_kernels_for(isa));
    ++checked;
  }
  if (checked == 0) GTEST_SKIP() << "no kernel table of this CPU has a many-token tile kernel";
}

TEST(GemmTileActivations, QuantiseWithinHalfAStep) {
  const int64_t cols = 96;
  auto x = random_floats(size_t(cols), 3, 2.0f);
  for (int i = 32; i < 64; ++i) x[size_t(i)] = 0.0f;  // an all-zero block
  std::vector<uint8_t> a(tile_act_bytes(cols));
  quantize_act_tile(x.data(), cols, a.data());
  const auto* q = reinterpret_cast<const int8_t*>(a.data());
  for (int64_t k = 0; k < cols / 32; ++k) {
    float d, ds;
    std::memcpy(&d, a.data() + cols + 4 * k, 4);
    std::memcpy(&ds, a.data() + cols + 4 * (cols / 32 + k), 4);
    int sum = 0, qmax = 0;
    for (int i = 0; i < 32; ++i) {
      const int v = q[32 * k + i];
      sum += v;
      qmax = std::max(qmax, std::abs(v));
      EXPECT_NEAR(d * float(v), x[size_t(32 * k + i)], 0.5f * d + 1e-7f);
    }
    EXPECT_EQ(ds, d * float(sum));
    if (k == 1) {
      EXPECT_EQ(d, 0.0f);
      EXPECT_EQ(qmax, 0);
    } else {
      EXPECT_EQ(qmax, 127);
    }
  }
}

TEST_P(GemmTileTest, ActivationQuantiserBitIdenticalToPortable) {
  const CpuKernels& k = cpu_kernels_for(GetParam());
  for (int64_t cols : {32, 512, 1408}) {
    auto x = random_floats(size_t(cols), uint32_t(cols), 1.5f);
    for (int i = 0; i < 32; ++i) x[size_t(i)] = 0.0f;                       // an all-zero block
    for (size_t i = 40; i < x.size(); i += 53) x[i] = 0.5f * float(i % 7);  // exact halves
    std::vector<uint8_t> got(tile_act_bytes(cols)), want(tile_act_bytes(cols));
    k.quantize_act_tile(x.data(), cols, got.data());
    quantize_act_tile(x.data(), cols, want.data());
    EXPECT_EQ(got, want) << "cols=" << cols;
  }
}

TEST_P(GemmTileTest, MatmulBatchBitIdenticalToSeparateMatmuls) {
  set_cpu_isa(GetParam());
  // Different formats and shapes, two jobs sharing x (their quantisation is shared), token
  // counts on both sides of the integer-tile threshold.
  Matrix a = make_matrix(GgmlType::Q4_K, 40, 512, 1), b = make_matrix(GgmlType::Q4_K, 24, 512, 2);
  Matrix c = make_matrix(GgmlType::Q5_0, 7, 256, 3), d = make_matrix(GgmlType::Q8_0, 33, 512, 4);
  for (int64_t n : {1, 3, 5}) {
    const auto x = random_floats(size_t(n * 512), 11, 1.0f);
    const auto x2 = random_floats(size_t(n * 256), 12, 1.0f);
    std::vector<float> ya(size_t(n * 40)), yb(size_t(n * 24)), yc(size_t(n * 7)),
        yd(size_t(n * 33));
    const MatmulJob jobs[4] = {{a.view, x.data(), n, ya.data()},
                               {b.view, x.data(), n, yb.data()},
                               {c.view, x2.data(), n, yc.data()},
                               {d.view, x.data(), 1, yd.data()}};
    for (int threads : {1, 2}) {
      ThreadPool pool(threads);
      matmul_batch(jobs, 4, pool);
      for (const MatmulJob& j : jobs) {
        std::vector<float> want(size_t(j.n * j.w.rows));
        matmul(j.w, j.x, j.n, want.data(), pool);
        for (size_t i = 0; i < want.size(); ++i)
          ASSERT_EQ(j.y[i], want[i]) << "n=" << n << " threads=" << threads << " i=" << i;
      }
    }
  }
}

// Jobs on one x whose tile layouts differ (Q6_K's two tile blocks per block against Q4_K's
// one) each get their own quantised activations.
TEST_P(GemmTileTest, MatmulBatchKeepsLayoutsApart) {
  set_cpu_isa(GetParam());
  Matrix a = make_matrix(GgmlType::Q4_K, 20, 512, 5), b = make_matrix(GgmlType::Q6_K, 18, 512, 6);
  for (int64_t n : {int64_t(20), int64_t(70)}) {  // tile path for both on every table
    const auto x = random_floats(size_t(n * 512), 13, 1.0f);
    std::vector<float> ya(size_t(n * 20)), yb(size_t(n * 18));
    const MatmulJob jobs[2] = {{a.view, x.data(), n, ya.data()}, {b.view, x.data(), n, yb.data()}};
    ThreadPool pool(2);
    matmul_batch(jobs, 2, pool);
    for (const MatmulJob& j : jobs) {
      std::vector<float> want(size_t(j.n * j.w.rows));
      matmul(j.w, j.x, j.n, want.data(), pool);
      for (size_t i = 0; i < want.size(); ++i)
        ASSERT_EQ(j.y[i], want[i]) << "n=" << n << " rows=" << j.w.rows << " i=" << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, GemmTileTest, ::testing::ValuesIn(built_isas()),
                         [](const auto& info) { return std::string(isa_name(info.param)); });

}  // namespace
}  // namespace ds

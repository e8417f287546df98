// The fused row kernels (dot_bf16_f32, vec_dot_<weight>_<activation>) against the scalar
// references on every ISA this CPU supports, and matmul's fused paths against a dequantised
// float64 product. Tolerances: docs/PERFORMANCE.md, "Numerics of the fused kernels".
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backend/cpu/kernels.h"
#include "core/dtype.h"
#include "ops/ops.h"
#include "quant/quant.h"
#include "runtime/thread_pool.h"

namespace ds {
namespace {

class RowDotTest : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!isa_supported(GetParam()))
      GTEST_SKIP() << isa_name(GetParam()) << " not supported by this CPU";
  }
  // The matmul test forces the table; the ISA in use before it is put back.
  void TearDown() override { set_cpu_isa(previous_); }
  const CpuKernels& k() const { return cpu_kernels_for(GetParam()); }

 private:
  Isa previous_ = cpu_kernels().isa;
};

std::vector<float> random_floats(size_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.0f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

TEST_P(RowDotTest, Bf16MatchesFloat64) {
  for (int64_t n : {1, 7, 8, 15, 16, 17, 31, 32, 33, 100, 1000, 2048}) {
    const int64_t ws = n + 5, xs = n + 3;  // rows need not be packed
    const auto wf = random_floats(size_t(kMaxRowTokens * ws), 11);
    std::vector<uint16_t> w(wf.size());
    for (size_t i = 0; i < wf.size(); ++i) w[i] = f32_to_bf16(wf[i]);
    const auto x = random_floats(size_t(kMaxRowTokens * xs), 12);
    for (int nr = 1; nr <= kMaxRowTokens; ++nr) {
      for (int nt = 1; nt <= kMaxRowTokens; ++nt) {
        float y[kMaxRowTokens * kMaxRowTokens];
        k().dot_bf16_f32(w.data(), ws, nr, x.data(), xs, nt, n, y);
        for (int r = 0; r < nr; ++r)
          for (int t = 0; t < nt; ++t) {
            double exact = 0, mag = 0;
            for (int64_t i = 0; i < n; ++i) {
              const double p = double(bf16_to_f32(w[size_t(r * ws + i)])) * x[size_t(t * xs + i)];
              exact += p;
              mag += std::fabs(p);
            }
            // fp32 accumulation: |error| ≤ 1e-6 · Σ|w·x| (≈ 8 ulp of the absolute sum).
            EXPECT_NEAR(y[r * kMaxRowTokens + t], exact, 1e-6 * mag + 1e-30)
                << "n=" << n << " nr=" << nr << " nt=" << nt << " r=" << r << " t=" << t;
          }
      }
    }
  }
}

// A row × token result has the same bits whatever block of rows and tokens it was computed
// in (matmul's blocking and thread split must not change results).
TEST_P(RowDotTest, F32AndBf16BlocksBitIdenticalToSingleDots) {
  for (int64_t n : {16, 33, 256, 1000}) {
    const int64_t ws = n + 5, xs = n + 3;
    const auto w = random_floats(size_t(kMaxRowTokens * ws), 15);
    const auto x = random_floats(size_t(kMaxRowTokens * xs), 16);
    std::vector<uint16_t> wb(w.size());
    for (size_t i = 0; i < w.size(); ++i) wb[i] = f32_to_bf16(w[i]);
    for (int nr = 1; nr <= kMaxRowTokens; ++nr)
      for (int nt = 1; nt <= kMaxRowTokens; ++nt) {
        float y[kMaxRowTokens * kMaxRowTokens], yb[kMaxRowTokens * kMaxRowTokens];
        k().dot_f32_rows(w.data(), ws, nr, x.data(), xs, nt, n, y);
        k().dot_bf16_f32(wb.data(), ws, nr, x.data(), xs, nt, n, yb);
        for (int r = 0; r < nr; ++r)
          for (int t = 0; t < nt; ++t) {
            float one[kMaxRowTokens * kMaxRowTokens], oneb[kMaxRowTokens * kMaxRowTokens];
            k().dot_f32_rows(w.data() + r * ws, ws, 1, x.data() + t * xs, xs, 1, n, one);
            k().dot_bf16_f32(wb.data() + r * ws, ws, 1, x.data() + t * xs, xs, 1, n, oneb);
            ASSERT_EQ(y[r * kMaxRowTokens + t], one[0])
                << "n=" << n << " nr=" << nr << " nt=" << nt;
            ASSERT_EQ(yb[r * kMaxRowTokens + t], oneb[0])
                << "n=" << n << " nr=" << nr << " nt=" << nt;
          }
      }
  }
}

TEST_P(RowDotTest, F32RowsMatchFloat64) {
  for (int64_t n : {1, 7, 8, 15, 16, 17, 33, 100, 1000}) {
    const int64_t ws = n + 5, xs = n + 3;
    const auto w = random_floats(size_t(kMaxRowTokens * ws), 13);
    const auto x = random_floats(size_t(kMaxRowTokens * xs), 14);
    for (int nr = 1; nr <= kMaxRowTokens; ++nr)
      for (int nt = 1; nt <= kMaxRowTokens; ++nt) {
        float y[kMaxRowTokens * kMaxRowTokens];
        k().dot_f32_rows(w.data(), ws, nr, x.data(), xs, nt, n, y);
        for (int r = 0; r < nr; ++r)
          for (int t = 0; t < nt; ++t) {
            double exact = 0, mag = 0;
            for (int64_t i = 0; i < n; ++i) {
              const double p = double(w[size_t(r * ws + i)]) * x[size_t(t * xs + i)];
              exact += p;
              mag += std::fabs(p);
            }
            EXPECT_NEAR(y[r * kMaxRowTokens + t], exact, 1e-6 * mag + 1e-30)
                << "n=" << n << " nr=" << nr << " nt=" << nt << " r=" << r << " t=" << t;
          }
      }
  }
}

struct QuantCase {
  GgmlType weight;
  void (*CpuKernels::*fn)(const void*, const void*, int64_t, int, int64_t, float*);
  // The ISA's own activation quantiser, where the kernel reads its own order.
  void (*CpuKernels::*act)(const float*, void*, int64_t) = nullptr;
};

TEST_P(RowDotTest, QuantisedMatchReference) {
  const QuantCase cases[] = {
      {GgmlType::Q8_0, &CpuKernels::vec_dot_q8_0_q8_0},
      {GgmlType::Q5_0, &CpuKernels::vec_dot_q5_0_q8_0},
      {GgmlType::Q4_K, &CpuKernels::vec_dot_q4_K_q8_K, &CpuKernels::quantize_act_q4_K},
      {GgmlType::Q6_K, &CpuKernels::vec_dot_q6_K_q8_K},
      {GgmlType::Q2_K, &CpuKernels::vec_dot_q2_K_q8_K},  // null in some tables
      {GgmlType::Q3_K, &CpuKernels::vec_dot_q3_K_q8_K},
      {GgmlType::IQ4_XS, &CpuKernels::vec_dot_iq4_xs_q8_K},
      {GgmlType::IQ4_NL, &CpuKernels::vec_dot_iq4_nl_q8_0}};
  for (const QuantCase& c : cases) {
    if (!(k().*c.fn)) continue;
    const QuantTraits* wt = quant_traits(c.weight);
    const QuantTraits* at = quant_traits(wt->vec_dot_type);
    // 32-element formats also take lengths that leave a partial group of 8 blocks and an
    // odd last block (the AVX-512 kernels run pairs of blocks, 8 at a time).
    std::vector<int64_t> lengths = {256, 512, 1536, 2048, 7168};
    if (wt->block_size == 32) lengths.insert(lengths.end(), {32, 96, 1440, 1408});
    for (int64_t n : lengths) {
      const size_t wbytes = size_t(n / wt->block_size) * wt->block_bytes;
      const size_t abytes = size_t(n / at->block_size) * at->block_bytes;
      // Scaled and offset inputs so that scales, mins and the -128…127 ranges all get used.
      auto wf = random_floats(size_t(n), uint32_t(n), 0.05f);
      for (size_t i = 0; i < wf.size(); i += 37) wf[i] *= 8;
      std::vector<uint8_t> w(wbytes), a(abytes * kMaxRowTokens), ak(abytes * kMaxRowTokens);
      wt->quantize(wf.data(), w.data(), n);
      std::vector<float> wd(static_cast<size_t>(n)), ad(static_cast<size_t>(n));
      wt->dequantize(w.data(), wd.data(), n);
      for (int t = 0; t < kMaxRowTokens; ++t) {
        auto xf = random_floats(size_t(n), uint32_t(100 + t), 2.0f);
        if (t == 1) xf[size_t(n / 2)] = -20.0f;  // a negative largest magnitude sets the sign
        if (t == 2) std::fill(xf.begin(), xf.begin() + std::min<int64_t>(n, 256), 0.0f);  // zeros
        at->quantize(xf.data(), a.data() + size_t(t) * abytes, n);
        if (c.act) {
          (k().*c.act)(xf.data(), ak.data() + size_t(t) * abytes, n);
          // The same Q8_K values, reordered at most within a block: same scale, same sums.
          for (int64_t blk = 0; blk < n / 256; ++blk) {
            const size_t off = size_t(t) * abytes + size_t(blk) * at->block_bytes;
            EXPECT_EQ(0, std::memcmp(a.data() + off, ak.data() + off, 4)) << "scale";
            EXPECT_EQ(0, std::memcmp(a.data() + off + 4 + 256, ak.data() + off + 4 + 256, 32))
                << "bsums";
            std::vector<int8_t> q1(a.data() + off + 4, a.data() + off + 260),
                q2(ak.data() + off + 4, ak.data() + off + 260);
            std::sort(q1.begin(), q1.end());
            std::sort(q2.begin(), q2.end());
            EXPECT_EQ(q1, q2) << "quants";
          }
        } else {
          std::copy_n(a.data() + size_t(t) * abytes, abytes, ak.data() + size_t(t) * abytes);
        }
      }
      for (int nt = 1; nt <= kMaxRowTokens; ++nt) {
        float y[kMaxRowTokens];
        (k().*c.fn)(w.data(), ak.data(), int64_t(abytes), nt, n, y);
        for (int t = 0; t < nt; ++t) {
          const uint8_t* at_row = a.data() + size_t(t) * abytes;
          const float want = wt->vec_dot(w.data(), at_row, n);
          at->dequantize(at_row, ad.data(), n);
          double mag = 0;
          for (int64_t i = 0; i < n; ++i) mag += std::fabs(double(wd[size_t(i)]) * ad[size_t(i)]);
          // Integer block sums are exact; the float combination may be reordered:
          // |error| ≤ 2e-6 · Σ|w·a| against the scalar reference.
          EXPECT_NEAR(y[t], want, 2e-6 * mag) << wt->name << " n=" << n << " nt=" << nt;
        }
      }
    }
  }
}

TEST_P(RowDotTest, MatmulFusedPathsMatchDequantised) {
  set_cpu_isa(GetParam());
  ThreadPool pool(2);
  const int64_t rows = 37, cols = 512;  // 37: partial row and register blocks
  for (GgmlType gt : {GgmlType::BF16, GgmlType::F16, GgmlType::Q8_0, GgmlType::Q5_0, GgmlType::Q4_K,
                      GgmlType::Q6_K, GgmlType::Q4_0, GgmlType::Q5_K, GgmlType::IQ4_XS,
                      GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::IQ4_NL}) {
    const QuantTraits* wt = quant_traits(gt);
    const auto wf = random_floats(size_t(rows * cols), 5, 0.1f);
    std::vector<uint8_t> w(size_t(rows * cols / wt->block_size) * wt->block_bytes);
    const size_t rb = size_t(cols / wt->block_size) * wt->block_bytes;
    for (int64_t r = 0; r < rows; ++r) wt->quantize(wf.data() + r * cols, w.data() + r * rb, cols);
    WeightView v;
    DType dt;
    ASSERT_TRUE(ggml_type_to_dtype(gt, &dt));
    v.dtype = dt;
    v.data = w.data();
    v.rows = rows;
    v.cols = cols;
    std::vector<float> wd(size_t(rows * cols));
    for (int64_t r = 0; r < rows; ++r) dequantize_row(v, r, wd.data() + r * cols);
    // 9 and 21 tokens take the integer GEMM tiles for the formats it covers (whole and
    // partial token groups); fewer take the row-dot kernels.
    for (int64_t n : {1, 3, 4, 9, 21}) {
      const auto x = random_floats(size_t(n * cols), 6);
      std::vector<float> y(size_t(n * rows)), y2(size_t(n * rows));
      matmul(v, x.data(), n, y.data(), pool);
      matmul_rows(v, x.data(), n, y2.data(), rows, 0, rows);
      for (int64_t t = 0; t < n; ++t)
        for (int64_t r = 0; r < rows; ++r) {
          double exact = 0, mag = 0;
          for (int64_t i = 0; i < cols; ++i) {
            const double p = double(wd[size_t(r * cols + i)]) * x[size_t(t * cols + i)];
            exact += p;
            mag += std::fabs(p);
          }
          const float got = y[size_t(t * rows + r)];
          // BF16 keeps f32 activations; the GGML types quantise them to 8 bits (ggml's
          // scheme, or 32-element blocks on the integer path), which costs up to ~1/127 of
          // each block's largest activation per term.
          const double tol = gt == GgmlType::BF16 || gt == GgmlType::F16 ? 1e-6 * mag : 2e-2 * mag;
          EXPECT_NEAR(got, exact, tol) << wt->name << " n=" << n << " t=" << t << " r=" << r;
          EXPECT_EQ(got, y2[size_t(t * rows + r)]) << "matmul and matmul_rows differ";
        }
    }
  }
}

// BF16 weights on the AMX-BF16 tiles (where the table has them; elsewhere the same calls
// take the other paths): every token count from one up, partial groups of 16 tokens and
// partial blocks of 16 rows, against float64 within the BF16 path's bound.
TEST_P(RowDotTest, Bf16TilesMatchFloat64) {
  set_cpu_isa(GetParam());
  ThreadPool pool(2);
  set_matmul_bf16_tile_min_tokens(1);
  const int64_t rows = 37, cols = 96;
  const auto wf = random_floats(size_t(rows * cols), 21, 0.1f);
  std::vector<uint16_t> w(wf.size());
  for (size_t i = 0; i < w.size(); ++i) w[i] = f32_to_bf16(wf[i]);
  WeightView v;
  v.dtype = DType::BF16;
  v.data = w.data();
  v.rows = rows;
  v.cols = cols;
  for (int64_t n : {1, 5, 16, 17, 33, 40}) {
    auto x = random_floats(size_t(n * cols), 22);
    x[7] = 1e-30f;  // tiny and huge activations: the three pieces keep them whole
    x[8] = 3e30f;
    std::vector<float> y(size_t(n * rows));
    matmul(v, x.data(), n, y.data(), pool);
    for (int64_t t = 0; t < n; ++t)
      for (int64_t r = 0; r < rows; ++r) {
        double exact = 0, mag = 0;
        for (int64_t i = 0; i < cols; ++i) {
          const double p = double(bf16_to_f32(w[size_t(r * cols + i)])) * x[size_t(t * cols + i)];
          exact += p;
          mag += std::fabs(p);
        }
        EXPECT_NEAR(y[size_t(t * rows + r)], exact, 1e-6 * mag)
            << "n=" << n << " t=" << t << " r=" << r;
      }
  }
  set_matmul_bf16_tile_min_tokens(kDefaultBf16TileMinTokens);
}

// FP8 e4m3 weights with 128 × 128 block scales (DeepSeek's checkpoints): the fused decode
// kernel (1–4 tokens) and the widened path (more tokens) against float64 on the dequantised
// weights, on a view that starts inside a scale band (row0 102: a group of 4 rows straddles
// two bands) and is 200 columns wide (a partial block, and tails of every vector width);
// a NaN byte (0x7f) makes its row's results NaN and no other.
TEST_P(RowDotTest, Fp8MatmulMatchesFloat64) {
  set_cpu_isa(GetParam());
  ThreadPool pool(2);
  // 200 columns: a partial block and tails of every vector width (the row kernels and the
  // widened path); 320: multiples of 32 (the AMX tiles from 8 tokens on, with 2.5 scale
  // blocks).
  for (const int64_t cols : {200, 320}) {
    const int64_t rows = 37, row0 = 102, all_rows = row0 + rows;
    std::mt19937 g(17);
    std::vector<uint8_t> w(size_t(all_rows * cols));
    for (auto& b : w) {
      b = uint8_t(g() & 0xff);
      if ((b & 0x7f) == 0x7f) b ^= 1;  // no NaN yet
    }
    const int64_t scale_cols = (cols + 127) / 128, bands = (all_rows + 127) / 128;
    std::vector<float> scales(size_t(bands * scale_cols));
    for (auto& v : scales) v = std::ldexp(1.0f + float(g() % 1000) / 1000.0f, -int(g() % 12));
    WeightView full;
    full.dtype = DType::F8_E4M3;
    full.data = w.data();
    full.rows = all_rows;
    full.cols = cols;
    full.scale_inv = scales.data();
    full.scale_cols = scale_cols;
    const WeightView v = full.row_slice(row0, rows);
    ASSERT_EQ(v.row0, row0);
    auto weight = [&](int64_t r, int64_t c) {
      return double(fp8_e4m3_to_f32(w[size_t((row0 + r) * cols + c)])) *
             double(scales[size_t(((row0 + r) / 128) * scale_cols + c / 128)]);
    };
    for (int64_t n : {1, 2, 3, 4, 9, 17, 40}) {
      const auto x = random_floats(size_t(n * cols), 18);
      std::vector<float> y(size_t(n * rows));
      matmul(v, x.data(), n, y.data(), pool);
      for (int64_t t = 0; t < n; ++t)
        for (int64_t r = 0; r < rows; ++r) {
          double exact = 0, mag = 0;
          for (int64_t c = 0; c < cols; ++c) {
            exact += weight(r, c) * x[size_t(t * cols + c)];
            mag += std::fabs(weight(r, c) * x[size_t(t * cols + c)]);
          }
          EXPECT_NEAR(y[size_t(t * rows + r)], exact, 1e-6 * mag + 1e-30)
              << "cols=" << cols << " n=" << n << " t=" << t << " r=" << r;
        }
    }
    w[size_t((row0 + 5) * cols + 150)] = 0xff;  // e4m3fn NaN (negative)
    for (int64_t n : {1, 9, 40}) {
      const auto x = random_floats(size_t(n * cols), 19);
      std::vector<float> y(size_t(n * rows));
      matmul(v, x.data(), n, y.data(), pool);
      for (int64_t t = 0; t < n; ++t)
        for (int64_t r = 0; r < rows; ++r)
          EXPECT_EQ(std::isnan(y[size_t(t * rows + r)]), r == 5)
              << "cols=" << cols << " n=" << n << " r=" << r;
    }
  }
}

// matmul and matmul_batch hand out chunks of rows to whichever thread asks first; every row
// must come out once and bit-identical to one thread computing all of them, on a matrix
// large enough to be chunked (kClaimMinWork), with a partial last block, for one to many
// tokens.
TEST_P(RowDotTest, ChunkedThreadsEqualOneThread) {
  set_cpu_isa(GetParam());
  ThreadPool pool(3);
  const int64_t cols = 256;
  const int64_t rows[3] = {20000, 77, 515};  // 20000 × 256: past the chunking threshold
  std::vector<std::vector<float>> wf;
  for (int j = 0; j < 3; ++j) wf.push_back(random_floats(size_t(rows[j] * cols), 11 + j, 0.1f));
  std::vector<uint16_t> wb(wf[2].size());
  for (size_t i = 0; i < wb.size(); ++i) wb[i] = f32_to_bf16(wf[2][i]);
  WeightView v[3];
  for (int j = 0; j < 3; ++j) {
    v[j].dtype = j == 2 ? DType::BF16 : DType::F32;
    v[j].data = j == 2 ? static_cast<const void*>(wb.data()) : wf[size_t(j)].data();
    v[j].rows = rows[j];
    v[j].cols = cols;
  }
  for (int64_t n : {1, 4, 9}) {
    const auto x = random_floats(size_t(n * cols), 12);
    std::vector<std::vector<float>> one(3), y(3), yb(3);
    MatmulJob jobs[3];
    for (int j = 0; j < 3; ++j) {
      one[size_t(j)].assign(size_t(n * rows[j]), 0.0f);
      matmul_rows(v[j], x.data(), n, one[size_t(j)].data(), rows[j], 0, rows[j]);
      y[size_t(j)].assign(size_t(n * rows[j]), std::nanf(""));
      yb[size_t(j)].assign(size_t(n * rows[j]), std::nanf(""));
      matmul(v[j], x.data(), n, y[size_t(j)].data(), pool);
      jobs[j] = {v[j], x.data(), n, yb[size_t(j)].data()};
    }
    matmul_batch(jobs, 3, pool);
    for (int j = 0; j < 3; ++j)
      for (size_t i = 0; i < one[size_t(j)].size(); ++i) {
        ASSERT_EQ(y[size_t(j)][i], one[size_t(j)][i]) << "matmul, job " << j << " n=" << n;
        ASSERT_EQ(yb[size_t(j)][i], one[size_t(j)][i]) << "matmul_batch, job " << j << " n=" << n;
      }
  }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, RowDotTest, ::testing::ValuesIn(built_isas()),
                         [](const auto& info) { return std::string(isa_name(info.param)); });

}  // namespace
}  // namespace ds

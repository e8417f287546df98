// Prints the kGolden table of tests/unit/quant_golden_test.cpp: FNV-1a hashes of what
// llama.cpp's own ggml-quants.c produces on the deterministic inputs of quant_test_util.h,
// and whether our reference code reproduces them. Not part of the build; run it by hand with
// a llama.cpp checkout in $LLAMA (ggml-quants.c needs four ggml symbols, stubbed below):
//
//   cc -O2 -c $LLAMA/ggml/src/ggml-quants.c -I$LLAMA/ggml/include -I$LLAMA/ggml/src -o q.o
//   c++ -std=c++20 -O2 -Isrc -Itests/unit tests/golden/quant/gen_golden.cpp q.o \
//       build/libdsinfer_core.a -o /tmp/gen_golden && /tmp/gen_golden
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include "quant/quant.h"

// ggml-quants.c references these for error paths and i-quant tables we do not call.
extern "C" {
[[noreturn]] void ggml_abort(const char*, int, const char*, ...) {
  std::abort();
}
size_t ggml_row_size(int, int64_t) {
  std::abort();
}
const char* ggml_type_name(int) {
  return "?";
}
size_t ggml_type_size(int) {
  std::abort();
}
}
extern "C" {
void quantize_row_q4_0_ref(const float*, void*, int64_t);
void quantize_row_q4_1_ref(const float*, void*, int64_t);
void quantize_row_q5_0_ref(const float*, void*, int64_t);
void quantize_row_q5_1_ref(const float*, void*, int64_t);
void quantize_row_q8_0_ref(const float*, void*, int64_t);
void quantize_row_q8_1_ref(const float*, void*, int64_t);
void quantize_row_q2_K_ref(const float*, void*, int64_t);
void quantize_row_q3_K_ref(const float*, void*, int64_t);
void quantize_row_q4_K_ref(const float*, void*, int64_t);
void quantize_row_q5_K_ref(const float*, void*, int64_t);
void quantize_row_q6_K_ref(const float*, void*, int64_t);
void quantize_row_q8_K_ref(const float*, void*, int64_t);
size_t quantize_iq4_nl(const float*, void*, int64_t, int64_t, const float*);
size_t quantize_iq4_xs(const float*, void*, int64_t, int64_t, const float*);
void dequantize_row_q4_0(const void*, float*, int64_t);
void dequantize_row_q4_1(const void*, float*, int64_t);
void dequantize_row_q5_0(const void*, float*, int64_t);
void dequantize_row_q5_1(const void*, float*, int64_t);
void dequantize_row_q8_0(const void*, float*, int64_t);
void dequantize_row_q2_K(const void*, float*, int64_t);
void dequantize_row_q3_K(const void*, float*, int64_t);
void dequantize_row_q4_K(const void*, float*, int64_t);
void dequantize_row_q5_K(const void*, float*, int64_t);
void dequantize_row_q6_K(const void*, float*, int64_t);
void dequantize_row_q8_K(const void*, float*, int64_t);
void dequantize_row_iq4_nl(const void*, float*, int64_t);
void dequantize_row_iq4_xs(const void*, float*, int64_t);
void dequantize_row_iq2_xxs(const void*, float*, int64_t);
void dequantize_row_iq2_xs(const void*, float*, int64_t);
void dequantize_row_iq2_s(const void*, float*, int64_t);
void dequantize_row_iq3_xxs(const void*, float*, int64_t);
void dequantize_row_iq3_s(const void*, float*, int64_t);
void dequantize_row_iq1_s(const void*, float*, int64_t);
void dequantize_row_iq1_m(const void*, float*, int64_t);
}
static void iq4nl_wrap(const float* x, void* y, int64_t n) {
  quantize_iq4_nl(x, y, 1, n, nullptr);
}
static void iq4xs_wrap(const float* x, void* y, int64_t n) {
  quantize_iq4_xs(x, y, 1, n, nullptr);
}
#include "quant_test_util.h"
using namespace ds::quant_test;
using QF = void (*)(const float*, void*, int64_t);
using DF = void (*)(const void*, float*, int64_t);
int main() {
  struct {
    const char* id;
    ds::GgmlType t;
    QF q;
    DF d;
  } cases[] = {
      {"Q4_0", ds::GgmlType::Q4_0, quantize_row_q4_0_ref, dequantize_row_q4_0},
      {"Q4_1", ds::GgmlType::Q4_1, quantize_row_q4_1_ref, dequantize_row_q4_1},
      {"Q5_0", ds::GgmlType::Q5_0, quantize_row_q5_0_ref, dequantize_row_q5_0},
      {"Q5_1", ds::GgmlType::Q5_1, quantize_row_q5_1_ref, dequantize_row_q5_1},
      {"Q8_0", ds::GgmlType::Q8_0, quantize_row_q8_0_ref, dequantize_row_q8_0},
      {"Q8_1", ds::GgmlType::Q8_1, quantize_row_q8_1_ref, nullptr},
      {"Q2_K", ds::GgmlType::Q2_K, quantize_row_q2_K_ref, dequantize_row_q2_K},
      {"Q3_K", ds::GgmlType::Q3_K, quantize_row_q3_K_ref, dequantize_row_q3_K},
      {"Q4_K", ds::GgmlType::Q4_K, quantize_row_q4_K_ref, dequantize_row_q4_K},
      {"Q5_K", ds::GgmlType::Q5_K, quantize_row_q5_K_ref, dequantize_row_q5_K},
      {"Q6_K", ds::GgmlType::Q6_K, quantize_row_q6_K_ref, dequantize_row_q6_K},
      {"Q8_K", ds::GgmlType::Q8_K, quantize_row_q8_K_ref, dequantize_row_q8_K},
      {"IQ4_NL", ds::GgmlType::IQ4_NL, iq4nl_wrap, dequantize_row_iq4_nl},
      {"IQ4_XS", ds::GgmlType::IQ4_XS, iq4xs_wrap, dequantize_row_iq4_xs},
      {"IQ2_XXS", ds::GgmlType::IQ2_XXS, nullptr, dequantize_row_iq2_xxs},
      {"IQ2_XS", ds::GgmlType::IQ2_XS, nullptr, dequantize_row_iq2_xs},
      {"IQ2_S", ds::GgmlType::IQ2_S, nullptr, dequantize_row_iq2_s},
      {"IQ3_XXS", ds::GgmlType::IQ3_XXS, nullptr, dequantize_row_iq3_xxs},
      {"IQ3_S", ds::GgmlType::IQ3_S, nullptr, dequantize_row_iq3_s},
      {"IQ1_S", ds::GgmlType::IQ1_S, nullptr, dequantize_row_iq1_s},
      {"IQ1_M", ds::GgmlType::IQ1_M, nullptr, dequantize_row_iq1_m},
  };
  const std::vector<float> x = golden_input();
  const int64_t n = int64_t(x.size());
  for (auto& c : cases) {
    const ds::QuantTraits* tr = ds::quant_traits(c.t);
    uint64_t hq = 0, hd = 0;
    bool same = true;
    if (c.q) {
      std::vector<uint8_t> a(ds::ggml_row_bytes(c.t, n)), b(a.size());
      c.q(x.data(), a.data(), n);
      tr->quantize(x.data(), b.data(), n);
      same = a == b;
      hq = fnv1a(a.data(), a.size());
    }
    if (c.d) {
      std::vector<uint8_t> q = golden_blocks(c.t, n);
      std::vector<float> y(n), y2(n);
      c.d(q.data(), y.data(), n);
      tr->dequantize(q.data(), y2.data(), n);
      same = same && hash_floats(y) == hash_floats(y2);
      hd = hash_floats(y);
    }
    printf("    {GgmlType::%s, 0x%016llxull, 0x%016llxull},  // %s\n", c.id, (unsigned long long)hq,
           (unsigned long long)hd, same ? "ours matches" : "OURS DIFFERS");
  }
}

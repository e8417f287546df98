#include "runtime/machine_limits.h"

#include "core/clock.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <vector>

#include "backend/cpu/kernels.h"
#include "core/huge_buffer.h"
#include "runtime/thread_pool.h"

namespace ds {

namespace {

// The best of three runs of a register-only loop on every thread: operations per second / 1e9.
double best_rate(ThreadPool& pool, double (*loop)(int64_t), int64_t iters) {
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    std::vector<double> ops(size_t(pool.size()));
    const double t0 = now_seconds();
    pool.run([&](int ti, int) { ops[size_t(ti)] = loop(iters); });
    const double dt = now_seconds() - t0;
    double total = 0;
    for (double f : ops) total += f;
    best = std::max(best, total / dt / 1e9);
  }
  return best;
}

}  // namespace

MachineLimits measure_machine(ThreadPool& pool, int64_t buffer_bytes) {
  MachineLimits r;
  const CpuKernels& k = cpu_kernels();
  const int64_t n = buffer_bytes / int64_t(sizeof(float));
  // Huge pages, like weights read with FileLoading::kRead (core/mapped_file.h): with 4 KiB
  // pages the pass would measure page walks as well.
  HugeBuffer mem(size_t(n) * sizeof(float));
  float* buf = reinterpret_cast<float*>(mem.data());
  // Touch every page from the thread that will read it (first-touch placement).
  pool.run([&](int ti, int nt) {
    int64_t b, e;
    split_range(n, ti, nt, &b, &e);
    std::fill(buf + b, buf + e, 1.0f);
  });
  std::vector<double> sink(size_t(pool.size()));
  for (int rep = 0; rep < 5; ++rep) {
    const double t0 = now_seconds();
    pool.run([&](int ti, int nt) {
      int64_t b, e;
      split_range(n, ti, nt, &b, &e);
      // One read stream through the F32 row kernel, which prefetches ahead as the weight
      // kernels do (a plain loop leaves the stream to the hardware prefetcher and reads less).
      float y = 0;
      k.dot_f32_rows(buf + b, 0, 1, buf + b, 0, 1, e - b, &y);
      sink[size_t(ti)] += y;
    });
    const double dt = now_seconds() - t0;
    r.read_gbps = std::max(r.read_gbps, double(n) * sizeof(float) / dt / 1e9);
  }
  r.fma_gflops = best_rate(pool, k.fma_loop, 20'000'000);
  r.int8_gops = best_rate(pool, k.int8_loop, 10'000'000);
  return r;
}

}  // namespace ds

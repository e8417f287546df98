#include "runtime/machine_limits.h"

#include "core/clock.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "backend/cpu/kernels.h"
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
  std::vector<float> buf(static_cast<size_t>(n));
  // Touch every page from the thread that will read it (first-touch placement).
  pool.run([&](int ti, int nt) {
    int64_t b, e;
    split_range(n, ti, nt, &b, &e);
    std::fill(buf.begin() + b, buf.begin() + e, 1.0f);
  });
  std::vector<double> sink(size_t(pool.size()));
  for (int rep = 0; rep < 5; ++rep) {
    const double t0 = now_seconds();
    pool.run([&](int ti, int nt) {
      int64_t b, e;
      split_range(n, ti, nt, &b, &e);
      sink[size_t(ti)] += k.dot_f32(buf.data() + b, buf.data() + b, e - b);  // one read stream
    });
    const double dt = now_seconds() - t0;
    r.read_gbps = std::max(r.read_gbps, double(n) * sizeof(float) / dt / 1e9);
  }
  r.fma_gflops = best_rate(pool, k.fma_loop, 20'000'000);
  r.int8_gops = best_rate(pool, k.int8_loop, 10'000'000);
  return r;
}

}  // namespace ds

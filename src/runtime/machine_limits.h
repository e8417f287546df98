// The two limits speed is judged against: memory read bandwidth (decode) and FMA peak (prefill).
#pragma once

#include <cstdint>

namespace ds {

class ThreadPool;

struct MachineLimits {
  double read_gbps = 0;   // GB/s (1e9 bytes) of a read-only streaming pass, all threads
  double fma_gflops = 0;  // GFLOP/s of the widest FMA kernel, all threads
};

/// Measures both limits with `pool`'s threads (a read pass over `buffer_bytes`, then an FMA
/// loop); each is the best of a few repetitions. Takes about a second.
MachineLimits measure_machine(ThreadPool& pool, int64_t buffer_bytes = int64_t(1) << 30);

}  // namespace ds

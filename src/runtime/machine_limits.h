// The limits speed is judged against: memory read bandwidth (decode), and the FMA peak (f32
// and bf16 weights) or 8-bit dot-product peak (quantised weights on the integer tiles) for
// prefill.
#pragma once

#include <cstdint>

namespace ds {

class ThreadPool;

struct MachineLimits {
  double read_gbps = 0;   // GB/s (1e9 bytes) of a read-only streaming pass, all threads
  double fma_gflops = 0;  // GFLOP/s of the widest FMA kernel, all threads
  double int8_gops = 0;   // G int ops/s (2 per 8-bit multiply-add) of the integer tiles'
                          // dot-product instruction, all threads
};

/// Measures both limits with `pool`'s threads (a read pass over `buffer_bytes`, then an FMA
/// loop); each is the best of a few repetitions. Takes about a second.
MachineLimits measure_machine(ThreadPool& pool, int64_t buffer_bytes = int64_t(1) << 30);

}  // namespace ds

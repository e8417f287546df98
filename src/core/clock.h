// Wall-clock seconds from a monotonic clock, for timings and benchmarks.
#pragma once

#include <chrono>

namespace ds {

/// Seconds since an arbitrary fixed point (steady_clock); only differences are meaningful.
inline double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace ds

// A fixed pool of worker threads with a deterministic static work split.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ds {

/// Runs one function on every thread at once: fn(thread_index, n_threads). Each kernel
/// computes its own range from those two numbers, so results never depend on scheduling.
/// Idle workers sleep on a condition variable (no busy-spinning while the server idles).
class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }
  /// Calls fn(i, size()) for i in [0, size()); the caller runs i = 0. Returns when all finished.
  void run(const std::function<void(int, int)>& fn);

  /// Default thread count: the number of physical cores (hyper-threads share FMA units).
  static int default_threads();

 private:
  void worker(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable start_cv_, done_cv_;
  const std::function<void(int, int)>* job_ = nullptr;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
};

/// Splits [0, n) into `parts` contiguous ranges as evenly as possible; returns range `i`.
inline void split_range(int64_t n, int i, int parts, int64_t* begin, int64_t* end) {
  const int64_t base = n / parts, rem = n % parts;
  *begin = i * base + (i < rem ? i : rem);
  *end = *begin + base + (i < rem ? 1 : 0);
}

}  // namespace ds

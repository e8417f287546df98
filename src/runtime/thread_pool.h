// A fixed pool of worker threads with a deterministic static work split.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ds {

/// Runs one function on every thread at once: fn(thread_index, n_threads). Each kernel
/// computes its own range from those two numbers, so results never depend on scheduling.
///
/// A forward pass hands the pool a few hundred small jobs, microseconds apart; waking a
/// sleeping thread through the kernel costs about as much as one of those jobs. So a worker
/// that finishes a job spins (with a pause instruction) for a short while, `spin_us`, waiting
/// for the next one, and only then sleeps on a condition variable; the caller waits for the
/// workers the same way. An idle pool — a server between requests — sleeps: it never spins
/// longer than `spin_us` after its last job.
class ThreadPool {
 public:
  explicit ThreadPool(int n_threads, int spin_us = 200);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }
  /// Calls fn(i, size()) for i in [0, size()); the caller runs i = 0. Returns when all finished.
  void run(const std::function<void(int, int)>& fn);

  /// Lets the workers sleep now instead of spinning for the next job: for a caller that
  /// has other work before its next run() (a server streaming tokens between steps), whose
  /// threads then get the cores. The next run() wakes them.
  void rest() { rest_.store(true, std::memory_order_relaxed); }

  /// Default thread count: the number of physical cores (hyper-threads share FMA units).
  static int default_threads();

 private:
  void worker(int index);

  int n_threads_;
  int64_t spin_ns_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable start_cv_, done_cv_;
  // Published with `generation_` (release) and read after seeing it change (acquire).
  const std::function<void(int, int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  // Threads blocked (or about to block) on start_cv_ / done_cv_: only then does a notify
  // have to take the mutex. Sequentially consistent with generation_ / pending_, so a
  // sleeper either sees the new value before it sleeps or is seen and woken.
  std::atomic<int> sleepers_{0};
  std::atomic<bool> caller_waiting_{false};
  std::atomic<bool> rest_{false};
  std::atomic<bool> stop_{false};
};

/// Splits [0, n) into `parts` contiguous ranges as evenly as possible; returns range `i`.
inline void split_range(int64_t n, int i, int parts, int64_t* begin, int64_t* end) {
  const int64_t base = n / parts, rem = n % parts;
  *begin = i * base + (i < rem ? i : rem);
  *end = *begin + base + (i < rem ? 1 : 0);
}

/// fn(begin, end) over contiguous ranges of [0, n), one per thread of the pool, or once over
/// all of [0, n) on the calling thread when the job (about n · cost_per_item element
/// operations) is too small to pay for the hand-off. For loops whose items are independent,
/// so the result is the same either way.
template <class F>
void parallel_ranges(ThreadPool& pool, int64_t n, int64_t cost_per_item, F&& fn) {
  if (pool.size() == 1 || n < 2 || n * cost_per_item < 32768) {
    fn(int64_t(0), n);
    return;
  }
  pool.run([&](int ti, int nt) {
    int64_t b, e;
    split_range(n, ti, nt, &b, &e);
    if (b < e) fn(b, e);
  });
}

}  // namespace ds

#include "runtime/thread_pool.h"

#include <chrono>
#include <fstream>
#include <set>
#include <string>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace ds {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

int64_t mono_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Spins until done() or until spin_ns have passed; true when done() became true.
template <typename Pred>
bool spin_until(Pred done, int64_t spin_ns) {
  if (spin_ns <= 0) return done();
  const int64_t t0 = mono_ns();
  for (int i = 0;; ++i) {
    if (done()) return true;
    cpu_relax();
    if ((i & 63) == 63 && mono_ns() - t0 > spin_ns) return done();
  }
}

}  // namespace

ThreadPool::ThreadPool(int n_threads, int spin_us)
    : n_threads_(n_threads < 1 ? 1 : n_threads),
      spin_ns_(int64_t(spin_us < 0 ? 0 : spin_us) * 1000) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_.store(true);
  }
  start_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run(const std::function<void(int, int)>& fn) {
  if (n_threads_ == 1) {
    fn(0, 1);
    return;
  }
  job_ = &fn;
  rest_.store(false, std::memory_order_relaxed);
  pending_.store(n_threads_ - 1);
  generation_.fetch_add(1);  // seq_cst: publishes job_ and orders against sleepers_
  if (sleepers_.load() > 0) {
    { std::lock_guard<std::mutex> lk(mu_); }
    start_cv_.notify_all();
  }
  fn(0, n_threads_);
  if (!spin_until([this] { return pending_.load(std::memory_order_acquire) == 0; }, spin_ns_)) {
    std::unique_lock<std::mutex> lk(mu_);
    caller_waiting_.store(true);
    done_cv_.wait(lk, [this] { return pending_.load() == 0; });
    caller_waiting_.store(false);
  }
  job_ = nullptr;
}

void ThreadPool::worker(int index) {
  uint64_t seen = 0;
  for (;;) {
    auto ready = [&] {
      return stop_.load(std::memory_order_relaxed) ||
             generation_.load(std::memory_order_acquire) != seen;
    };
    spin_until([&] { return ready() || rest_.load(std::memory_order_relaxed); }, spin_ns_);
    if (!ready()) {
      std::unique_lock<std::mutex> lk(mu_);
      sleepers_.fetch_add(1);
      start_cv_.wait(lk, [&] { return stop_.load() || generation_.load() != seen; });
      sleepers_.fetch_sub(1);
    }
    if (stop_.load()) return;
    seen = generation_.load(std::memory_order_acquire);
    (*job_)(index, n_threads_);
    if (pending_.fetch_sub(1) == 1 && caller_waiting_.load()) {
      { std::lock_guard<std::mutex> lk(mu_); }
      done_cv_.notify_one();
    }
  }
}

int ThreadPool::default_threads() {
  // Count distinct (physical id, core id) pairs; fall back to hardware_concurrency.
  std::ifstream in("/proc/cpuinfo");
  std::set<std::pair<std::string, std::string>> cores;
  std::string line, phys = "0";
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
    std::string val = colon + 2 <= line.size() ? line.substr(colon + 2) : "";
    if (key == "physical id") phys = val;
    if (key == "core id") cores.insert({phys, val});
  }
  int n = int(cores.size());
  if (n <= 0) n = int(std::thread::hardware_concurrency());
  return n > 0 ? n : 1;
}

}  // namespace ds

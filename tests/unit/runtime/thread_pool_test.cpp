// The pool's hand-off between spinning and sleeping: every job runs exactly once on every
// thread, whether the workers are still spinning (back-to-back jobs) or asleep (gaps longer
// than the spin window), and the pool shuts down from either state.
#include "runtime/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace ds {
namespace {

void run_jobs(ThreadPool& pool, int jobs, std::chrono::microseconds gap, bool rest = false) {
  const int n = pool.size();
  std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
  for (int j = 0; j < jobs; ++j) {
    std::vector<int> seen(static_cast<size_t>(n), 0);
    pool.run([&](int ti, int nt) {
      ASSERT_EQ(nt, n);
      seen[static_cast<size_t>(ti)] += 1;
      hits[static_cast<size_t>(ti)].fetch_add(1);
    });
    // run() returns only after every thread finished this job, exactly once each.
    for (int t = 0; t < n; ++t) ASSERT_EQ(seen[static_cast<size_t>(t)], 1) << "job " << j;
    if (rest) pool.rest();
    if (gap.count() > 0) std::this_thread::sleep_for(gap);
  }
  for (int t = 0; t < n; ++t) EXPECT_EQ(hits[static_cast<size_t>(t)].load(), jobs);
}

TEST(ThreadPool, BackToBackJobsWhileSpinning) {
  ThreadPool pool(2, /*spin_us=*/1000);
  run_jobs(pool, 3000, std::chrono::microseconds(0));
}

TEST(ThreadPool, JobsAfterWorkersFellAsleep) {
  ThreadPool pool(2, /*spin_us=*/20);
  run_jobs(pool, 50, std::chrono::microseconds(300));
}

TEST(ThreadPool, NoSpinAtAll) {
  ThreadPool pool(2, /*spin_us=*/0);
  run_jobs(pool, 2000, std::chrono::microseconds(0));
}

TEST(ThreadPool, MixedGapsAroundTheSpinWindow) {
  ThreadPool pool(2, /*spin_us=*/50);
  for (int gap : {0, 10, 40, 60, 100, 0, 55}) run_jobs(pool, 40, std::chrono::microseconds(gap));
}

// rest() sends spinning workers to sleep at once (a long spin window that would otherwise
// keep them spinning through every gap); the next job wakes them, at any gap, and rest()
// right before a job changes nothing.
TEST(ThreadPool, JobsAfterRest) {
  ThreadPool pool(3, /*spin_us=*/100000);
  for (int gap : {0, 5, 50, 0, 200})
    run_jobs(pool, 200, std::chrono::microseconds(gap), /*rest=*/true);
}

TEST(ThreadPool, ShutsDownWhileWorkersSleepOrSpin) {
  for (int spin : {0, 100000}) {
    ThreadPool pool(3, spin);
    run_jobs(pool, 3, std::chrono::microseconds(0));
  }
  ThreadPool idle(3, 10);
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

TEST(ThreadPool, SplitRangeCoversEveryIndexOnce) {
  for (int64_t n : {0, 1, 7, 64, 1001})
    for (int parts : {1, 2, 3, 8}) {
      int64_t next = 0;
      for (int i = 0; i < parts; ++i) {
        int64_t b, e;
        split_range(n, i, parts, &b, &e);
        EXPECT_EQ(b, next);
        EXPECT_GE(e, b);
        next = e;
      }
      EXPECT_EQ(next, n);
    }
}

}  // namespace
}  // namespace ds

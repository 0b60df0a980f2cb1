// ThreadPool: every index runs exactly once per call, across many calls; exceptions and
// destruction are safe.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <stdexcept>
#include <thread>
#include <vector>

#include "runtime/read_bandwidth.h"
#include "runtime/thread_pool.h"

using entropix::ThreadPool;

TEST(ThreadPool, EveryIndexRunsOncePerCall) {
  for (int n : {1, 2, 3, 4, 8}) {
    ThreadPool pool(n);
    ASSERT_EQ(pool.size(), n);
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    const int kCalls = n <= 2 ? 2000 : 200;  // more threads than cores make each call slow
    for (int call = 0; call < kCalls; ++call) {
      pool.run([&](int i, int total) {
        ASSERT_EQ(total, n);
        ASSERT_GE(i, 0);
        ASSERT_LT(i, n);
        hits[static_cast<size_t>(i)].fetch_add(1);
      });
      // run() returns only after every thread finished this call.
      for (int i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), call + 1) << "n=" << n;
    }
  }
}

TEST(ThreadPool, CallerIsThreadZero) {
  ThreadPool pool(3);
  const auto caller = std::this_thread::get_id();
  std::vector<std::thread::id> ids(3);
  pool.run([&](int i, int) { ids[static_cast<size_t>(i)] = std::this_thread::get_id(); });
  EXPECT_EQ(ids[0], caller);
  EXPECT_NE(ids[1], caller);
  EXPECT_NE(ids[2], caller);
  EXPECT_NE(ids[1], ids[2]);
}

TEST(ThreadPool, SingleThreadRunsInline) {
  ThreadPool pool(1);
  std::thread::id seen;
  pool.run([&](int i, int n) {
    EXPECT_EQ(i, 0);
    EXPECT_EQ(n, 1);
    seen = std::this_thread::get_id();
  });
  EXPECT_EQ(seen, std::this_thread::get_id());
  EXPECT_EQ(ThreadPool(0).size(), 1);
}

TEST(ThreadPool, WorkIsDividedAndComplete) {
  ThreadPool pool(3);
  std::vector<int> out(1000, 0);
  for (int rep = 0; rep < 100; ++rep) {
    pool.run([&](int i, int n) {
      for (size_t k = static_cast<size_t>(i); k < out.size(); k += static_cast<size_t>(n)) out[k] += 1;
    });
  }
  for (int v : out) ASSERT_EQ(v, 100);
}

TEST(ThreadPool, WorkersWakeAfterSleeping) {
  ThreadPool pool(2);
  std::atomic<int> count{0};
  for (int rep = 0; rep < 3; ++rep) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // past the spin phase
    pool.run([&](int, int) { count.fetch_add(1); });
  }
  EXPECT_EQ(count.load(), 6);
}

TEST(ThreadPool, ExceptionsReachTheCallerAndPoolStaysUsable) {
  ThreadPool pool(3);
  EXPECT_THROW(pool.run([](int i, int) {
    if (i == 2) throw std::runtime_error("worker failed");
  }),
               std::runtime_error);
  EXPECT_THROW(pool.run([](int i, int) {
    if (i == 0) throw std::runtime_error("caller failed");
  }),
               std::runtime_error);
  std::atomic<int> count{0};
  pool.run([&](int, int) { count.fetch_add(1); });
  EXPECT_EQ(count.load(), 3);
}

TEST(ThreadPool, DestructionWithAndWithoutWork) {
  for (int rep = 0; rep < 50; ++rep) {
    ThreadPool idle(4);  // destroyed before its workers ever ran a task
  }
  for (int rep = 0; rep < 50; ++rep) {
    ThreadPool pool(3);
    std::atomic<int> count{0};
    pool.run([&](int, int) { count.fetch_add(1); });
    EXPECT_EQ(count.load(), 3);
  }
}

// The read-bandwidth probe reads the whole buffer on every thread count and reports a
// finite, positive rate (its figure itself is the machine's, checked by no test).
TEST(ReadBandwidth, ReportsAFinitePositiveRateForEveryThreadCount) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    const double gbs = measure_read_bandwidth(pool, size_t{4} << 20, 2);
    EXPECT_GT(gbs, 0.0) << threads;
    EXPECT_TRUE(std::isfinite(gbs)) << threads;
  }
}

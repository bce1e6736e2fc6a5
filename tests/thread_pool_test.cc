// Specifies store/thread_pool.h: ParallelFor runs every index exactly once, on the caller and the
// workers, concurrent callers run side by side without being lost or mixed up, and an exception reaches the caller.
#include "store/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <new>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace ckptdb {
namespace {

// Runs ParallelFor(n) on `pool` and checks that each index in [0, n) ran exactly once.
void ExpectEachIndexRunsExactlyOnce(ThreadPool& pool, size_t n, const std::string& what) {
  std::unique_ptr<std::atomic<int>[]> runs(new std::atomic<int>[n + 1]);
  for (size_t i = 0; i <= n; ++i) runs[i] = 0;
  std::atomic<size_t> out_of_range{0};
  pool.ParallelFor(n, [&](size_t i) {
    if (i >= n) {
      out_of_range.fetch_add(1);
      return;
    }
    runs[i].fetch_add(1);
  });
  // ParallelFor has returned: every index must have run by now, not merely eventually.
  EXPECT_EQ(out_of_range.load(), 0u) << what;
  size_t wrong = 0;
  for (size_t i = 0; i < n; ++i)
    if (runs[i].load() != 1) {
      if (++wrong <= 5) ADD_FAILURE() << what << ": index " << i << " ran " << runs[i].load() << " times";
    }
  EXPECT_EQ(wrong, 0u) << what;
}

TEST(ThreadPool, ParallelForRunsEachIndexExactlyOnceForEverySizeAndPoolSize) {
  for (int threads : {1, 2, 8}) {
    ThreadPool pool(threads, "test:pool");
    EXPECT_EQ(pool.size(), threads);
    for (size_t n : {size_t{0}, size_t{1}, size_t{2}, size_t{1000}})
      ExpectEachIndexRunsExactlyOnce(pool, n, "threads=" + std::to_string(threads) + " n=" + std::to_string(n));
  }
}

TEST(ThreadPool, ParallelForWithZeroItemsNeverCallsTheFunction) {
  for (int threads : {1, 2, 8}) {
    ThreadPool pool(threads, "test:pool");
    std::atomic<int> calls{0};
    pool.ParallelFor(0, [&](size_t) { calls.fetch_add(1); });
    EXPECT_EQ(calls.load(), 0) << "threads=" << threads;
  }
}

TEST(ThreadPool, ZeroThreadsMeansOnePerCore) {
  ThreadPool pool(0, "test:pool");
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  EXPECT_EQ(pool.size(), cores);
  ExpectEachIndexRunsExactlyOnce(pool, 1000, "threads=0");
}

TEST(ThreadPool, NegativeThreadCountIsTreatedLikeZero) {
  ThreadPool pool(-3, "test:pool");
  EXPECT_GE(pool.size(), 1);
  ExpectEachIndexRunsExactlyOnce(pool, 100, "threads=-3");
}

TEST(ThreadPool, WorkersTakePartWhenThereIsMoreThanOneIndex) {
  ThreadPool pool(4, "test:pool");
  std::mutex mu;
  std::set<std::thread::id> seen;
  // Each index sleeps, so the caller alone cannot drain the queue before some worker wakes up.
  pool.ParallelFor(64, [&](size_t) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    std::lock_guard<std::mutex> l(mu);
    seen.insert(std::this_thread::get_id());
  });
  EXPECT_GT(seen.size(), 1u);
  EXPECT_LE(seen.size(), 4u);
}

TEST(ThreadPool, ASinglePoolServesManySuccessiveCalls) {
  // Thousands of back-to-back jobs exercise the hand-over between generations: a worker that wakes
  // late must neither run an old job's indices again nor miss the new one.
  ThreadPool pool(8, "test:pool");
  for (int round = 0; round < 2000; ++round) {
    const size_t n = static_cast<size_t>(round % 7);
    std::vector<std::atomic<int>> runs(n);
    for (auto& r : runs) r = 0;
    pool.ParallelFor(n, [&](size_t i) { runs[i].fetch_add(1); });
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(runs[i].load(), 1) << "round " << round << " index " << i;
  }
}

TEST(ThreadPool, ConcurrentParallelForCallsFromTwoThreadsBothComplete) {
  for (int threads : {1, 2, 8}) {
    ThreadPool pool(threads, "test:pool");
    constexpr int kRounds = 200;
    constexpr size_t kN = 257;
    std::atomic<int> errors{0};
    auto caller = [&] {
      for (int round = 0; round < kRounds; ++round) {
        std::vector<std::atomic<int>> runs(kN);
        for (auto& r : runs) r = 0;
        pool.ParallelFor(kN, [&](size_t i) { runs[i].fetch_add(1); });
        for (size_t i = 0; i < kN; ++i)
          if (runs[i].load() != 1) errors.fetch_add(1);
      }
    };
    std::thread a(caller);
    std::thread b(caller);
    a.join();
    b.join();
    EXPECT_EQ(errors.load(), 0) << "threads=" << threads;
  }
}

TEST(ThreadPool, ASecondCallFinishesWhileALongCallFromAnotherThreadStillRuns) {
  // The header promises that calls run side by side: a short call (a restore) must not queue
  // behind a long one (a save) that occupies every worker.
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads, "test:pool");
    std::atomic<bool> release{false};
    std::atomic<int> long_started{0};
    std::thread long_call([&] {
      pool.ParallelFor(64, [&](size_t) {
        long_started.fetch_add(1);
        while (!release.load()) std::this_thread::sleep_for(std::chrono::microseconds(100));
      });
    });
    while (long_started.load() == 0) std::this_thread::yield();
    std::atomic<int> short_runs{0};
    pool.ParallelFor(100, [&](size_t) { short_runs.fetch_add(1); });
    EXPECT_EQ(short_runs.load(), 100) << "threads=" << threads;
    EXPECT_FALSE(release.load());
    release = true;
    long_call.join();
  }
}

TEST(ThreadPool, AnExceptionFromAnIndexReachesTheCallerAndThePoolKeepsWorking) {
  for (int threads : {1, 2, 8}) {
    ThreadPool pool(threads, "test:pool");
    std::atomic<int> ran{0};
    std::atomic<bool> thrown{false};
    EXPECT_THROW(pool.ParallelFor(1000, [&](size_t i) {
      ran.fetch_add(1);
      if (i == 3) {
        thrown = true;
        throw std::bad_alloc();
      }
      // Later indices take a millisecond once index 3 has thrown, so the others cannot all start in
      // the microseconds before the pool records the failure (on a loaded machine they did: the
      // thread running index 3 was preempted while its peers ran all 996 trivial indices).
      if (i > 3) {
        while (!thrown) std::this_thread::yield();
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }), std::bad_alloc) << "threads=" << threads;
    EXPECT_LT(ran.load(), 1000) << "indices after the failure are skipped";
    ExpectEachIndexRunsExactlyOnce(pool, 500, "after an exception, threads=" + std::to_string(threads));
  }
}

TEST(ThreadPool, DestroyingAnIdlePoolJoinsItsWorkers) {
  for (int i = 0; i < 50; ++i) {
    ThreadPool pool(8, "test:pool");
    if (i % 2) pool.ParallelFor(10, [](size_t) {});
  }
  SUCCEED();
}

}  // namespace
}  // namespace ckptdb

// ThreadPool: a fixed set of workers for ParallelFor over chunk tasks.
//
// ParallelFor runs fn(0..n-1) on the workers and the calling thread, handing out indices in order
// from a shared counter, and returns when all are done. Calls from different threads are
// serialised. Thread safety: ParallelFor may be called from any thread; fn must be thread-safe.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ckptdb {

class ThreadPool {
 public:
  // `threads` in total counting the caller; 0 means one per core.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void ParallelFor(size_t n, const std::function<void(size_t)>& fn);
  int size() const { return static_cast<int>(workers_.size()) + 1; }

 private:
  struct Job;
  void WorkerLoop();
  static void Drain(Job& job);

  std::mutex call_mu_;  // one ParallelFor at a time
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::thread> workers_;
  Job* job_ = nullptr;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

}  // namespace ckptdb

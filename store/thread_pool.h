// ThreadPool: a fixed set of workers for ParallelFor over chunk tasks.
//
// ParallelFor runs fn(0..n-1) on the calling thread and on the workers, handing out indices in
// order from a per-call counter, and returns when all are done. Calls from different threads run
// side by side: every caller works on its own call, and workers take one index at a time from the
// call in progress that has the fewest workers (the oldest among equals), so a restore started
// during a long save is neither queued behind it nor left to its caller's thread alone. If fn throws, the indices not yet started are skipped and the first exception is rethrown on
// the caller's thread once every running index has finished; a worker never dies of it.
// Thread safety: ParallelFor may be called from any thread; fn must be thread-safe.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <list>
#include <mutex>
#include <thread>
#include <vector>

namespace ckptdb {

class ThreadPool {
 public:
  // `threads` in total counting the caller; 0 means one per core. The workers are named `name`
  // (store/thread_name.h).
  ThreadPool(int threads, const char* name);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void ParallelFor(size_t n, const std::function<void(size_t)>& fn);
  int size() const { return static_cast<int>(workers_.size()) + 1; }

 private:
  struct Job;
  void WorkerLoop();
  // The oldest call that still has indices to hand out, or nullptr. REQUIRES: mu_ held.
  Job* NextJob();

  std::mutex mu_;
  std::condition_variable work_cv_;  // workers: a call has indices to hand out, or stop_
  std::condition_variable done_cv_;  // callers: a worker let go of a call
  std::vector<std::thread> workers_;
  std::list<Job*> jobs_;  // calls in progress, oldest first; guarded by mu_
  bool stop_ = false;
};

}  // namespace ckptdb

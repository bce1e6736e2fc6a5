#include "store/thread_pool.h"

#include <atomic>
#include <exception>

#include "store/thread_name.h"

namespace ckptdb {

struct ThreadPool::Job {
  size_t n;
  const std::function<void(size_t)>* fn;
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;  // the first exception; written once, by whoever set `failed`
  int active_workers = 0;    // guarded by mu_

  // Runs one index if any is left (and none threw); false when there was none. Exceptions stay
  // inside the job.
  bool RunOne() {
    size_t i;
    if (failed.load(std::memory_order_relaxed) || (i = next.fetch_add(1)) >= n) return false;
    try {
      (*fn)(i);
    } catch (...) {
      if (!failed.exchange(true)) error = std::current_exception();
    }
    return true;
  }
  void Drain() {
    while (RunOne()) {
    }
  }
  bool HasWork() const { return !failed.load(std::memory_order_relaxed) && next.load() < n; }
};

ThreadPool::ThreadPool(int threads, const char* name) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < threads; ++i) NameThread(workers_.emplace_back([this] { WorkerLoop(); }), name);
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

ThreadPool::Job* ThreadPool::NextJob() {
  // The call with work left that has the fewest workers, the oldest among equals: a short restore
  // started during a long save gets workers at the save's next index boundary, not after it.
  Job* pick = nullptr;
  for (Job* job : jobs_)
    if (job->HasWork() && (!pick || job->active_workers < pick->active_workers)) pick = job;
  return pick;
}

void ThreadPool::WorkerLoop() {
  std::unique_lock<std::mutex> l(mu_);
  while (true) {
    Job* job = nullptr;
    work_cv_.wait(l, [&] { return stop_ || (job = NextJob()) != nullptr; });
    if (stop_) return;
    // One index at a time, choosing again after each, so workers spread over the calls in progress.
    ++job->active_workers;
    l.unlock();
    job->RunOne();
    l.lock();
    --job->active_workers;
    done_cv_.notify_all();
  }
}

void ThreadPool::ParallelFor(size_t n, const std::function<void(size_t)>& fn) {
  if (n == 0) return;
  Job job;
  job.n = n;
  job.fn = &fn;
  const bool share = !workers_.empty() && n > 1;
  std::list<Job*>::iterator self;
  if (share) {
    std::lock_guard<std::mutex> l(mu_);
    self = jobs_.insert(jobs_.end(), &job);
  }
  if (share) work_cv_.notify_all();
  job.Drain();
  if (share) {
    std::unique_lock<std::mutex> l(mu_);
    jobs_.erase(self);  // no worker picks it up from here on
    // The job lives on this stack: wait until no worker still runs one of its indices.
    done_cv_.wait(l, [&] { return job.active_workers == 0; });
  }
  if (job.error) std::rethrow_exception(job.error);
}

}  // namespace ckptdb

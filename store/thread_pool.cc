#include "store/thread_pool.h"

#include <atomic>

namespace ckptdb {

struct ThreadPool::Job {
  size_t n;
  const std::function<void(size_t)>* fn;
  std::atomic<size_t> next{0};
  std::atomic<size_t> done{0};
  int active_workers = 0;  // guarded by mu_
};

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::Drain(Job& job) {
  for (size_t i; (i = job.next.fetch_add(1)) < job.n;) {
    (*job.fn)(i);
    job.done.fetch_add(1);
  }
}

void ThreadPool::WorkerLoop() {
  uint64_t seen = 0;
  std::unique_lock<std::mutex> l(mu_);
  while (true) {
    cv_.wait(l, [&] { return stop_ || (job_ != nullptr && generation_ != seen); });
    if (stop_) return;
    seen = generation_;
    Job* job = job_;
    ++job->active_workers;
    l.unlock();
    Drain(*job);
    l.lock();
    --job->active_workers;
    cv_.notify_all();
  }
}

void ThreadPool::ParallelFor(size_t n, const std::function<void(size_t)>& fn) {
  if (n == 0) return;
  std::lock_guard<std::mutex> call(call_mu_);
  Job job;
  job.n = n;
  job.fn = &fn;
  if (!workers_.empty() && n > 1) {
    std::lock_guard<std::mutex> l(mu_);
    job_ = &job;
    ++generation_;
  }
  cv_.notify_all();
  Drain(job);
  std::unique_lock<std::mutex> l(mu_);
  // The job lives on this stack: wait until every index ran and no worker still holds it.
  cv_.wait(l, [&] { return job.done.load() == n && job.active_workers == 0; });
  job_ = nullptr;
}

}  // namespace ckptdb

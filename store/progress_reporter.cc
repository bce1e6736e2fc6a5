#include "store/progress_reporter.h"

#include <algorithm>
#include <exception>

namespace ckptdb {

ProgressReporter::ProgressReporter(const ProgressFn& fn, uint64_t total) : fn_(fn), total_(total), last_ns_(NowNs()) {
  if (!fn_ || total_ == 0) return;
  std::lock_guard<std::mutex> l(call_mu_);
  Report(0);
}

int64_t ProgressReporter::NowNs() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void ProgressReporter::Add(uint64_t bytes) {
  const uint64_t done = done_.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  // All done is left to Finish: the contract's one call with done == total is the last, and comes
  // only once the operation succeeded.
  if (!fn_ || failed() || done >= total_) return;
  const int64_t now = NowNs();
  int64_t last = last_ns_.load(std::memory_order_relaxed);
  if (now - last < std::chrono::nanoseconds(kInterval).count()) return;
  // A worker never waits for another's report: a slow callback delays only the thread in it.
  std::unique_lock<std::mutex> l(call_mu_, std::try_to_lock);
  if (!l.owns_lock() || !last_ns_.compare_exchange_strong(last, now)) return;
  // Read again under the lock: a value read before another report ran could be below its value.
  const uint64_t now_done = std::max(done, done_.load(std::memory_order_relaxed));
  if (now_done < total_) Report(now_done);
}

Status ProgressReporter::Finish() {
  Status s = status();
  if (fn_ && s.ok()) {
    std::lock_guard<std::mutex> l(call_mu_);
    Report(total_);
  }
  return s;
}

Status ProgressReporter::status() const {
  if (!failed()) return Status::OK();
  std::lock_guard<std::mutex> l(call_mu_);
  return Status::Aborted("the progress callback threw: " + error_);
}

void ProgressReporter::Report(uint64_t done) {
  if (failed()) return;
  // Never above total (a caller's count cannot overshoot, but the contract must hold regardless),
  // never below what was reported already.
  done = std::max(reported_, std::min(done, total_));
  reported_ = done;
  try {
    fn_(Progress{done, total_});
  } catch (const std::exception& e) {
    error_ = e.what();
    failed_.store(true);
  } catch (...) {
    error_ = "an exception that is not a std::exception";
    failed_.store(true);
  }
}

}  // namespace ckptdb

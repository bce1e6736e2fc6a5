// ProgressReporter: the one implementation of the ProgressFn contract (ckptdb/options.h) that
// every operation with a progress option shares: throttling, serialised calls, the final call,
// and containment of a callback that throws.
//
// Thread safety: Add may be called from any thread at once; Finish once, after every Add.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>

#include "ckptdb/options.h"
#include "ckptdb/status.h"

namespace ckptdb {

class ProgressReporter {
 public:
  // Reports (0, total) at once unless `fn` is empty or total is 0. `fn` must outlive this.
  ProgressReporter(const ProgressFn& fn, uint64_t total);
  ProgressReporter(const ProgressReporter&) = delete;
  ProgressReporter& operator=(const ProgressReporter&) = delete;

  // Counts `bytes` more as done and reports if ~100 ms passed since the last report, no other
  // report is running and some work is left: done == total is reported by Finish alone.
  void Add(uint64_t bytes);
  // The final report, (total, total), unless the callback threw before; returns status() as it
  // was before that report: the work is done, so a throw from the final call changes no result.
  Status Finish();
  // True once the callback threw: the operation should stop and return status().
  bool failed() const { return failed_.load(std::memory_order_relaxed); }
  // OK, or Aborted "the progress callback threw: ..." once it did.
  Status status() const;

  static constexpr std::chrono::milliseconds kInterval{100};

 private:
  void Report(uint64_t done);  // REQUIRES: call_mu_ held
  int64_t NowNs() const;

  const ProgressFn& fn_;
  const uint64_t total_;
  std::atomic<uint64_t> done_{0};
  std::atomic<int64_t> last_ns_;
  std::atomic<bool> failed_{false};
  mutable std::mutex call_mu_;  // one call of fn_ at a time; guards reported_ and error_
  uint64_t reported_ = 0;
  std::string error_;
};

}  // namespace ckptdb

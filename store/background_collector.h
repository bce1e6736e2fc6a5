// Runs garbage collection on its own thread when asked, so a save that rotated checkpoints away
// returns without waiting for their disk space to be reclaimed, and the trainer never has to call
// CollectGarbage itself for disk usage to stay bounded.
//
// Thread safety: all methods may be called from any thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "ckptdb/status.h"

namespace ckptdb {

class BackgroundCollector {
 public:
  explicit BackgroundCollector(std::function<Status()> collect) : collect_(std::move(collect)) {}
  // Finishes a requested collection (so a process that saves and exits still reclaims), then joins.
  ~BackgroundCollector();

  // Asks for one collection after the current one, if any; requests made meanwhile merge into one.
  void Request();
  // Waits until no collection is requested or running, then returns (and forgets) the first error
  // of the collections since the last call.
  Status Wait();
  // Without waiting: returns (and forgets) the first error of the collections that finished since
  // the last call. A collection still running reports at a later call.
  Status TakeFinishedError();
  // Waits until no collection is requested or running; keeps the error for a later call.
  void WaitIdle();

 private:
  void Loop();

  const std::function<Status()> collect_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool pending_ = false, running_ = false, stop_ = false;
  Status error_;
  std::thread thread_;  // started by the first request
};

}  // namespace ckptdb

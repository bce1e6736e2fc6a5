// SaveHandle: an asynchronous save (Store::SaveAsync) whose state has been captured and whose
// persist (hash, write, sync, commit) runs on the store's persist thread.
//
// Thread safety: every method may be called from any thread, on copies of one handle too; a
// handle stays valid after its store is closed or destroyed (the persist has then ended: Close
// finishes or abandons every pending one).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "ckptdb/checkpoint.h"
#include "ckptdb/status.h"

namespace ckptdb {

struct SaveOutcome;  // store/save_queue.h

class SaveHandle {
 public:
  // A handle of no save: Done() is true and Wait() returns FailedPrecondition.
  SaveHandle() = default;
  explicit SaveHandle(std::shared_ptr<SaveOutcome> outcome) : outcome_(std::move(outcome)) {}

  // Blocks until the persist has ended, then returns what it committed, exactly as Store::Save
  // would have, or its error (nothing was committed): IOError, AlreadyExists for a tag that a save
  // committed first, FailedPrecondition for known chunks collected meanwhile, Aborted when
  // Store::AbandonPendingSaves dropped it. Every call returns the same result.
  Result<SavedCheckpoint> Wait() const;
  // Blocks at most `timeout`; true if the persist has ended (Wait then returns at once).
  bool WaitFor(std::chrono::nanoseconds timeout) const;
  // Whether the persist has ended; never blocks.
  bool Done() const;
  // The step the save was asked to record.
  int64_t step() const;

 private:
  std::shared_ptr<SaveOutcome> outcome_;
};

}  // namespace ckptdb

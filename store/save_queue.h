// SaveQueue: the order in which a store's saves commit, and the thread that persists its
// asynchronous ones.
//
// Every save takes a place in one queue when it is submitted and commits only once every save
// before it has ended, so commits follow submission order. A synchronous Store::Save runs its own
// stages on the caller's thread when its turn comes (RunInline). An asynchronous one (Submit) is
// captured on the caller's thread into the StagingPool, block by block, each filled block a piece
// handed to the persist thread, which runs the hash, look-up and write stages on it, gives the
// block back, and commits after the last piece. While the state fits the pool the persist waits
// for the capture to end, so that the two do not share the cores while the caller is stalled;
// once the capture must wait for a block, the persist starts and frees blocks as it goes, and the
// state is persisted in pieces within the one commit.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "ckptdb/save_handle.h"
#include "store/save_stages.h"
#include "store/staging_pool.h"
#include "store/thread_pool.h"

namespace ckptdb {

class PendingSave;

// The result of one asynchronous save, shared by its handles and the queue.
struct SaveOutcome {
  explicit SaveOutcome(int64_t s) : step(s) {}
  void Set(Result<SavedCheckpoint> r);
  const int64_t step;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  Result<SavedCheckpoint> result = Status::Internal("the save has not ended");
};

class SaveQueue {
 public:
  // `copy_pool` copies captures; `max_pending` (>= 1) bounds the asynchronous saves pending at once.
  SaveQueue(std::string store_path, ThreadPool& copy_pool, StagingPool& staging, int max_pending);
  ~SaveQueue();  // finishes every pending save, then stops the persist thread
  SaveQueue(const SaveQueue&) = delete;
  SaveQueue& operator=(const SaveQueue&) = delete;

  // Waits while max_pending asynchronous saves are pending (back-pressure), queues `save`, captures
  // the bytes of its tasks that are not known from `tensors` (those `save` was planned from) and
  // returns its handle once every byte is copied. Errors (nothing is queued or committed): the
  // unreported failure of an earlier persist (TakeError), AlreadyExists for a tag a pending save
  // carries, ResourceExhausted when staging memory cannot be allocated.
  Result<SaveHandle> Submit(std::unique_ptr<PendingSave> save, std::span<const TensorRef> tensors);
  // Submit, with the capture done by `capture` instead of into the StagingPool: it runs on this
  // thread when the save's turn to capture comes (after the back-pressure wait), and returns the
  // source the persist reads every task from, which must no longer depend on the caller's tensors.
  // The persist destroys the source, on its thread, once the save has ended. Errors: as Submit,
  // and `capture`'s own (nothing is queued or committed then).
  Result<SaveHandle> SubmitCaptured(std::unique_ptr<PendingSave> save,
                                    const MakeChunkSource& capture);
  // Waits until every save submitted before has ended, then returns `run()` run on this thread
  // (or, instead, the unreported failure of an earlier persist).
  Result<SavedCheckpoint> RunInline(const std::function<Result<SavedCheckpoint>()>& run);
  // Drops every asynchronous save not yet committing and returns their steps, in submission order,
  // once they have ended (their handles' Wait returns Aborted). Saves already committing finish.
  std::vector<int64_t> AbandonAll();
  // Waits until no save is pending.
  void Drain();
  // The first failure of a background persist since the last report, reported once (OK if none).
  Status TakeError();

 private:
  struct Piece {
    std::vector<size_t> tasks;
    uint8_t* block;  // given back once the tasks are written; null for known tasks
  };
  struct Job {
    std::shared_ptr<SaveOutcome> outcome;
    std::unique_ptr<PendingSave> save;  // null for a synchronous save's turn
    std::vector<const uint8_t*> staged;  // per task: where the capture copied it
    std::unique_ptr<ChunkSource> source;  // SubmitCaptured's; null: the staged copies
    std::deque<Piece> pieces;
    bool started = false;   // the persist may take pieces before the capture ends
    bool captured = false;  // the capture has ended (all pieces queued, or it gave up)
    bool abandoned = false;
    Status capture_error;   // returned by Submit, so not a background failure
  };
  // Queues the job of `save` (after the back-pressure wait), runs `capture` on it and returns its
  // handle; the one place Submit and SubmitCaptured share.
  Result<SaveHandle> Enqueue(std::unique_ptr<PendingSave> save, const std::function<Status(Job&)>& capture);
  Status Capture(Job& job, std::span<const TensorRef> tensors);
  void Push(Job& job, Piece piece);
  // A staging block for `job`'s capture, waiting for the persist to give one back when none is
  // free; nullptr once the job is abandoned.
  Result<uint8_t*> TakeBlock(Job& job);
  void PersistLoop();
  Status TakeErrorLocked();  // REQUIRES: mu_ held

  const std::string path_;
  ThreadPool& copy_pool_;
  StagingPool& staging_;
  const int max_pending_;
  std::mutex capture_mu_;  // held by the one capture running
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> jobs_;  // in submission order; the front one may commit
  int async_ = 0;                          // asynchronous jobs in jobs_
  Status error_;                           // the first unreported background failure
  bool stop_ = false;
  std::thread persister_;  // last: started once everything above is built
};

}  // namespace ckptdb

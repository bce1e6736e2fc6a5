// PendingSave: one save in progress, run stage by stage, on the model of LevelDB's TableBuilder:
// a sticky status (the first error fails every later call and commits nothing), then exactly one
// Finish or Abandon.
//
//   plan     Begin: checks the input, cuts the tensors into chunk tasks, builds the manifest
//            skeleton; copies what it keeps, so the caller's TensorRefs may go once it returns.
//   capture  the caller's part: a ChunkSource says where each task's bytes are (the tensors
//            themselves for Store::Save, staging memory for Store::SaveAsync).
//   hash     Add: the ChunkHasher digests the pieces' chunks, in batches, on the save pool.
//   look up  Add: a known digest (TensorRef::known_chunks) is checked present with its length;
//            a new one is deduplicated within the save and against the chunk index.
//   write    Add: chunks the store lacks go into this save's pack file (O_DIRECT), a task group's
//            new chunks in one large write (store/pack_run.h), written by the save's one writer
//            thread while the workers hash on (store/pack_queue.h).
//   commit   Finish: syncs the pack, applies retention, and commits index entries, manifest and
//            retirements in one synced batch.
//
// From its first Add (or Finish) to Finish or Abandon it holds the store's save lock, so lookups,
// tag checks, ids and the commit never interleave with another save or edit; a collection commits
// only around it. Add and Finish must run on one thread (the lock's owner); RequestStop may be
// called from any.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <unordered_set>
#include <vector>

#include "store/save_stages.h"
#include "store/store_impl.h"

namespace ckptdb {

class PackRun;

class PendingSave {
 public:
  // The plan stage. Errors: as Store::Save's input checks and its tag check (AlreadyExists), with
  // `where` put first; nothing is locked or written.
  static Result<std::unique_ptr<PendingSave>> Begin(StoreImpl& store, std::span<const TensorRef> tensors,
                                                    const SaveOptions& options);
  ~PendingSave();  // abandons a save neither finished nor abandoned
  PendingSave(const PendingSave&) = delete;
  PendingSave& operator=(const PendingSave&) = delete;

  // Every chunk of every tensor, tensor after tensor.
  std::span<const ChunkTask> tasks() const { return tasks_; }
  // Whether task k's digest was given (TensorRef::known_chunks): its bytes are never needed.
  bool known(size_t k) const { return known_[tasks_[k].tensor]; }
  uint64_t logical_bytes() const { return manifest_.info.logical_bytes; }
  int64_t step() const { return manifest_.info.step; }
  const std::vector<std::string>& tags() const { return manifest_.info.tags; }

  // The hash, look-up and write stages for tasks `which` (each once over the save's life), whose
  // bytes `source` gives (not read for known tasks). Returns the sticky status.
  Status Add(std::span<const size_t> which, const ChunkSource& source);
  // The commit stage, once every task was added. On error nothing is committed.
  Result<SavedCheckpoint> Finish();
  // Gives the save up: nothing commits, and the pack it wrote is deleted.
  void Abandon();
  // Makes the next chunk of a running Add fail with Aborted, from any thread.
  void RequestStop() { stop_.store(true); }
  const Status& status() const { return status_; }

 private:
  PendingSave(StoreImpl& store, std::string where) : store_(store), where_(std::move(where)) {}
  void Lock();
  void Fail(Status s);  // keeps the first error, with where_ put first
  // The look-up and write stages of one new chunk: task k's chunk (digest `d`, bytes at `view`
  // through `source`) goes inline into the index when small, else into `run`, unless the store or
  // this save already has it.
  Status Place(size_t k, const Digest& d, const ChunkView& view, const ChunkSource& source, PackRun& run);
  Status WriteInline(const Digest& d, const ChunkView& view);
  Result<PackWriter*> Writer();  // this save's pack, created at the first call
  void Placed(const Digest& d, uint64_t offset, uint64_t length);  // a run wrote chunk d there
  Status CheckKnown(size_t k, const Digest& d);
  // AlreadyExists naming the first of `tags` that a committed checkpoint carries.
  Status CheckTagsFree(const std::vector<std::string>& tags) const;
  Result<SavedCheckpoint> Commit();

  StoreImpl& store_;
  const std::string where_;  // "store P, saving step N"
  SaveOptions options_;      // metadata, metrics, structure: moved into the manifest at commit
  std::vector<ChunkTask> tasks_;
  std::vector<bool> known_;  // per tensor
  CheckpointManifest manifest_;
  std::unique_lock<std::mutex> lock_;  // the store's save lock, once taken
  Status status_;
  bool ended_ = false;  // Finish or Abandon ran
  std::atomic<bool> stop_{false};

  std::mutex mu_;  // guards claimed_, index_puts_ and the lazily created pack_
  std::unordered_set<Digest, DigestHash> claimed_;  // digests some task of this save wrote or found
  std::vector<std::pair<std::string, std::string>> index_puts_;
  std::unique_ptr<PackWriter> pack_;
  std::optional<uint64_t> pack_id_;  // allocated with the pack, in flight until the save ends
  std::atomic<uint64_t> new_bytes_{0};
  // SaveOptions::progress over the tensors' bytes; made at the first Add (or Finish), so that for
  // SaveAsync it starts on the persist thread.
  std::unique_ptr<ProgressReporter> progress_;
};

}  // namespace ckptdb

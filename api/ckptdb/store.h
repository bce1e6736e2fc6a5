// Store: a directory of versioned, content-addressed checkpoints.
//
// A checkpoint is a set of named tensors plus step, metadata, metrics and tags. Each tensor's bytes
// are cut into fixed-size chunks addressed by their BLAKE3-256 digest; a chunk the store already
// holds is never written again. A save becomes visible atomically: after a crash at any point the
// store shows either all of a checkpoint or none of it.
//
// Thread safety: every method may be called from any thread. Saves and edits are serialised inside
// the store; saves, asynchronous ones included, commit in the order they were called. Every read (List, Describe, Restore, RestoreInto, ReadTensorRange, Verify, Space, Head,
// GetRetention) sees one committed state from its start to its end, whatever saves, removals, rotations and
// collections run meanwhile: nothing it references is deleted before it ends. Reads never wait for
// a save's hashing or writing, nor for a collection's copying, only (at most) for a commit.
//
// Processes: one process at a time may open a store for writing; a second gets Busy naming the
// store. Any number of others may open it with OpenReadOnly meanwhile (schema/FORMAT.md, "Readers").
//
// Errors: every method that returns Status or Result reports failure there and never throws. When
// memory runs out (an allocation fails, or a stored length asks for more than can be allocated)
// the call returns ResourceExhausted naming the store and what it was doing.
//
// Background collection errors (StoreOptions::background_gc): a collection that fails loses
// nothing, but its error is not dropped. The next Save, Tag, Untag, Remove, Rollback, SetRetention
// or CollectGarbage after a background collection failed (they never wait for one still running:
// it runs beside them) returns that error instead of doing anything: its
// code is the collection's (e.g. Corruption for a damaged live chunk, IOError), its message says
// "the background garbage collection of store P failed, so nothing was saved (this reports it once:
// retrying proceeds)" and then the collection's own message. The error is reported once: calling
// again proceeds. WaitForBackgroundWork and Close report it too; a store destroyed with such an error
// still unreported writes one line naming the store and the error to stderr.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ckptdb/checkpoint.h"
#include "ckptdb/options.h"
#include "ckptdb/retention.h"
#include "ckptdb/save_handle.h"
#include "ckptdb/status.h"
#include "ckptdb/tensor.h"

namespace ckptdb {

class Store {
 public:
  // Opens the store in directory `path`, creating it if options.create_if_missing.
  // Errors: NotFound if there is no store and create_if_missing is false; InvalidArgument for a bad
  // chunk_size when creating; Busy if another process has it open; Corruption if its metadata is
  // unreadable, or "store P is damaged: <what is missing>" where `path` carries a store's marks (a
  // db/ holding RocksDB files, or a packs/ holding only pack files) but its catalog is incomplete:
  // db/ missing, db/CURRENT missing or naming no MANIFEST, or that MANIFEST missing (a damaged
  // store is never created over, and nothing in it is changed);
  // IOError "cannot read store P: <reason>" if whether a store exists cannot be checked (e.g. the
  // directory is not readable: nothing is created); IOError "... (No space left on device)" when
  // the store's file system has less than 4 MiB free (RocksDB 7.8 aborts the process if its open
  // runs out of space; readers need none, see OpenReadOnly); IOError otherwise. Every message names
  // `path`.
  static Result<std::unique_ptr<Store>> Open(const std::string& path, const StoreOptions& options = {});

  // Opens the existing store in `path` for reading only, beside a process that may be writing it.
  // It sees the checkpoints committed by the time it opened, until Refresh. It writes nothing into
  // the store's catalog or packs, so it works on a read-only file system and on a full disk; where
  // it can, it registers a reader hold (one empty file in STORE/readers/, released when the store
  // is closed or the process dies) so that the writer's collections keep every pack file it may
  // read. Only create_if_missing is ignored of `options`. Every write method of the returned store
  // fails with FailedPrecondition naming the store.
  // Errors: NotFound if there is no store; Corruption if its metadata is unreadable or the store
  // is damaged, as for Open; IOError.
  static Result<std::unique_ptr<Store>> OpenReadOnly(const std::string& path, const StoreOptions& options = {});

  // Finishes pending saves and requested background work (as Close) and releases the store. If a
  // background collection or asynchronous save failed and no call reported it, writes one line to
  // stderr naming the store and error.
  virtual ~Store() = default;

  // Saves `tensors` as a new checkpoint whose parent is the current head, makes it the head, and
  // returns its summary. If a retention policy with max_to_keep is set, the checkpoints it no longer
  // keeps are deleted in the same durable commit (and returned in `retired`); their chunks are
  // reclaimed by a background
  // CollectGarbage (StoreOptions::background_gc) or the next explicit one.
  // REQUIRES: each TensorRef passes ValidateTensorRef; names are unique; the bytes stay unchanged
  //           until Save returns.
  // Saves commit in the order they were called, asynchronous ones included: Save first waits for
  // every SaveAsync submitted before it to commit (or fail).
  // Errors: InvalidArgument naming the tensor (bad or duplicate name, size that disagrees with
  // dtype and shape), AlreadyExists for a tag in use, IOError, the error of a failed background
  // collection (see the top of this file) or of a failed asynchronous save (see SaveAsync): for
  // either, nothing is saved and a retry saves; Aborted if options.progress threw. On any error
  // nothing is committed.
  virtual Result<SavedCheckpoint> Save(std::span<const TensorRef> tensors, const SaveOptions& options) = 0;

  // Save in two parts: captures the state, returns, and persists it on the store's persist thread.
  //  - Capture (before it returns): the bytes of every tensor without known_chunks are copied into
  //    the store's staging memory (StoreOptions::staging_bytes); tensors with known_chunks are not
  //    read or copied at all. Once it returns, the caller may change or free its tensors.
  //  - Back-pressure: first, while StoreOptions::max_pending_saves asynchronous saves are pending
  //    (captured, not yet committed), it waits for the oldest to commit. A state whose bytes exceed
  //    the staging memory is captured and persisted in pieces within one commit: SaveAsync then
  //    returns once the last piece is captured, after the earlier ones were written.
  //  - Persist: hash, look up, write, sync and commit exactly as Save, in submission order with
  //    every other save. The handle's Wait returns what Save would have. A kill at any point
  //    leaves the store as a kill during Save would: without this checkpoint, or with all of it.
  //  - A failed persist commits nothing and is never dropped: its handle's Wait returns the error,
  //    and the next Save or SaveAsync returns it too (its code, the message "an earlier asynchronous
  //    save failed, so nothing was saved (this reports it once: retrying proceeds): " and the
  //    persist's own message) instead of saving, or, if no save comes, Close does.
  // REQUIRES: as Save, except that the bytes need stay unchanged only until SaveAsync returns.
  // Errors (nothing is queued or committed): as Save's input and tag checks; AlreadyExists for a tag
  // a pending asynchronous save carries; ResourceExhausted when staging memory cannot be allocated;
  // the error of a failed background collection or asynchronous save, as Save.
  virtual Result<SaveHandle> SaveAsync(std::span<const TensorRef> tensors, const SaveOptions& options) = 0;

  // Allocates and touches, now, the staging memory that a SaveAsync of tensors of these sizes (in
  // bytes, in the order SaveAsync gets them) captures into, alignment and block tails included,
  // at most StoreOptions::staging_bytes, so that the first SaveAsync of such a state copies into
  // memory already touched, as later ones do, instead of also faulting fresh pages in (run it at
  // start-up, or on a thread of its own while training warms up). What it takes is kept and
  // reused until Close, as memory the saves took themselves is; blocks already held (a capture's
  // included) count. Blocking; may run beside saves. Errors: FailedPrecondition on a read-only or
  // closed store; ResourceExhausted when the memory cannot be allocated (what was allocated
  // before stays held).
  virtual Status ReserveStaging(std::span<const uint64_t> tensor_bytes) = 0;

  // Drops every pending asynchronous save not yet committing and returns their steps in submission
  // order, once each has ended; their handles' Wait returns Aborted. A save already committing
  // when this is called commits and is not listed. Nothing dropped is committed: what it wrote is
  // garbage for the next collection. Use it before Close to close without waiting for persists.
  virtual Result<std::vector<int64_t>> AbandonPendingSaves() = 0;

  // Every checkpoint, oldest first. Errors: Corruption naming the checkpoint, IOError.
  virtual Result<std::vector<CheckpointInfo>> List() = 0;

  // The full manifest of the selected checkpoint. Errors: NotFound naming the selector, Corruption.
  virtual Result<CheckpointManifest> Describe(const Selector& which) = 0;

  // Reads every tensor of the selected checkpoint into buffers the library allocates, in saved order.
  // Progress: options.progress, over the checkpoint's logical bytes.
  // Errors: NotFound, Corruption naming checkpoint, tensor and chunk when a chunk is missing or
  // (with verify_chunks) does not match its digest, IOError, Aborted if the progress callback threw.
  virtual Result<std::vector<Tensor>> Restore(const Selector& which, const ReadOptions& options = {}) = 0;

  // Reads the named tensors of the selected checkpoint into caller buffers; tensors not named are
  // not read. Progress: options.progress, over the named tensors' bytes.
  // REQUIRES: each buffer's data holds size_bytes writable bytes.
  // Errors: NotFound for a name the checkpoint lacks; InvalidArgument naming the tensor when dtype,
  // shape or size differ from what was saved; as Restore otherwise. On error buffers may be
  // partly written.
  virtual Status RestoreInto(const Selector& which, std::span<const TensorBuffer> buffers,
                             const ReadOptions& options = {}) = 0;

  // Reads bytes [offset, offset + dst.size()) of tensor `name` of the selected checkpoint into
  // `dst`, reading only the chunks that overlap that range. Each such chunk is read whole, so that
  // with verify_chunks it is checked against its digest as Restore checks it; chunks outside the
  // range are not read (damage there goes unnoticed). An empty range reads no chunk. To read
  // several ranges of one checkpoint while saves and removals go on, resolve the selector once
  // (Describe) and pass Selector::Id: each call is its own read (see the top of this file).
  // REQUIRES: dst's memory is writable.
  // Errors: NotFound naming the selector, or naming checkpoint and tensor when the checkpoint has
  // no tensor `name`; InvalidArgument naming checkpoint and tensor when offset + dst.size() exceeds
  // the tensor's byte length (nothing read); Corruption naming checkpoint, tensor and chunk as
  // Restore; IOError. On error `dst` may be partly written.
  virtual Result<RangeReadReport> ReadTensorRange(const Selector& which, const std::string& name, uint64_t offset,
                                                  std::span<uint8_t> dst, const ReadOptions& options = {}) = 0;

  // Gives the selected checkpoint the tag `name` (non-empty UTF-8). Tagging the checkpoint that
  // already carries it is a no-op. Errors: AlreadyExists if another checkpoint carries it (untag it
  // first); NotFound for the selector; InvalidArgument for a bad name.
  virtual Status Tag(const Selector& which, const std::string& name) = 0;

  // Removes tag `name` from the checkpoint that carries it. Errors: NotFound if no checkpoint does.
  virtual Status Untag(const std::string& name) = 0;

  // Deletes the selected checkpoint's manifest and its tags in one durable batch and returns what was
  // deleted. Its chunks stay on disk until CollectGarbage reclaims those no other
  // checkpoint uses. If it was the head, the head moves to its nearest surviving ancestor, else to
  // the newest remaining checkpoint. Its children are re-pointed to its parent in the same batch.
  // Errors: NotFound for the selector.
  virtual Result<CheckpointInfo> Remove(const Selector& which) = 0;

  // Applies the stored retention policy (one durable batch, as in Save), then
  // deletes chunks no checkpoint references and gives their disk space back: pack files with no live
  // chunk are deleted, and while the garbage left in partly live packs exceeds 1/8 of the live bytes,
  // the packs with the largest share of garbage have their live chunks copied (and re-hashed) into a
  // new pack first, so afterwards the packs hold at most ~1.125x the live chunk bytes. Crash-safe: the index change commits in one synced batch before
  // any file is deleted, so a kill at any point never loses a live chunk and the next call finishes
  // the job. It marks under a snapshot and holds the save lock only to commit its index change, so
  // saves and reads run beside it. Pack files that a read still running (in this process, or in a
  // reader process, see OpenReadOnly) may need are left for a later collection (packs_deferred).
  // With options.dry_run it does none of this and returns what it would do (see GcOptions): the
  // store, every file under its directory included, is left byte for byte as it was. Progress:
  // options.progress (see GcOptions for what it counts).
  // Errors: IOError; Corruption if a live chunk being moved fails its digest (nothing is moved);
  // Aborted if the progress callback threw (nothing is moved; a retention batch already
  // committed stays committed). FailedPrecondition on a read-only store, except for a dry run.
  virtual Result<GcReport> CollectGarbage(const GcOptions& options = {}) = 0;

  // The stored retention policy; a store that never had one returns the default (keep everything).
  // Errors: Corruption if the stored policy does not decode.
  virtual Result<RetentionPolicy> GetRetention() = 0;

  // Stores `policy` durably, replacing the previous one. It is applied at the next Save or
  // CollectGarbage, not here. Errors: InvalidArgument from ValidateRetentionPolicy (nothing stored).
  virtual Status SetRetention(const RetentionPolicy& policy) = 0;

  // The head: the checkpoint the next save will take as its parent; nullopt for an empty store.
  virtual Result<std::optional<CheckpointId>> Head() = 0;

  // Makes the selected checkpoint the head, so the next save is its child and history forks there.
  // The checkpoints this abandons (on the old head's line, not ancestors of the new head) stay
  // readable on their own branch, or with `discard` the untagged ones are deleted in the same
  // durable batch. Rolling forward to a descendant of the head abandons nothing.
  // Errors: NotFound for the selector; nothing changes on any error.
  virtual Result<RollbackReport> Rollback(const Selector& which, bool discard) = 0;

  // Reads and re-hashes every chunk of every checkpoint and reports each damaged tensor; also
  // checks the checksums of every RocksDB file of the catalog and reports a failure as a Damage with
  // id 0 naming the file (see Damage). Progress: options.progress, over the chunk bytes read.
  // Errors: only failures to run the check (IOError, or Corruption when the manifests cannot be
  // listed at all; Aborted if the progress callback threw); damage is reported in the VerifyReport.
  virtual Result<VerifyReport> Verify(const VerifyOptions& options = {}) = 0;

  // Accounts for the store's space: logical and unique chunk bytes, the directory's allocated size,
  // and what each checkpoint alone holds (see SpaceReport). Reads manifests only, never chunk bytes.
  // Thread-safe. Like every read it counts the checkpoints committed when it starts; disk_bytes is
  // measured after that, so a concurrent save may already add to it. Errors: Corruption naming a
  // checkpoint whose manifest does not decode; IOError naming the path when RocksDB or the
  // directory walk fails.
  virtual Result<SpaceReport> Space() = 0;

  // Waits until no background garbage collection (StoreOptions::background_gc) is requested or
  // running, and returns the first error of those that ran since the last call (OK if none failed;
  // a failed collection loses nothing and the next one retries). Thread-safe.
  virtual Status WaitForBackgroundWork() = 0;

  // Read-only stores: catches up with the checkpoints the writer committed since the open or the
  // last Refresh, waiting for running reads to end first. A no-op for the writer, which always
  // sees its own commits. Errors: IOError, Corruption.
  virtual Status Refresh() = 0;
  // Whether this store was opened with OpenReadOnly.
  virtual bool read_only() const = 0;
  // Finishes every pending asynchronous save (AbandonPendingSaves first drops them instead) and
  // requested background work, waits for calls in flight on other threads, closes the database
  // (so another process may open the store), and returns the first unreported error of an
  // asynchronous save or a background collection (OK if none). Idempotent: a second Close returns OK. Every later call other
  // than Close, path() and chunk_size() returns FailedPrecondition "store P is closed". Thread-safe.
  virtual Status Close() = 0;

  virtual const std::string& path() const = 0;
  virtual uint64_t chunk_size() const = 0;
};

}  // namespace ckptdb

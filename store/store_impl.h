// StoreImpl: the concrete Store. Each group of methods lives in the file named for it:
// store_open.cc (open/create, read-only opens, Refresh), catalog.cc (summaries, list, describe,
// select), save.cc (Save, SaveAsync: the stages are pending_save.h, the order and the persist
// thread save_queue.h), restore.cc, range_read.cc (ReadTensorRange), verify.cc, space.cc, edit.cc (tag,
// untag, remove), gc.cc, policy.cc (retention), rollback.cc (head, rollback), prune.cc (deleting
// checkpoints inside a batch). Beside it: read_views.h (snapshots of running reads), reader_holds.h (reader processes),
// upgrade.h (format version 1 -> 2), and guarded_store.h (the public boundary Store::Open returns).
#pragma once

#include <algorithm>
#include <cstring>
#include <memory>
#include <atomic>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "ckptdb/store.h"
#include "schema/codec.h"
#include "store/background_collector.h"
#include "store/db.h"
#include "store/no_throw.h"
#include "store/io/file_system.h"
#include "store/pack_file.h"
#include "store/pack_queue.h"
#include "store/progress_reporter.h"
#include "store/read_views.h"
#include "store/reader_holds.h"
#include "store/retention_tracker.h"
#include "store/save_queue.h"
#include "store/save_stages.h"
#include "store/staging_pool.h"
#include "store/stream_read.h"
#include "store/thread_pool.h"

namespace ckptdb {

class PendingSave;

// One chunk of one tensor: bytes [offset, offset + length) of tensor `tensor`.
struct ChunkTask {
  size_t tensor;
  uint64_t index;   // chunk number within the tensor
  uint64_t offset;
  uint64_t length;
};

// One chunk a read fetches: chunk `index` (`length` bytes) of `tensor`, into `dest`.
struct ChunkRead {
  const TensorInfo* tensor;
  uint64_t index;
  uint64_t length;
  uint8_t* dest;
};

// Digests are uniformly random bytes, so their first word is already a good hash.
struct DigestHash {
  size_t operator()(const Digest& d) const {
    size_t h;
    std::memcpy(&h, d.bytes.data(), sizeof h);
    return h;
  }
};

// The byte length of chunk `index` of a `size_bytes`-byte tensor (FORMAT.md, "Chunking"): known from
// the manifest alone, without reading the chunk.
inline uint64_t ChunkLength(uint64_t size_bytes, uint64_t index, uint64_t chunk_size) {
  return std::min(chunk_size, size_bytes - index * chunk_size);
}

// How many chunks a `size_bytes`-byte tensor makes: the last one may be short, an empty one has none.
inline uint64_t ChunkCount(uint64_t size_bytes, uint64_t chunk_size) {
  return size_bytes / chunk_size + (size_bytes % chunk_size != 0);
}

// UTC nanoseconds since the Unix epoch, for commit and creation times.
int64_t NowNs();

// Cuts tensors of the given byte sizes into chunks of `chunk_size` (the last may be shorter; an
// empty tensor has none).
std::vector<ChunkTask> PlanChunks(const std::vector<uint64_t>& sizes, uint64_t chunk_size);

// Adds to `batch` the deletion of checkpoints `victims`: their manifests, summaries and tag index
// entries (no re-pointing: see PruneInto).
void DeleteCheckpointsInto(const std::vector<CheckpointInfo>& victims, CommitBatch& batch);

// Adds to `batch` the deletion of checkpoints `victims` of `all` (every manifest in the store, plus
// any the batch commits): their manifests, summaries and tag index entries. Each surviving child of
// a victim is re-pointed, in `all`, to the victim's nearest surviving ancestor and its rewritten
// summary put in the batch, except `written_by_caller` (a summary the caller puts itself). Removes
// the victims from `all`.
void PruneInto(std::vector<CheckpointInfo>& all, const std::set<CheckpointId>& victims, CommitBatch& batch,
               std::optional<CheckpointId> written_by_caller = std::nullopt);

// Deletes in `batch`, as PruneInto, the checkpoints of `all` that `policy` with head `head` no longer
// keeps, and returns them oldest first.
std::vector<CheckpointInfo> RetireInto(const RetentionPolicy& policy, std::vector<CheckpointInfo>& all,
                                       CheckpointId head, CommitBatch& batch,
                                       std::optional<CheckpointId> written_by_caller = std::nullopt);

// Garbage collection rewrites partly live packs until the garbage left in them is at most this
// fraction of the live bytes. An explicit CollectGarbage compacts to ~1.125x (the documented bound,
// ~1.15x with padding and RocksDB's files). The background collection after each rotation runs
// beside training, so it keeps a looser bound: measured with 10% of chunks changing per save, the
// tight one copied ~2x the save's own bytes after every save; this one keeps disk under ~1.5x live
// while copying far less.
inline constexpr double kGcGarbageBudget = 1.0 / 8;
inline constexpr double kBackgroundGcGarbageBudget = 1.0 / 2;

// Pack ids for saves and collections that run at the same time: handed out in increasing order,
// and remembered as in flight until the batch naming the pack commits (or the writer gives up on
// it), so a collection's sweep never deletes a pack that is still being written.
class PackIds {
 public:
  explicit PackIds(uint64_t next) : next_(next) {}
  uint64_t Allocate();
  void Release(uint64_t id);
  // The value `next_pack` must have in a batch that commits now: above every id handed out.
  uint64_t next() const;
  // Holds the allocator while a collection lists and deletes un-named packs.
  std::unique_lock<std::mutex> Lock() const { return std::unique_lock<std::mutex>(mu_); }
  bool InFlight(uint64_t id) const { return in_flight_.count(id) > 0; }  // REQUIRES: Lock() held

 private:
  mutable std::mutex mu_;
  uint64_t next_;
  std::set<uint64_t> in_flight_;
};

// The catalog is compacted when a column family holds more table files than this (Db::
// CompactIfFragmented), checked at open and after every kCompactEvery commits.
inline constexpr int kMaxCatalogFiles = 24;
inline constexpr uint64_t kCompactEvery = 256;

class ReaderHold;
// Builds the store over an opened catalog (store_open.cc): the writer's with `hold` null.
Result<std::unique_ptr<Store>> OpenOn(const std::string& path, std::unique_ptr<Db> db, const StoreOptions& options,
                                      std::shared_ptr<io::FileSystem> files, std::unique_ptr<ReaderHold> hold);

class StoreImpl final : public Store {
  friend class PendingSave;  // the save's stages use the catalog, packs and locks below

 public:
  // `fs` carries every pack-file and directory operation (store/io/file_system.h); `hold` is the
  // reader hold of a read-only store (nullptr for the writer); `epoch` the stored gc_epoch;
  // `next_pack` the stored next_pack.
  StoreImpl(std::string path, std::unique_ptr<Db> db, schema::StoreMeta meta, const StoreOptions& options,
            std::shared_ptr<io::FileSystem> fs, std::unique_ptr<ReaderHold> hold, uint64_t epoch, uint64_t next_pack);

  Result<SavedCheckpoint> Save(std::span<const TensorRef> tensors, const SaveOptions& options) override;
  // Save with the bytes from the source `make` builds (store/save_from_source.h); save.cc.
  Result<SavedCheckpoint> SaveFrom(std::span<const TensorRef> tensors, const SaveOptions& options,
                                   const MakeChunkSource& make);
  Result<SaveHandle> SaveAsync(std::span<const TensorRef> tensors, const SaveOptions& options) override;
  Status ReserveStaging(std::span<const uint64_t> tensor_bytes) override;
  // What every save starts with: the store is writable and its next pack id decoded, and the
  // plan stage (PendingSave::Begin) accepts the input.
  Result<std::unique_ptr<PendingSave>> BeginSave(std::span<const TensorRef> tensors, const SaveOptions& options);
  // SaveAsync with the capture `capture` makes (store/save_from_source.h); save.cc.
  Result<SaveHandle> SaveAsyncFrom(std::span<const TensorRef> tensors, const SaveOptions& options,
                                   const MakeChunkSource& capture);
  Result<std::vector<int64_t>> AbandonPendingSaves() override { return saves_->AbandonAll(); }
  // ChunksPresent (store/save_from_source.h); save.cc.
  Result<std::vector<bool>> ChunksPresent(std::span<const Digest> digests);
  Result<std::vector<CheckpointInfo>> List() override;
  Result<CheckpointManifest> Describe(const Selector& which) override;
  Result<std::vector<Tensor>> Restore(const Selector& which, const ReadOptions& options) override;
  Status RestoreInto(const Selector& which, std::span<const TensorBuffer> buffers,
                     const ReadOptions& options) override;
  Result<RangeReadReport> ReadTensorRange(const Selector& which, const std::string& name, uint64_t offset,
                                          std::span<uint8_t> dst, const ReadOptions& options) override;
  Result<VerifyReport> Verify(const VerifyOptions& options = {}) override;
  Status Tag(const Selector& which, const std::string& name) override;
  Status Untag(const std::string& name) override;
  Result<CheckpointInfo> Remove(const Selector& which) override;
  Result<GcReport> CollectGarbage(const GcOptions& options = {}) override { return Collect(kGcGarbageBudget, options); }
  Result<SpaceReport> Space() override;
  Result<RetentionPolicy> GetRetention() override;
  Status SetRetention(const RetentionPolicy& policy) override;
  Result<std::optional<CheckpointId>> Head() override;
  Result<RollbackReport> Rollback(const Selector& which, bool discard) override;
  Status WaitForBackgroundWork() override { return collector_.Wait(); }
  Status Refresh() override;
  bool read_only() const override { return db_->read_only(); }
  // Only finishes pending saves and background work and returns their first unreported error:
  // GuardedStore, the wrapper Store::Open hands out, does the rest of closing (refusing later
  // calls, then destroying this).
  Status Close() override;
  Status TakeBackgroundError() { return collector_.TakeFinishedError(); }
  void WaitForBackgroundIdle() { collector_.WaitIdle(); }
  const std::string& path() const override { return path_; }
  uint64_t chunk_size() const override { return meta_.chunk_size; }
  // The read behind the free function StreamCheckpoint (store/stream_read.h); stream_read.cc.
  Status StreamCheckpoint(const Selector& which, uint64_t window_bytes, const ReadOptions& options,
                          const StreamBegin& begin, const StreamWrite& write,
                          const StreamWindows* windows = nullptr);

  // Set at open when next_pack does not decode: saves and collections fail with it.
  Status next_pack_error_;

 private:
  // A read in progress: one committed state of the catalog until it is destroyed (read_views.h),
  // and, in a read-only store, no Refresh meanwhile.
  struct Reading {
    std::shared_lock<std::shared_mutex> no_refresh;
    ReadViews::View view;
    const DbSnapshot* at() const { return view.at(); }
  };
  Reading BeginRead() {
    std::shared_lock<std::shared_mutex> l(refresh_mu_);
    return Reading{std::move(l), views_.Begin(*db_)};
  }
  // FailedPrecondition for a store opened read-only, naming it; OK otherwise.
  Status CheckWritable() const;

  // Every read below takes the catalog state `at` (nullptr: the latest committed one).
  // Decodes every manifest body, oldest first (their parent and tags are as saved: the summaries
  // hold the current ones). For what needs chunk digests: gc, verify, space.
  Result<std::vector<CheckpointManifest>> LoadAll(const DbSnapshot* at = nullptr);
  // Every checkpoint's summary, oldest first; with `newest_only` only the newest (or none).
  Result<std::vector<CheckpointInfo>> LoadSummaries(const DbSnapshot* at = nullptr, bool newest_only = false);
  // The index in `all` (summaries, as LoadSummaries returns them) of the checkpoint `which`
  // selects. Errors as Describe.
  Result<size_t> Select(const std::vector<CheckpointInfo>& all, const Selector& which,
                        const DbSnapshot* at = nullptr);
  // The id a kId, kTag or kHead selector names (a tag through the tag index).
  Result<CheckpointId> NamedId(const Selector& which, const DbSnapshot* at = nullptr);
  Result<CheckpointManifest> LoadManifest(uint64_t id, const DbSnapshot* at = nullptr);
  Result<CheckpointManifest> DescribeAt(const Selector& which, const DbSnapshot* at);
  // The summary of the checkpoint `which` selects, reading no manifest body. Errors as Describe.
  Result<CheckpointInfo> SelectSummary(const Selector& which, const DbSnapshot* at);
  Result<std::optional<CheckpointId>> HeadAt(const DbSnapshot* at);
  Result<RetentionPolicy> RetentionAt(const DbSnapshot* at);
  // Decodes a manifest read from key `id` and checks it names itself `id`.
  Result<CheckpointManifest> DecodeStored(uint64_t id, std::string_view bytes) const;
  Result<CheckpointInfo> DecodeSummaryAt(uint64_t id, std::string_view bytes) const;
  // Whether this store keeps summary records (format version 2).
  bool has_summaries() const { return meta_.format_version >= 2; }
  // Reads the chunks of the tensors `which` of manifest `m` into `dest[i]` (one per tensor listed).
  // Reports progress through options.progress, over the bytes of the tensors read.
  Status ReadTensors(const CheckpointManifest& m, const std::vector<size_t>& which,
                     const std::vector<uint8_t*>& dest, const ReadOptions& options, const DbSnapshot* at);
  // Reads `reads` of checkpoint `where` in parallel (read_pool_); the first error is returned with
  // the checkpoint, tensor and chunk named. Each chunk read counts to `progress` (may be null).
  Status ReadChunks(const CheckpointInfo& where, std::span<const ChunkRead> reads, const ReadOptions& options,
                    const DbSnapshot* at, ProgressReporter* progress = nullptr);
  // Reads chunk `d` of `length` bytes into `dest`, checking its length and, if `verify`, its digest.
  Status ReadChunk(const Digest& d, uint64_t length, uint8_t* dest, bool verify, const DbSnapshot* at);
  // CollectGarbage with a chosen garbage budget (see kGcGarbageBudget).
  Result<GcReport> Collect(double garbage_budget, const GcOptions& options = {});
  // Collect's last step: deletes the pack files the committed index no longer names, unless a read
  // (here or in a reader process) that began before the latest collection may still read them.
  Status SweepPacks(const std::string& where, GcReport& report);
  // After every kCompactEvery commits, bounds the catalog's file count (Db::CompactIfFragmented).
  void NoteCommit();
  Status CheckSaveInput(std::span<const TensorRef> tensors, const SaveOptions& options);
  std::string Where(const CheckpointInfo& info) const;  // "store P, checkpoint 3 (step 300)"

  const std::string path_;
  std::unique_ptr<Db> db_;
  const schema::StoreMeta meta_;
  const std::shared_ptr<io::FileSystem> fs_;
  const std::string packs_dir_;
  const bool direct_io_;
  PackReader packs_;
  // One pool per role: a restore's chunks never wait for a worker to finish a save's (a 4 MiB hash
  // and write), only for the CPU and the disk, which the two then share. Saves use write_pool_;
  // restores and verification, read_pool_.
  ThreadPool write_pool_;
  ThreadPool read_pool_;
  // The gather buffers of saves' pack writes: one per save worker being filled and one per write
  // a PackQueue holds, so a worker waits for one only while the disk is behind.
  StagingPool write_buffers_;
  // One save or edit at a time: dedup checks, tag checks, ids and commits must not interleave. A
  // collection takes it only to commit.
  std::mutex save_mu_;
  std::mutex gc_mu_;  // one collection at a time
  // A read-only store's reads hold it shared; Refresh holds it exclusively while it catches up.
  std::shared_mutex refresh_mu_;
  ReadViews views_;
  PackIds pack_ids_;
  std::unique_ptr<ReaderHold> hold_;  // read-only stores only
  std::atomic<uint64_t> commits_{0};
  // The retention state of the committed history, kept by saves so that retention at each save
  // neither reads nor judges the whole history again; guarded by save_mu_. Built by a save's or a
  // collection's full evaluation; saves then advance it, and every other edit drops it (the next
  // save evaluates in full again), so it is never out of step with the catalog.
  std::unique_ptr<RetentionTracker> retention_;
  const bool background_gc_;
  const std::unique_ptr<ChunkHasher> hasher_;
  StagingPool staging_;
  // Last, so it is destroyed (finishing and joining its collection) before anything it uses.
  BackgroundCollector collector_{[this] {
    return NoThrow(path_, "collecting garbage in the background",
                   [this] { return Collect(kBackgroundGcGarbageBudget).status(); });
  }};
  // After the collector, so it is destroyed first: a persist it finishes may request a collection.
  std::unique_ptr<SaveQueue> saves_;
};

}  // namespace ckptdb

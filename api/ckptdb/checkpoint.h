// What the store says about its checkpoints: summaries, manifests, selectors, verify reports.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ckptdb/digest.h"
#include "ckptdb/dtype.h"
#include "ckptdb/tensor.h"

namespace ckptdb {

// Assigned by the store at commit: 1, 2, 3, ... strictly increasing, never reused.
using CheckpointId = uint64_t;

struct CheckpointInfo {
  CheckpointId id = 0;
  int64_t step = 0;
  // The head when this checkpoint was saved. When that checkpoint is removed (Remove, retention,
  // Rollback with discard) this is re-pointed to the removed one's own parent in the same commit,
  // so a parent id always names a checkpoint the store holds: its nearest surviving ancestor.
  std::optional<CheckpointId> parent;
  int64_t commit_time_ns = 0;          // UTC, nanoseconds since the Unix epoch
  uint64_t tensor_count = 0;
  uint64_t logical_bytes = 0;          // sum of the tensors' byte lengths
  uint64_t new_bytes = 0;              // chunk bytes this checkpoint added to the store
  std::vector<std::string> tags;       // sorted
  std::map<std::string, double> metrics;
};

// What Store::Save committed: the new checkpoint, and the checkpoints the store's retention policy
// removed in the same commit.
struct SavedCheckpoint : CheckpointInfo {
  std::vector<CheckpointInfo> retired;  // oldest first; empty unless a max_to_keep policy removed some
  // Each saved tensor's chunk digests, in the order the tensors were given: what a later save may
  // pass as TensorRef::known_chunks for a tensor whose bytes have not changed.
  std::vector<std::vector<Digest>> chunks;
};

struct TensorInfo {
  std::string name;
  DType dtype = DType::kU8;
  Shape shape;
  uint64_t size_bytes = 0;
  std::vector<Digest> chunks;  // in order; ceil(size_bytes / chunk_size) of them
};

// Everything recorded about one checkpoint.
struct CheckpointManifest {
  CheckpointInfo info;
  uint64_t chunk_size = 0;
  std::map<std::string, std::string> metadata;
  std::vector<TensorInfo> tensors;  // in the order they were saved
  std::string structure;            // SaveOptions::structure, as saved (empty: none)
};

// Which checkpoint a read means. Every kind resolves to exactly one checkpoint or to NotFound.
class Selector {
 public:
  enum class Kind { kLatest, kStep, kId, kTag, kAt, kBest, kHead };
  // The most recently committed checkpoint. After a Rollback it may sit on the abandoned branch:
  // to resume a run, use Head.
  static Selector Latest() { return Selector(Kind::kLatest, 0); }
  // The head: the checkpoint the next save names as its parent, where a resumed run continues.
  // It is the latest until a Rollback moves it back. NotFound in an empty store.
  static Selector Head() { return Selector(Kind::kHead, 0); }
  // The most recently committed checkpoint with this step.
  static Selector Step(int64_t step) { return Selector(Kind::kStep, step); }
  static Selector Id(CheckpointId id) { return Selector(Kind::kId, static_cast<int64_t>(id)); }
  // The checkpoint that carries tag `name`.
  static Selector Tag(std::string name) { return Selector(Kind::kTag, 0, std::move(name)); }
  // The most recently committed checkpoint whose commit time is at or before `unix_ns` (UTC ns);
  // NotFound if every checkpoint is newer.
  static Selector At(int64_t unix_ns) { return Selector(Kind::kAt, unix_ns); }
  // The checkpoint with the lowest (maximize=false) or highest metric `name`; among equal values
  // the most recently committed. Checkpoints without the metric never qualify.
  static Selector Best(std::string metric, bool maximize) {
    return Selector(Kind::kBest, maximize ? 1 : 0, std::move(metric));
  }

  Kind kind() const { return kind_; }
  // The step, id or time (kStep, kId, kAt); 1 for a maximised kBest.
  int64_t value() const { return value_; }
  // The tag (kTag) or metric (kBest).
  const std::string& name() const { return name_; }
  // "latest", "head", "step 42", "id 7", "tag 'best'", "time 2026-...Z", "best loss (min)": for messages.
  std::string ToString() const;

 private:
  Selector(Kind kind, int64_t value, std::string name = {})
      : kind_(kind), value_(value), name_(std::move(name)) {}
  Kind kind_;
  int64_t value_;
  std::string name_;
};

// One problem found by Store::Verify. A manifest that cannot be decoded is reported with an empty
// `tensor` (and step 0): the whole checkpoint is unreadable. Damage to the catalog itself (a RocksDB
// file in db/ that fails its checksums) is reported with id 0 and an empty `tensor`; `problem`
// names the file and RocksDB's message.
struct Damage {
  CheckpointId id = 0;
  int64_t step = 0;
  std::string tensor;
  uint64_t chunk_index = 0;
  Digest chunk;
  std::string problem;  // "missing", "digest mismatch", "length 10 != 16", ...
};

struct VerifyReport {
  uint64_t checkpoints = 0;
  uint64_t chunks_checked = 0;  // distinct chunks read and re-hashed
  uint64_t bytes_checked = 0;
  std::vector<Damage> damage;   // empty when the store is sound
  bool ok() const { return damage.empty(); }
};

// What one checkpoint alone holds, as reported by Store::Space.
struct CheckpointSpace {
  CheckpointId id = 0;
  int64_t step = 0;
  // Total length of the distinct chunks that no other checkpoint references: the chunk bytes that
  // deleting only this checkpoint would free. A chunk repeated inside the checkpoint counts once.
  uint64_t reclaimable_bytes = 0;
};

// How much the store's checkpoints hold and how much that costs, as reported by Store::Space.
struct SpaceReport {
  // Sum over checkpoints of their logical_bytes: what saving each as a plain file would take.
  uint64_t logical_bytes = 0;
  // Sum of the lengths of the distinct chunks (digests) that any checkpoint references: the chunk
  // bytes the store must keep.
  uint64_t unique_bytes = 0;
  // The store directory's real size on disk: st_blocks x 512 summed over every file and directory
  // under it (each inode once), i.e. allocated space, as `du -s` reports. Besides unique_bytes it
  // includes pack padding, RocksDB's own files, and garbage left by saves that did not commit.
  uint64_t disk_bytes = 0;
  // logical_bytes / unique_bytes; 1.0 when unique_bytes is 0.
  double dedup_ratio = 1.0;
  // One entry per checkpoint, oldest first.
  std::vector<CheckpointSpace> checkpoints;
};

// What one Store::ReadTensorRange read: the chunks that cover the range, each read whole.
struct RangeReadReport {
  uint64_t chunks_read = 0;  // chunks overlapping the range (0 for an empty range)
  uint64_t bytes_read = 0;   // the sum of their lengths: chunk bytes read from the store
};

// What Store::CollectGarbage did.
struct GcReport {
  uint64_t reclaimed_bytes = 0;   // drop in the pack files' allocated size on disk
  uint64_t chunks_deleted = 0;    // chunks no checkpoint referenced any more
  uint64_t packs_deleted = 0;     // pack files removed (emptied, rewritten, or left by a killed save)
  uint64_t packs_rewritten = 0;   // packs whose live chunks were copied out before deletion
  uint64_t bytes_copied = 0;      // live chunk bytes copied out of those packs into a new one
  uint64_t live_bytes = 0;        // chunk bytes the remaining checkpoints reference
  // Unreferenced pack files left on disk for now because a read that began before this collection
  // (in this process or a reader process) may still read them; a later collection deletes them.
  uint64_t packs_deferred = 0;
  // Checkpoints the stored retention policy removed before collecting (see retention.h), oldest first.
  std::vector<CheckpointInfo> checkpoints_removed;
};

// What Store::Rollback did.
struct RollbackReport {
  CheckpointInfo head;  // the new head: the next save is its child
  // Checkpoints on the old head's line that are not ancestors of the new head, newest first. Without
  // discard they all stay, readable, on their own branch; with discard the untagged ones are deleted.
  std::vector<CheckpointInfo> abandoned;
  // Those of `abandoned` that discard deleted (tagged ones are kept: only Remove deletes a tag).
  std::vector<CheckpointInfo> discarded;
};

}  // namespace ckptdb

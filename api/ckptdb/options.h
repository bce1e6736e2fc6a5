// Options for opening a store and for each save and restore.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace ckptdb {

// True for a chunk size a store can be created with: a power of two in [64 KiB, 64 MiB].
bool IsValidChunkSize(uint64_t chunk_size);

// How far a long operation (save, restore, verify, collection, safetensors export) has come, in
// bytes. What `total` counts is said where each options struct takes a ProgressFn; it is fixed for
// the whole operation.
struct Progress {
  uint64_t done_bytes = 0;
  uint64_t total_bytes = 0;
};

// A progress callback. The contract for every operation that takes one:
//  - Which thread: any of the threads doing the operation's work: the calling thread or one of
//    the store's worker threads (for Store::SaveAsync, the store's persist thread or its workers).
//    Never two calls at once: calls are serialised, so the callback needs no lock of its own.
//  - How often: once at the start with done_bytes == 0 (left out when total_bytes is 0), then at
//    most about every 100 ms as work completes, then, when the operation succeeds, exactly once
//    more, last, with done_bytes == total_bytes. done_bytes never decreases from one call to the
//    next and never exceeds total_bytes. A failed operation makes no final call.
//  - Cost: a worker that finds another call in progress skips its report rather than wait, so a
//    slow callback slows only the thread running it (and so the operation), never deadlocks it.
//  - It must not throw. If it does anyway, it is not called again and the operation fails with
//    Aborted "... the progress callback threw: <what()>" as soon as it can stop: a save commits
//    nothing, a collection moves or deletes nothing (what its retention step already committed
//    stays), a read returns an error instead of data. A throw from the final call, made once the
//    work is done and committed, is ignored: the operation's result stands.
//  - An empty ProgressFn (the default) is never called; the operation then pays one atomic add
//    per chunk for it.
using ProgressFn = std::function<void(const Progress&)>;

struct StoreOptions {
  // Create the store if the directory holds none. Default: true.
  bool create_if_missing = true;
  // Bytes per chunk for a store being created: a power of two in [64 KiB, 64 MiB]. Recorded in the
  // store at creation; ignored when opening an existing one (whose own chunk size is used).
  // Default: 4 MiB.
  uint64_t chunk_size = 4ull << 20;
  // Threads that hash, write and read chunks, counting the calling thread: saves get this many and
  // reads (restores, verification) as many again of their own, so a restore started during a save
  // runs at once beside it instead of waiting for workers. 0 means one per core. Default: 0.
  // The workers are named ckptdb:save and ckptdb:read (as `top -H` and `ps -L` show them); beside
  // them run ckptdb:persist (asynchronous saves), ckptdb:writer (a save's pack writes) and ckptdb:gc.
  int threads = 0;
  // Write chunk bytes (pack files) with O_DIRECT, bypassing the page cache; falls back to buffered
  // I/O where the filesystem refuses O_DIRECT (tmpfs). Measured on the development machine:
  // buffered write + fsync runs at a quarter to a tenth of O_DIRECT. Default: true.
  bool use_direct_io = true;
  // Read chunk bytes with O_DIRECT too (restore, verify, collection). Off by default because reads
  // gain from the page cache where writes lose: measured on the development VM (2 cores, virtio
  // disk), sequential 4 MiB reads ran at 0.6 GB/s with O_DIRECT and 1.0 GB/s buffered (the
  // kernel's readahead keeps the disk busy), restore_into of a 2.2 GB state from a cold cache took
  // 2.2 s buffered against 3.7-4.3 s direct, and a warm one 0.9 s against 3.6 s. Turn it on to keep
  // large restores from evicting other files' cached pages. Default: false.
  bool use_direct_reads = false;
  // After a save whose retention policy removed checkpoints, reclaim their disk space by garbage
  // collection on a background thread: the save returns at once, the next save or edit waits for a
  // collection still running, and closing the store finishes one that was requested. It runs beside
  // training, so it copies less than CollectGarbage: the packs stay within ~1.5x the live chunk
  // bytes (CollectGarbage compacts to ~1.15x). Without it, rotated checkpoints' chunks stay on disk
  // until CollectGarbage is called. Default: true.
  bool background_gc = true;
  // The most memory asynchronous saves (Store::SaveAsync) capture into, in bytes. The store takes
  // it when a capture first needs it, in blocks of 64 MiB (or one chunk, if larger), touches it
  // once, and keeps and reuses it until it closes, so later captures copy at memcpy speed. A state
  // whose changed bytes exceed it is captured and persisted in pieces within one commit, and then
  // SaveAsync returns only once the last piece is captured. Never less than one block.
  // 0: a quarter of physical memory, at most 4 GiB. Default: 0.
  uint64_t staging_bytes = 0;
  // How many asynchronous saves may be pending (captured, not yet committed) at once; a further
  // SaveAsync waits for the oldest to commit. Each needs staging memory of its own, out of
  // staging_bytes. Values below 1 mean 1. Default: 1.
  int max_pending_saves = 1;
};

struct SaveOptions {
  // The training step this checkpoint records. Several checkpoints may share a step.
  int64_t step = 0;
  // Free-form string metadata (safetensors' __metadata__, config, RNG seeds, ...).
  std::map<std::string, std::string> metadata;
  // Named scalar metrics (loss, accuracy), used later to pick the best checkpoint.
  std::map<std::string, double> metrics;
  // Tag names for this checkpoint. A tag names one checkpoint in the store: saving with a tag that
  // already exists fails with AlreadyExists and saves nothing.
  std::vector<std::string> tags;
  // Bytes the store keeps with the manifest without reading them, returned by Describe as
  // CheckpointManifest::structure: the Python package's description of the saved object's shape
  // (nesting and non-tensor values, schema/state_tree.fbs). Default: empty, none.
  std::string structure;
  // Progress of the hash, look-up and write stages (see ProgressFn). total_bytes is the tensors'
  // bytes summed (CheckpointInfo::logical_bytes); every chunk counts once its stage is done,
  // whether it was written, found already stored, or given by TensorRef::known_chunks. The final
  // call comes after the commit. For SaveAsync it reports the persist, on the persist thread.
  // Default: none.
  ProgressFn progress;
};

struct ReadOptions {
  // Re-hash every chunk read and compare it with its digest. Default: true.
  bool verify_chunks = true;
  // Progress of Restore and RestoreInto (see ProgressFn). total_bytes is the bytes of the tensors
  // read: the checkpoint's logical bytes for Restore, the named tensors' for RestoreInto; a chunk
  // counts once read (and checked). Not used by ReadTensorRange. Default: none.
  ProgressFn progress;
};

struct VerifyOptions {
  // Progress of Store::Verify (see ProgressFn). total_bytes is the bytes of the distinct chunks it
  // reads and re-hashes: VerifyReport::bytes_checked when nothing is damaged (a damaged chunk
  // counts as done too, but not as checked). Default: none.
  ProgressFn progress;
};

struct GcOptions {
  // Progress of Store::CollectGarbage (see ProgressFn). total_bytes is the bytes of live chunks
  // the collection copies out of mostly-dead packs (GcReport::bytes_copied), the only part of its
  // work that grows with the data; it is 0 (one final call, (0, 0)) when nothing is copied, and
  // in a dry run, which copies nothing. Default: none.
  ProgressFn progress;
  // Compute everything a collection would do and do none of it: the retention policy is applied
  // in memory only, no chunk is copied, no index entry, pack file or catalog record is written or
  // deleted. Returns the report the collection would return if run now with no read in progress
  // (packs_deferred 0). Allowed on a read-only store, which cannot see a save still writing:
  // such a save's pack counts as deletable there. Its reclaimed_bytes counts the pack the copies
  // would go to at their padded size; the real collection measures that pack's allocated size,
  // which the filesystem's own blocks for the file (an ext4 extent block: at most 4 KiB per MiB
  // copied, and 4 KiB for a small pack) can make larger, so it may report that much less.
  // Default: false.
  bool dry_run = false;
};

}  // namespace ckptdb

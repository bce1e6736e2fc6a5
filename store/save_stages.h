// The seams of the save pipeline (store/pending_save.h runs the stages): where a chunk's bytes
// come from, what digests them, and what memory an asynchronous save captures into. The CPU
// implementations live here; the GPU path (gpu/) implements the same three interfaces for device
// memory, a device hasher and pinned host staging.
//
// Thread safety: every method of every interface may be called from several threads at once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "ckptdb/digest.h"
#include "ckptdb/status.h"
#include "ckptdb/tensor.h"

namespace ckptdb {

struct ChunkTask;

// One chunk's bytes for as long as its source lives: host memory for the CPU hasher and for
// writing; device memory for a device hasher (gpu/device_chunk_hasher.h).
struct ChunkView {
  const uint8_t* data = nullptr;
  uint64_t length = 0;
  // The bytes from `length` up to the next multiple of 4096 are readable and zero, as a pack
  // slot's padding is (schema/FORMAT.md): a pack write may take the whole slot from `data`.
  bool zero_padded = false;
};

// Digests chunks. Batched so that a device hasher can hash a whole piece in one launch.
class ChunkHasher {
 public:
  virtual ~ChunkHasher() = default;
  // Writes the BLAKE3-256 digest of chunks[i] to digests[i]. REQUIRES: equal lengths.
  // Errors: a device hasher's failure (the device's error, named); the CPU hasher never fails.
  // On error the digests are unspecified and the save fails with that status.
  virtual Status Hash(std::span<const ChunkView> chunks, std::span<Digest> digests) const = 0;
  // How many chunks one Hash call should carry: the pipeline cuts a piece into batches of this
  // many and runs the batches on its worker threads, each hashing then writing its own chunks,
  // so that hashing on one thread overlaps writing on another.
  virtual size_t batch_chunks() const = 0;
};

// BLAKE3 on the calling thread (SIMD as the CPU allows), one chunk per batch: the save's thread
// pool supplies the parallelism.
class CpuChunkHasher final : public ChunkHasher {
 public:
  Status Hash(std::span<const ChunkView> chunks, std::span<Digest> digests) const override;
  size_t batch_chunks() const override { return 1; }
};

// Where the bytes of each chunk task of a save are, by its index in PendingSave::tasks().
class ChunkSource {
 public:
  virtual ~ChunkSource() = default;
  // The view the hasher reads: host memory, or device memory for a source whose hasher() is a
  // device's.
  virtual ChunkView View(size_t task) const = 0;
  // Calls `use` with the chunk's bytes in host memory, to write it to a pack. Called only for
  // chunks the store lacks (after hashing and the lookup), so a device source copies only those
  // off the device. A host source passes `view` itself. Returns `use`'s status, or the copy's error.
  virtual Status WithHostBytes(size_t task, const ChunkView& view,
                               const std::function<Status(const ChunkView&)>& use) const {
    return use(view);
  }
  // The hasher for this source's views; null: the store's own (the CPU's).
  virtual const ChunkHasher* hasher() const { return nullptr; }
  // The digest of task k's bytes when the source's capture has already computed it (a device
  // capture hashes on the GPU before it decides what to copy): the pipeline then neither hashes
  // the task nor reads its view except to write it. Null: hash View(k). The source vouches for it.
  virtual const Digest* Digested(size_t /*task*/) const { return nullptr; }
};

// Builds the source of a save once it has cut the tensors into `tasks` (store/pending_save.h).
using MakeChunkSource = std::function<Result<std::unique_ptr<ChunkSource>>(std::span<const ChunkTask> tasks)>;

// The caller's own memory: a synchronous save reads the tensors in place.
class CallerChunks final : public ChunkSource {
 public:
  // Both spans must outlive this source.
  CallerChunks(std::span<const TensorRef> tensors, std::span<const ChunkTask> tasks)
      : tensors_(tensors), tasks_(tasks) {}
  ChunkView View(size_t task) const override;

 private:
  std::span<const TensorRef> tensors_;
  std::span<const ChunkTask> tasks_;
};

// Copies of chunks in staging memory, as an asynchronous save's capture made them.
class StagedChunks final : public ChunkSource {
 public:
  // `at[k]` is where task k's bytes were copied (null: not captured); both must outlive this.
  StagedChunks(std::span<const uint8_t* const> at, std::span<const ChunkTask> tasks) : at_(at), tasks_(tasks) {}
  ChunkView View(size_t task) const override;

 private:
  std::span<const uint8_t* const> at_;
  std::span<const ChunkTask> tasks_;
};

// Memory for captures, allocated rarely (a store keeps and reuses what it got) and touched at
// once: on the development VM the first write to fresh pages runs near 1 GB/s, a third of memcpy
// into touched ones, so a capture must never be the first to write its pages.
class StagingAllocator {
 public:
  virtual ~StagingAllocator() = default;
  // `bytes` (a multiple of 4 KiB) of 4 KiB-aligned memory, every page already faulted in.
  // ResourceExhausted when the memory cannot be had.
  virtual Result<uint8_t*> Allocate(uint64_t bytes) = 0;
  // Gives back what Allocate returned, with the same size.
  virtual void Free(uint8_t* p, uint64_t bytes) = 0;
};

// Anonymous host memory from MapHostMemory: faulted in by the kernel rather than page by page.
class HostStagingAllocator final : public StagingAllocator {
 public:
  Result<uint8_t*> Allocate(uint64_t bytes) override;
  void Free(uint8_t* p, uint64_t bytes) override;
};

}  // namespace ckptdb

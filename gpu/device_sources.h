// The ChunkSources of the GPU path (internal to gpu/): where a device save's persist finds each
// chunk, for the three ways DeviceSaver feeds the pipeline (gpu/device_saver.h):
//   LiveSource        a synchronous save: the tensors themselves, device or host memory;
//   SnapshotSource    an asynchronous snapshot: device copies in a kept region, host copies;
//   HashedCopySource  an asynchronous hashed copy: digests computed at capture, and pinned copies
//                     of the chunks the store lacked then.
// Thread safety: as ChunkSource (every method from several threads at once).
#pragma once

#include <atomic>
#include <memory>
#include <span>
#include <vector>

#include "ckptdb/store.h"
#include "gpu/device_chunk_hasher.h"
#include "gpu/memory_pools.h"
#include "store/store_impl.h"

namespace ckptdb::gpu {

// What a saver shares with the captures and persists it starts; they may outlive the saver.
struct SaverMemory {
  SaverMemory(int device, uint64_t chunk_bytes, size_t staging_buffers, uint64_t snapshot_budget,
              uint64_t pinned_budget)
      : device(device),
        buffers(chunk_bytes, staging_buffers),
        snapshots(MemoryKind::kDevice, device, snapshot_budget),
        pinned(MemoryKind::kPinnedHost, device, pinned_budget) {}
  const int device;
  PinnedBuffers buffers;  // a persist's one-chunk copies to the host
  RegionPool snapshots;   // snapshot captures
  RegionPool pinned;      // hashed-copy captures
  std::atomic<uint64_t> chunks_to_host{0}, bytes_to_host{0}, snapshot_bytes{0};
};

// Common to the three: the save's tasks, which tensors are on the device, the hasher, the copy to
// the host through a pinned buffer.
class DeviceSourceBase : public ChunkSource {
 public:
  DeviceSourceBase(std::span<const TensorRef> tensors, std::span<const ChunkTask> tasks,
                   std::shared_ptr<SaverMemory> memory);
  const ChunkHasher* hasher() const override { return &hasher_; }

 protected:
  bool on_device(size_t task) const { return on_device_[tasks_[task].tensor]; }
  // Copies a device view to a pinned buffer on this thread's stream and calls `use` with it.
  Status CopyToHost(const ChunkView& view, const std::function<Status(const ChunkView&)>& use) const;

  std::vector<ChunkTask> tasks_;
  std::vector<bool> on_device_;  // per tensor
  std::shared_ptr<SaverMemory> memory_;
  DeviceChunkHasher hasher_;
};

class LiveSource final : public DeviceSourceBase {
 public:
  LiveSource(std::span<const TensorRef> tensors, std::span<const ChunkTask> tasks, std::shared_ptr<SaverMemory> memory);
  ChunkView View(size_t task) const override;
  Status WithHostBytes(size_t task, const ChunkView& view,
                       const std::function<Status(const ChunkView&)>& use) const override;

 private:
  std::vector<const uint8_t*> data_;  // per tensor
};

// Each capture returns a source, or a null one when its memory cannot be had (the caller then
// tries another way), or an error (a CUDA call failed). `stream`: the caller's cudaStream_t.
Result<std::unique_ptr<ChunkSource>> CaptureSnapshot(std::span<const TensorRef> tensors, std::span<const ChunkTask> tasks,
                                                     std::shared_ptr<SaverMemory> memory, void* stream);
Result<std::unique_ptr<ChunkSource>> CaptureHashedCopy(Store& store, std::span<const TensorRef> tensors,
                                                       std::span<const ChunkTask> tasks,
                                                       std::shared_ptr<SaverMemory> memory, void* stream);

}  // namespace ckptdb::gpu

// Saving tensors that live in GPU memory (issue 12, item 3). A state may mix host and device
// tensors (TensorRef::cuda_device says which); device chunks are hashed on the GPU and only the
// chunks the store lacks cross PCIe, each through one of a bounded pool of pinned one-chunk
// buffers, on the copying thread's own stream, so that one thread's copy overlaps another's disk
// write. Chunks the store already holds never leave the device.
//
// Asynchronous saves capture the state in one of two ways before SaveAsync returns:
//   snapshot      the device tensors are copied device to device into memory the saver keeps
//                 (HBM bandwidth: 16 GB in ~10 ms on an H200), and the persist then hashes and
//                 copies out only new chunks, as a synchronous save does. The stall is the
//                 shortest, but it holds device memory as large as the device tensors.
//   hashed copy   the device chunks are hashed on the GPU at capture and only the chunks the store
//                 lacks then are copied to pinned host memory the saver keeps. The stall is the
//                 hash plus the new chunks' PCIe copy; no device memory is held.
// Capture::kAuto takes a snapshot whenever its memory can be had (see snapshot_bytes), else a
// hashed copy, else (neither memory available) saves synchronously. Host tensors are copied into
// the capture's own memory either way.
//
// Thread safety: every method may be called from any thread; saves are ordered as the store's.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "ckptdb/store.h"

namespace ckptdb::gpu {

// What the saver moved, summed over its life (take differences around a save): tests and
// benchmarks hold the "only new chunks cross PCIe" promise to these.
struct DeviceSaveStats {
  uint64_t chunks_to_host = 0;     // device chunks copied to the host, at capture or persist
  uint64_t bytes_to_host = 0;      // their bytes
  uint64_t snapshot_bytes = 0;     // device-to-device bytes copied by snapshot captures
  uint64_t snapshots = 0;          // asynchronous saves captured each way
  uint64_t hashed_copies = 0;
  uint64_t synchronous = 0;        // SaveAsync calls that saved synchronously (no memory for either)
};

struct DeviceSaverOptions {
  enum class Capture { kAuto, kSnapshot, kHashedCopy };
  Capture capture = Capture::kAuto;
  // Pinned one-chunk buffers a persist copies new chunks through; 0: one per save thread.
  int staging_buffers = 0;
  // The most device memory snapshots may hold (kept between saves, one region per pending save).
  // kAuto: a snapshot is taken whenever the device's free memory is at least twice its size.
  // 0: never snapshot.
  static constexpr uint64_t kAuto = ~0ull;
  uint64_t snapshot_bytes = kAuto;
  // The most pinned host memory hashed-copy captures may hold (kept between saves).
  // kAuto: as StoreOptions::staging_bytes' default, a quarter of memory, at most 4 GiB.
  uint64_t pinned_capture_bytes = kAuto;
};

class DeviceSaver {
 public:
  // REQUIRES: `store` was returned by Store::Open and outlives the saver's calls (pending persists
  // keep the memory they use alive on their own).
  explicit DeviceSaver(Store& store, DeviceSaverOptions options = {});
  ~DeviceSaver();
  DeviceSaver(const DeviceSaver&) = delete;
  DeviceSaver& operator=(const DeviceSaver&) = delete;

  // Store::Save for a state whose tensors may be in device memory (TensorRef::cuda_device >= 0, all
  // on one device). `stream` (a cudaStream_t; null: the legacy default stream) is synchronized
  // first, so work queued on it that writes the tensors is finished before they are read; the
  // tensors must not change until the call returns.
  // Errors: as Save; FailedPrecondition when no GPU is usable; InvalidArgument for tensors on two
  // devices; Internal naming the CUDA call that failed (nothing is committed then).
  Result<SavedCheckpoint> Save(std::span<const TensorRef> tensors, const SaveOptions& options,
                               void* stream = nullptr);

  // Store::SaveAsync for such a state: returns once the state is captured (see above), after which
  // the caller may change its tensors; the persist runs on the store's persist thread, in the
  // store's submission order and under its back-pressure (StoreOptions::max_pending_saves).
  // Errors: as Save and SaveAsync; ResourceExhausted when Capture::kSnapshot or kHashedCopy was
  // asked for and its memory cannot be had. A hashed copy treats the store's chunks as present at
  // capture; should a collection remove one before the save commits, the save fails
  // (FailedPrecondition at Wait, nothing committed) rather than record a chunk nobody holds.
  Result<SaveHandle> SaveAsync(std::span<const TensorRef> tensors, const SaveOptions& options,
                               void* stream = nullptr);

  // Allocates capture memory now, so that the first asynchronous save does not pay for it (pinning
  // runs at a few GB/s): a snapshot region of `snapshot_bytes` and a pinned region of `pinned_bytes`
  // on `device`, kept for later captures. Either may be 0.
  // Errors: FailedPrecondition when no GPU is usable; InvalidArgument for a second device;
  // ResourceExhausted when the budget or the device cannot give the memory.
  Status Reserve(int device, uint64_t snapshot_bytes, uint64_t pinned_bytes);

  DeviceSaveStats stats() const;

  struct Shared;  // gpu/device_saver.cu: the memory and counters pending persists share

 private:
  Store& store_;
  std::shared_ptr<Shared> shared_;
};

}  // namespace ckptdb::gpu

// Saving tensors that live in GPU memory (issue 12, item 3, synchronous half): every chunk is
// hashed on the GPU, and only the chunks the store lacks are copied to the host, each through one
// of a bounded pool of pinned one-chunk buffers, and written. Chunks the store already holds never
// leave the device. The save pipeline's worker threads each copy on their own CUDA stream, so one
// thread's copy overlaps another's disk write.
// Thread safety: as Store::Save.
#pragma once

#include <cstdint>
#include <span>

#include "ckptdb/store.h"

namespace ckptdb::gpu {

// What a device save moved across PCIe, for tests and benchmarks.
struct DeviceSaveStats {
  uint64_t chunks_to_host = 0;
  uint64_t bytes_to_host = 0;
};

// Store::Save(tensors, options) for tensors whose data pointers are CUDA device memory (on the
// current device). `stream` (a cudaStream_t; null: the legacy default stream) is synchronized first,
// so work queued on it that writes the tensors is finished before they are read. `staging_buffers`
// pinned buffers of one chunk each (0: one per save thread) bound the host memory used.
// REQUIRES: `store` was returned by Store::Open; every data pointer is device memory.
// Errors: as Save; FailedPrecondition when no GPU is usable; Internal naming the CUDA call that
// failed (nothing is committed then).
Result<SavedCheckpoint> SaveFromDevice(Store& store, std::span<const TensorRef> tensors, const SaveOptions& options,
                                       DeviceSaveStats* stats = nullptr, void* stream = nullptr,
                                       int staging_buffers = 0);

}  // namespace ckptdb::gpu

// Where the Python module's saves and restores go when tensors live in CUDA memory: the GPU path
// (gpu/device_saver.h, gpu/device_restore.h) in a build made with CUDA (CKPTDB_PY_GPU), and a
// clear error in one made without. Host-only calls go straight to the store either way.
// Thread safety: one DevicePath per store; its calls may run without the GIL, from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>

#include "ckptdb/store.h"

namespace ckptdb::python {

// Whether this build of the module has the GPU path (ckptdb.has_gpu_path).
bool HasGpuPath();

class DevicePath {
 public:
  explicit DevicePath(Store& store);
  ~DevicePath();
  // Store::Save / SaveAsync / RestoreInto, routed to the GPU path when any tensor or buffer has a
  // cuda_device; `stream` is the cudaStream_t (as an integer) the tensors were last written on.
  // Errors: the store's and the GPU path's; FailedPrecondition naming the tensor in a build
  // without the GPU path.
  Result<SavedCheckpoint> Save(std::span<const TensorRef> tensors, const SaveOptions& options, uintptr_t stream);
  Result<SaveHandle> SaveAsync(std::span<const TensorRef> tensors, const SaveOptions& options, uintptr_t stream);
  Status RestoreInto(const Selector& which, std::span<const TensorBuffer> buffers, const ReadOptions& options);

 private:
  struct Saver;
  Saver& saver();  // REQUIRES: a build with the GPU path
  Store& store_;
  std::mutex mu_;
  std::unique_ptr<Saver> saver_;  // made at the first device save
};

}  // namespace ckptdb::python

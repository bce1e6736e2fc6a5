// Restoring a checkpoint into GPU memory (issue 12, item 4): the checkpoint streams through two
// pinned host windows (store/stream_read.h) in turn; while the chunks of one window are read from
// disk (in parallel), the other window's bytes are copied to the device on a stream of the
// restore's own. Digests are checked on the host as each chunk is read, or on the GPU at the end
// (DeviceRestoreOptions::verify_on_device). Thread safety: as Store::RestoreInto.
#pragma once

#include <cstdint>
#include <span>

#include "ckptdb/store.h"

namespace ckptdb::gpu {

// Store::RestoreInto for buffers in device memory (TensorBuffer::cuda_device >= 0, one device) or
// host memory (kHostMemory, written by memcpy): each buffer receives the saved bytes of the
// checkpoint's tensor of its name. Tensors without a buffer are read (and checked) but not copied.
// Memory: two pinned windows (DeviceRestoreOptions::window_bytes), pinned per call. Returns once
// every copy has finished.
// REQUIRES: `store` was returned by Store::Open or OpenReadOnly; distinct buffer names.
// Errors: FailedPrecondition when no GPU is usable; InvalidArgument for buffers on two devices, or
// naming the tensor when dtype, shape or size differ from what was saved (nothing is written then);
// NotFound for a buffer name the checkpoint lacks; Internal naming a failed CUDA call; as Restore
// otherwise. After an error past those checks, buffers may be partly written.
struct DeviceRestoreOptions {
  // Each of the two pinned windows holds max(window_bytes, chunk size) bytes.
  uint64_t window_bytes = 64ull << 20;
  // With ReadOptions::verify_chunks, where the chunks bound for device buffers are checked against
  // their digests: false, on the host as each is read (as Restore does, on the read threads);
  // true, on the GPU once all are copied (one pass at GPU BLAKE3 speed, no host CPU). Chunks bound
  // for host buffers, or for none, are checked on the host either way. A mismatch is Corruption
  // naming checkpoint, tensor and chunk, as Restore's; with true the device buffers then hold the
  // bad bytes (the restore failed and they must not be used).
  bool verify_on_device = false;
};
Status RestoreIntoDevice(Store& store, const Selector& which, std::span<const TensorBuffer> buffers,
                         const ReadOptions& options = {}, const DeviceRestoreOptions& device = {});

}  // namespace ckptdb::gpu

// Restoring a checkpoint into GPU memory (issue 12, item 4): the checkpoint streams through two
// pinned host windows (store/stream_read.h) in turn; while the chunks of one window are read from
// disk (in parallel, each checked against its digest on the host, as Restore checks it), the other
// window's bytes are copied to the device on a stream of the restore's own. Thread safety: as
// Store::RestoreInto.
#pragma once

#include <cstdint>
#include <span>

#include "ckptdb/store.h"

namespace ckptdb::gpu {

// Store::RestoreInto for buffers in device memory (TensorBuffer::cuda_device >= 0, one device) or
// host memory (kHostMemory, written by memcpy): each buffer receives the saved bytes of the
// checkpoint's tensor of its name. Tensors without a buffer are read (and checked) but not copied.
// Memory: two pinned windows of max(window_bytes, chunk size) bytes, pinned per call. Returns once
// every copy has finished.
// REQUIRES: `store` was returned by Store::Open or OpenReadOnly; distinct buffer names.
// Errors: FailedPrecondition when no GPU is usable; InvalidArgument for buffers on two devices, or
// naming the tensor when dtype, shape or size differ from what was saved (nothing is written then);
// NotFound for a buffer name the checkpoint lacks; Internal naming a failed CUDA call; as Restore
// otherwise. After an error past those checks, buffers may be partly written.
Status RestoreIntoDevice(Store& store, const Selector& which, std::span<const TensorBuffer> buffers,
                         const ReadOptions& options = {}, uint64_t window_bytes = 64ull << 20);

}  // namespace ckptdb::gpu

// Restoring a checkpoint into GPU memory (issue 12, item 4, first version): the checkpoint streams
// through one host window (store/stream_read.h), every chunk is checked against its digest on the
// host as Restore checks it, and each window's bytes are copied into the device buffers.
// Not yet overlapped: a window's copy waits for its read (pinned double buffering is the next
// step). Thread safety: as Store::RestoreInto.
#pragma once

#include <cstdint>
#include <span>

#include "ckptdb/store.h"

namespace ckptdb::gpu {

// Store::RestoreInto for buffers whose data pointers are CUDA device memory: each buffer receives
// the saved bytes of the checkpoint's tensor of its name. Tensors without a buffer are read (and
// checked) but not copied. Memory: one host window of max(window_bytes, chunk size) bytes.
// REQUIRES: `store` was returned by Store::Open or OpenReadOnly; distinct buffer names.
// Errors: FailedPrecondition when no GPU is usable; NotFound for a buffer name the checkpoint
// lacks; InvalidArgument naming the tensor when dtype, shape or size differ from what was saved;
// Internal naming a failed CUDA copy; as Restore otherwise. On error buffers may be partly written.
Status RestoreIntoDevice(Store& store, const Selector& which, std::span<const TensorBuffer> buffers,
                         const ReadOptions& options = {}, uint64_t window_bytes = 64ull << 20);

}  // namespace ckptdb::gpu

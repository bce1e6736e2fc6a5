// Streaming a checkpoint's bytes through a bounded window: the read ExportSafetensors is built on,
// so that exporting holds a few chunks in memory, never the whole checkpoint.
//
// Internal, and deliberately small: a public ranged read (Store::ReadTensorRange) is being added
// separately; once it exists this may be rebuilt on it.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "ckptdb/store.h"

namespace ckptdb {

using StreamBegin = std::function<Status(const CheckpointManifest&)>;
using StreamWrite = std::function<Status(std::span<const uint8_t>)>;

// Reads the checkpoint `which` selects as one read (one committed state from start to end, as
// every read in store.h): calls `begin` once with its manifest, then `write` with the bytes of its
// tensors in manifest order, concatenated, in consecutive pieces of whole chunks of at most
// max(window_bytes, chunk size) bytes. Memory: one buffer of that size (or of the checkpoint's
// size, if smaller). Chunks are read in parallel and checked as ReadOptions says.
// REQUIRES: `store` was returned by Store::Open or Store::OpenReadOnly (InvalidArgument otherwise).
// Errors: the first error of `begin` or `write`, after which nothing more is read; as Restore
// otherwise (NotFound for the selector, Corruption naming checkpoint, tensor and chunk, IOError).
Status StreamCheckpoint(Store& store, const Selector& which, uint64_t window_bytes, const ReadOptions& options,
                        const StreamBegin& begin, const StreamWrite& write);

// Windows the caller provides (pinned memory, for the GPU path's restore): pieces are read into
// them in turn, the first piece into buffers[0], so that `write` may start an asynchronous copy of
// a piece and return at once. Before a window is read into again, `reuse(i)` is called (its error
// ends the stream); it must wait until window i's last piece is no longer needed. Each of the
// buffers holds `bytes`, which must be at least the chunk size (InvalidArgument otherwise); the
// pieces are then of at most `bytes`, and window_bytes is ignored.
struct StreamWindows {
  std::vector<uint8_t*> buffers;
  uint64_t bytes = 0;
  std::function<Status(size_t)> reuse;
};
Status StreamCheckpoint(Store& store, const Selector& which, const StreamWindows& windows, const ReadOptions& options,
                        const StreamBegin& begin, const StreamWrite& write);

}  // namespace ckptdb

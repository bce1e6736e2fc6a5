// Streaming a checkpoint's bytes through a bounded window: the read ExportSafetensors is built on,
// so that exporting holds a few chunks in memory, never the whole checkpoint.
//
// Internal, and deliberately small: a public ranged read (Store::ReadTensorRange) is being added
// separately; once it exists this may be rebuilt on it.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

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

}  // namespace ckptdb

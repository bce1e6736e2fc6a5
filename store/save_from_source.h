// Saves whose chunk bytes come from a ChunkSource the caller provides, for tensors whose data
// pointers the store cannot read itself: device memory (gpu/device_saver.h). A synchronous one
// reads the source during the call; an asynchronous one captures into a source of its own.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "ckptdb/store.h"
#include "store/save_stages.h"

namespace ckptdb {

struct ChunkTask;

// Store::Save(tensors, options), with every chunk hashed by the source's hasher() and written from
// its WithHostBytes (only the chunks the store lacks). The tensors' data pointers are passed to the
// source untouched; the store never reads them. Same guarantees and errors as Save, plus those of
// `make` and of the source.
// REQUIRES: `store` was returned by Store::Open (InvalidArgument otherwise).
Result<SavedCheckpoint> SaveFromSource(Store& store, std::span<const TensorRef> tensors, const SaveOptions& options,
                                       const MakeChunkSource& make);

// Store::SaveAsync(tensors, options) with the capture done by `capture` instead of into the store's
// staging memory: called once, on the calling thread, when the save's turn to capture comes (after
// SaveAsync's back-pressure wait), with the save's tasks; the source it returns must hold (or
// reach) every task's bytes without the caller's tensors, which the caller may change once this
// returns. The persist thread hashes with the source's hasher(), writes from its WithHostBytes,
// and destroys it there once the save has ended (before the handle reports that end). Same
// guarantees and errors as SaveAsync, plus those of `capture` (then nothing is queued).
// REQUIRES: `store` was returned by Store::Open (InvalidArgument otherwise).
Result<SaveHandle> SaveAsyncFromSource(Store& store, std::span<const TensorRef> tensors, const SaveOptions& options,
                                       const MakeChunkSource& capture);

// Which of `digests` the store holds now: a chunk-index lookup, without the save lock, for a
// capture deciding what to copy. Only a hint: a chunk present now may be collected before a later
// save commits; a source then fails that save from WithHostBytes rather than commit a chunk
// nobody holds. REQUIRES: `store` was returned by Store::Open or Store::OpenReadOnly
// (InvalidArgument otherwise). Errors: IOError from the index.
Result<std::vector<bool>> ChunksPresent(Store& store, std::span<const Digest> digests);

}  // namespace ckptdb

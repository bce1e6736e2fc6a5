// A synchronous save whose chunk bytes come from a ChunkSource the caller provides, for the
// tensors' data pointers that the store cannot read itself: device memory (gpu/device_save.h).
#pragma once

#include <functional>
#include <memory>
#include <span>

#include "ckptdb/store.h"
#include "store/save_stages.h"

namespace ckptdb {

struct ChunkTask;

// Builds the source once the save has cut the tensors into `tasks` (store/pending_save.h).
using MakeChunkSource = std::function<Result<std::unique_ptr<ChunkSource>>(std::span<const ChunkTask> tasks)>;

// Store::Save(tensors, options), with every chunk hashed by the source's hasher() and written from
// its WithHostBytes (only the chunks the store lacks). The tensors' data pointers are passed to the
// source untouched; the store never reads them. Same guarantees and errors as Save, plus those of
// `make` and of the source.
// REQUIRES: `store` was returned by Store::Open (InvalidArgument otherwise).
Result<SavedCheckpoint> SaveFromSource(Store& store, std::span<const TensorRef> tensors, const SaveOptions& options,
                                       const MakeChunkSource& make);

}  // namespace ckptdb

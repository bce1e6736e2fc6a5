// Save and SaveAsync: the checks every save's input gets, and the two ways a PendingSave
// (store/pending_save.h, the stages) is fed: the caller's tensors in place, on the caller's thread,
// or a capture into staging memory persisted by the SaveQueue's thread (store/save_queue.h).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <numeric>
#include <cstring>
#include <set>
#include <unordered_set>

#include "store/guarded_store.h"
#include "store/human_text.h"
#include "store/keys.h"
#include "store/pending_save.h"
#include "store/save_from_source.h"
#include "store/staging_layout.h"
#include "store/store_impl.h"

namespace ckptdb {
Status StoreImpl::CheckSaveInput(std::span<const TensorRef> tensors, const SaveOptions& options) {
  std::set<std::string_view> names;
  for (const TensorRef& t : tensors) {
    if (Status s = ValidateTensorRef(t); !s.ok()) return s;
    const uint64_t chunks = ChunkCount(t.size_bytes, meta_.chunk_size);
    if (!t.known_chunks.empty() && t.known_chunks.size() != chunks)
      return Status::InvalidArgument("tensor '" + t.name + "': " + Plural(t.known_chunks.size(), "known chunk") +
                                     " given, but its " + Plural(t.size_bytes, "byte") + " make" +
                                     (t.size_bytes == 1 ? "s " : " ") + std::to_string(chunks));
    if (!names.insert(t.name).second)
      return Status::InvalidArgument("tensor name '" + t.name + "' appears twice");
  }
  for (const auto& tag : options.tags)
    if (tag.empty() || !IsValidUtf8(tag)) return Status::InvalidArgument("tag '" + tag + "' is empty or not UTF-8");
  if (std::set<std::string>(options.tags.begin(), options.tags.end()).size() != options.tags.size())
    return Status::InvalidArgument("a tag is given twice");
  for (const auto& [name, value] : options.metrics)
    if (name.empty() || !IsValidUtf8(name)) return Status::InvalidArgument("metric name '" + name + "' is empty or not UTF-8");
  for (const auto& [key, value] : options.metadata)
    if (key.empty() || !IsValidUtf8(key) || !IsValidUtf8(value))
      return Status::InvalidArgument("metadata key '" + key + "' is empty or its key or value is not UTF-8");
  return Status::OK();
}

namespace {
// Save and SaveAsync read tensors in place; device memory needs the GPU path, which the store
// cannot reach without CUDA.
Status RefuseDeviceMemory(std::span<const TensorRef> tensors) {
  for (const TensorRef& t : tensors)
    if (t.cuda_device != kHostMemory)
      return Status::InvalidArgument("tensor '" + t.name + "' is in the memory of CUDA device " +
                                     std::to_string(t.cuda_device) +
                                     ": Store::Save reads host memory only; save it with gpu::DeviceSaver");
  return Status::OK();
}
}  // namespace

Result<SavedCheckpoint> StoreImpl::Save(std::span<const TensorRef> tensors, const SaveOptions& options) {
  if (Status s = RefuseDeviceMemory(tensors); !s.ok()) return s;
  // Capture is nothing here: the stages read the caller's tensors in place.
  return SaveFrom(tensors, options, [&](std::span<const ChunkTask> tasks) -> Result<std::unique_ptr<ChunkSource>> {
    return std::unique_ptr<ChunkSource>(std::make_unique<CallerChunks>(tensors, tasks));
  });
}

Result<SavedCheckpoint> StoreImpl::SaveFrom(
    std::span<const TensorRef> tensors, const SaveOptions& options,
    const MakeChunkSource& make) {
  auto save = BeginSave(tensors, options);
  if (!save.ok()) return save.status();
  return saves_->RunInline([&]() -> Result<SavedCheckpoint> {
    PendingSave& p = **save;
    auto source = make(p.tasks());
    if (!source.ok()) {
      p.Abandon();
      return source.status();
    }
    std::vector<size_t> all(p.tasks().size());
    std::iota(all.begin(), all.end(), size_t{0});
    p.Add(all, **source).IgnoreError();  // sticky: Finish returns it
    return p.Finish();
  });
}

namespace {
GuardedStore* Writer(Store& store) { return dynamic_cast<GuardedStore*>(&store); }
const Status kNotOpened = Status::InvalidArgument("the GPU path needs a store opened for writing by Store::Open");
}  // namespace

Result<SavedCheckpoint> SaveFromSource(Store& store, std::span<const TensorRef> tensors, const SaveOptions& options,
                                       const MakeChunkSource& make) {
  if (GuardedStore* guarded = Writer(store)) return guarded->SaveFrom(tensors, options, make);
  return kNotOpened;
}

Result<SaveHandle> SaveAsyncFromSource(Store& store, std::span<const TensorRef> tensors, const SaveOptions& options,
                                       const MakeChunkSource& capture) {
  if (GuardedStore* guarded = Writer(store)) return guarded->SaveAsyncFrom(tensors, options, capture);
  return kNotOpened;
}

Result<std::vector<bool>> ChunksPresent(Store& store, std::span<const Digest> digests) {
  if (GuardedStore* guarded = Writer(store)) return guarded->ChunksPresent(digests);
  return kNotOpened;
}

Result<std::vector<bool>> StoreImpl::ChunksPresent(std::span<const Digest> digests) {
  std::vector<bool> present(digests.size());
  for (size_t i = 0; i < digests.size(); ++i) {
    auto has = db_->HasChunk(digests[i]);
    if (!has.ok()) return has.status();
    present[i] = *has;
  }
  return present;
}

Result<SaveHandle> StoreImpl::SaveAsyncFrom(std::span<const TensorRef> tensors, const SaveOptions& options,
                                            const MakeChunkSource& capture) {
  auto save = BeginSave(tensors, options);
  if (!save.ok()) return save.status();
  return saves_->SubmitCaptured(std::move(save).value(), capture);
}

Result<SaveHandle> StoreImpl::SaveAsync(std::span<const TensorRef> tensors, const SaveOptions& options) {
  if (Status s = RefuseDeviceMemory(tensors); !s.ok()) return s;
  auto save = BeginSave(tensors, options);
  if (!save.ok()) return save.status();
  return saves_->Submit(std::move(save).value(), tensors);
}

Status StoreImpl::ReserveStaging(std::span<const uint64_t> tensor_bytes) {
  if (Status s = CheckWritable(); !s.ok()) return s;
  const uint64_t block = staging_.block_bytes();
  return staging_.Reserve(StagingBlocksFor(tensor_bytes, meta_.chunk_size, block, staging_.cap_bytes() / block) * block);
}

Result<std::unique_ptr<PendingSave>> StoreImpl::BeginSave(std::span<const TensorRef> tensors,
                                                          const SaveOptions& options) {
  if (Status s = CheckWritable(); !s.ok()) return s;
  if (!next_pack_error_.ok()) return next_pack_error_;
  return PendingSave::Begin(*this, tensors, options);
}

Status StoreImpl::Close() {
  saves_->Drain();
  Status saves = saves_->TakeError();
  Status gc = collector_.Wait();
  if (saves.ok()) return gc;
  std::string message = "an asynchronous save failed: " + saves.message();
  if (!gc.ok()) message += "; and a background garbage collection failed: " + gc.ToString();
  return Status(saves.code(), message);
}

}  // namespace ckptdb

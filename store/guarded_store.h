// GuardedStore: the public boundary of StoreImpl. Store::Open hands out this wrapper and every
// public call passes through it, so the rules that hold for all calls live in one place:
//  - no exception leaves a Status/Result API (NoThrow: a failed allocation is ResourceExhausted);
//  - an edit first reports a failed background garbage collection (the contract in store.h, Save);
//  - Close() ends the store while other threads may still call it: they get FailedPrecondition;
//  - a background error nobody was told of is written to stderr when the store is destroyed.
//
// Thread safety: as Store. Calls hold a shared lock on the store; Close takes it exclusively, so it
// waits for the calls in flight.
#pragma once

#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "store/save_from_source.h"
#include "store/store_impl.h"

namespace ckptdb {

class GuardedStore final : public Store {
 public:
  explicit GuardedStore(std::unique_ptr<StoreImpl> impl);
  ~GuardedStore() override;

  Result<SavedCheckpoint> Save(std::span<const TensorRef> tensors, const SaveOptions& options) override;
  Result<SaveHandle> SaveAsync(std::span<const TensorRef> tensors, const SaveOptions& options) override;
  Status ReserveStaging(std::span<const uint64_t> tensor_bytes) override;
  Result<std::vector<int64_t>> AbandonPendingSaves() override;
  Result<std::vector<CheckpointInfo>> List() override;
  Result<CheckpointManifest> Describe(const Selector& which) override;
  Result<std::vector<Tensor>> Restore(const Selector& which, const ReadOptions& options) override;
  Status RestoreInto(const Selector& which, std::span<const TensorBuffer> buffers,
                     const ReadOptions& options) override;
  Result<RangeReadReport> ReadTensorRange(const Selector& which, const std::string& name, uint64_t offset,
                                          std::span<uint8_t> dst, const ReadOptions& options) override;
  Result<VerifyReport> Verify(const VerifyOptions& options = {}) override;
  Status Tag(const Selector& which, const std::string& name) override;
  Status Untag(const std::string& name) override;
  Result<CheckpointInfo> Remove(const Selector& which) override;
  Result<GcReport> CollectGarbage(const GcOptions& options = {}) override;
  Result<SpaceReport> Space() override;
  Result<RetentionPolicy> GetRetention() override;
  Status SetRetention(const RetentionPolicy& policy) override;
  Result<std::optional<CheckpointId>> Head() override;
  Result<RollbackReport> Rollback(const Selector& which, bool discard) override;
  Status WaitForBackgroundWork() override;
  Status Close() override;
  Status Refresh() override;
  bool read_only() const override { return read_only_; }
  // Tests: waits until no background collection is requested or running, keeping its error.
  void WaitForBackgroundIdleForTesting();
  const std::string& path() const override { return path_; }
  uint64_t chunk_size() const override { return chunk_size_; }
  // SaveFromSource (store/save_from_source.h) through the same gate as Save.
  Result<SavedCheckpoint> SaveFrom(std::span<const TensorRef> tensors, const SaveOptions& options,
                                   const MakeChunkSource& make);
  // ChunksPresent through the gate of every read.
  Result<std::vector<bool>> ChunksPresent(std::span<const Digest> digests);
  // SaveAsyncFromSource through the same gate as SaveAsync.
  Result<SaveHandle> SaveAsyncFrom(std::span<const TensorRef> tensors, const SaveOptions& options,
                                   const MakeChunkSource& capture);
  // StreamCheckpoint (store/stream_read.h) through the same gate as every read.
  Status StreamCheckpoint(const Selector& which, uint64_t window_bytes, const ReadOptions& options,
                          const StreamBegin& begin, const StreamWrite& write,
                          const StreamWindows* windows = nullptr);

 private:
  // What an edit has not done when it reports a failed background collection instead.
  enum class Edit { kNone, kSaved, kChanged, kCollected };
  // Runs `f` on the open store: FailedPrecondition once closed; for an edit, first the error of a
  // finished background collection; never an exception. `doing` names the call ("restoring").
  template <typename F>
  auto Call(std::string_view doing, Edit edit, F&& f) -> decltype(f());

  const std::string path_;
  const uint64_t chunk_size_;
  const bool read_only_;
  std::shared_mutex mu_;
  std::unique_ptr<StoreImpl> impl_;  // null once closed
};

}  // namespace ckptdb

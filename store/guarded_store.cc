#include "store/guarded_store.h"

#include <cstdio>
#include <mutex>

#include "store/no_throw.h"

namespace ckptdb {

GuardedStore::GuardedStore(std::unique_ptr<StoreImpl> impl)
    : path_(impl->path()), chunk_size_(impl->chunk_size()), read_only_(impl->read_only()), impl_(std::move(impl)) {}

GuardedStore::~GuardedStore() {
  if (!impl_) return;
  // Finishes a requested collection first, so a process that saves and exits still reclaims.
  Status s = NoThrow(path_, "closing", [&] { return impl_->Close(); });
  impl_.reset();
  if (!s.ok())
    std::fprintf(stderr, "ckptdb: store %s was closed with an unreported background error: %s\n",
                 path_.c_str(), s.ToString().c_str());
}

template <typename F>
auto GuardedStore::Call(std::string_view doing, Edit edit, F&& f) -> decltype(f()) {
  return NoThrow(path_, doing, [&]() -> decltype(f()) {
    std::shared_lock<std::shared_mutex> l(mu_);
    if (!impl_) return Status::FailedPrecondition("store " + path_ + " is closed");
    if (edit != Edit::kNone) {
      // Never waits for a collection still running (it runs beside saves): its error, if any,
      // reaches the next edit after it finished, WaitForBackgroundWork or Close.
      if (Status s = impl_->TakeBackgroundError(); !s.ok()) {
        const char* undone = edit == Edit::kSaved ? "nothing was saved" :
                             edit == Edit::kCollected ? "nothing was collected" : "nothing was changed";
        return Status(s.code(), "the background garbage collection of store " + path_ + " failed, so " + undone +
                                    " (this reports it once: retrying proceeds): " + s.message());
      }
    }
    return f();
  });
}

Status GuardedStore::Refresh() {
  return Call("refreshing", Edit::kNone, [&] { return impl_->Refresh(); });
}

void GuardedStore::WaitForBackgroundIdleForTesting() {
  std::shared_lock<std::shared_mutex> l(mu_);
  if (impl_) impl_->WaitForBackgroundIdle();
}

Result<SavedCheckpoint> GuardedStore::Save(std::span<const TensorRef> tensors, const SaveOptions& options) {
  return Call("saving", Edit::kSaved, [&] { return impl_->Save(tensors, options); });
}
Result<SavedCheckpoint> GuardedStore::SaveFrom(std::span<const TensorRef> tensors, const SaveOptions& options,
                                               const MakeChunkSource& make) {
  return Call("saving", Edit::kSaved, [&] { return impl_->SaveFrom(tensors, options, make); });
}
Result<std::vector<bool>> GuardedStore::ChunksPresent(std::span<const Digest> digests) {
  return Call("looking up chunks", Edit::kNone, [&] { return impl_->ChunksPresent(digests); });
}
Result<SaveHandle> GuardedStore::SaveAsyncFrom(std::span<const TensorRef> tensors, const SaveOptions& options,
                                               const MakeChunkSource& capture) {
  return Call("saving asynchronously", Edit::kSaved, [&] { return impl_->SaveAsyncFrom(tensors, options, capture); });
}
Result<SaveHandle> GuardedStore::SaveAsync(std::span<const TensorRef> tensors, const SaveOptions& options) {
  return Call("saving asynchronously", Edit::kSaved, [&] { return impl_->SaveAsync(tensors, options); });
}
Status GuardedStore::ReserveStaging(std::span<const uint64_t> tensor_bytes) {
  return Call("reserving staging memory", Edit::kNone, [&] { return impl_->ReserveStaging(tensor_bytes); });
}
Result<std::vector<int64_t>> GuardedStore::AbandonPendingSaves() {
  return Call("abandoning pending saves", Edit::kNone, [&] { return impl_->AbandonPendingSaves(); });
}
Result<std::vector<CheckpointInfo>> GuardedStore::List() {
  return Call("listing", Edit::kNone, [&] { return impl_->List(); });
}
Result<CheckpointManifest> GuardedStore::Describe(const Selector& which) {
  return Call("describing a checkpoint", Edit::kNone, [&] { return impl_->Describe(which); });
}
Result<std::vector<Tensor>> GuardedStore::Restore(const Selector& which, const ReadOptions& options) {
  return Call("restoring", Edit::kNone, [&] { return impl_->Restore(which, options); });
}
Status GuardedStore::RestoreInto(const Selector& which, std::span<const TensorBuffer> buffers,
                                 const ReadOptions& options) {
  return Call("restoring", Edit::kNone, [&] { return impl_->RestoreInto(which, buffers, options); });
}
Result<RangeReadReport> GuardedStore::ReadTensorRange(const Selector& which, const std::string& name, uint64_t offset,
                                                      std::span<uint8_t> dst, const ReadOptions& options) {
  return Call("reading a tensor range", Edit::kNone,
              [&] { return impl_->ReadTensorRange(which, name, offset, dst, options); });
}
Result<VerifyReport> GuardedStore::Verify(const VerifyOptions& options) {
  return Call("verifying", Edit::kNone, [&] { return impl_->Verify(options); });
}
Status GuardedStore::Tag(const Selector& which, const std::string& name) {
  return Call("tagging", Edit::kChanged, [&] { return impl_->Tag(which, name); });
}
Status GuardedStore::Untag(const std::string& name) {
  return Call("untagging", Edit::kChanged, [&] { return impl_->Untag(name); });
}
Result<CheckpointInfo> GuardedStore::Remove(const Selector& which) {
  return Call("removing a checkpoint", Edit::kChanged, [&] { return impl_->Remove(which); });
}
Result<GcReport> GuardedStore::CollectGarbage(const GcOptions& options) {
  // A dry run changes nothing, so it neither reports nor consumes a background collection's error.
  return Call(options.dry_run ? "planning a garbage collection" : "collecting garbage",
              options.dry_run ? Edit::kNone : Edit::kCollected, [&] { return impl_->CollectGarbage(options); });
}
Result<SpaceReport> GuardedStore::Space() {
  return Call("accounting space", Edit::kNone, [&] { return impl_->Space(); });
}
Result<RetentionPolicy> GuardedStore::GetRetention() {
  return Call("reading the retention policy", Edit::kNone, [&] { return impl_->GetRetention(); });
}
Status GuardedStore::SetRetention(const RetentionPolicy& policy) {
  return Call("setting the retention policy", Edit::kChanged, [&] { return impl_->SetRetention(policy); });
}
Result<std::optional<CheckpointId>> GuardedStore::Head() {
  return Call("reading the head", Edit::kNone, [&] { return impl_->Head(); });
}
Result<RollbackReport> GuardedStore::Rollback(const Selector& which, bool discard) {
  return Call("rolling back", Edit::kChanged, [&] { return impl_->Rollback(which, discard); });
}
Status GuardedStore::WaitForBackgroundWork() {
  return Call("waiting for background work", Edit::kNone, [&] { return impl_->WaitForBackgroundWork(); });
}

Status GuardedStore::StreamCheckpoint(const Selector& which, uint64_t window_bytes, const ReadOptions& options,
                                      const StreamBegin& begin, const StreamWrite& write,
                                      const StreamWindows* windows) {
  return Call("streaming a checkpoint", Edit::kNone,
              [&] { return impl_->StreamCheckpoint(which, window_bytes, options, begin, write, windows); });
}

Status GuardedStore::Close() {
  return NoThrow(path_, "closing", [&] {
    std::unique_lock<std::shared_mutex> l(mu_);
    if (!impl_) return Status::OK();  // already closed
    Status s = impl_->Close();
    impl_.reset();  // closes the database, so another process may open the store now
    return s;
  });
}

}  // namespace ckptdb

// The save pipeline: hash chunks in parallel, write the ones the store lacks into a new pack file
// with O_DIRECT, sync it, then commit the chunk index entries and the manifest in one synced batch.
// A crash before the commit leaves at most an unreferenced pack file, which the next save reuses
// (truncates) because next_pack only advances in the commit; the checkpoint is visible only once
// its manifest is. With a retention policy, the checkpoints it retires are deleted in that same batch.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <set>
#include <unordered_set>

#include "store/keys.h"
#include "store/store_impl.h"

namespace ckptdb {
namespace {

// The first error of a parallel run; later tasks see it and stop early.
class FirstError {
 public:
  void Set(Status s) {
    std::lock_guard<std::mutex> l(mu_);
    if (status_.ok()) status_ = std::move(s);
    failed_ = true;
  }
  bool failed() const { return failed_.load(std::memory_order_relaxed); }
  Status Take() { return std::move(status_); }

 private:
  std::mutex mu_;
  Status status_;
  std::atomic<bool> failed_{false};
};

// How many chunks `size` bytes make: the last one may be short.
uint64_t ChunkCount(uint64_t size, uint64_t chunk_size) { return size / chunk_size + (size % chunk_size != 0); }

}  // namespace

Status StoreImpl::CheckSaveInput(std::span<const TensorRef> tensors, const SaveOptions& options) {
  std::set<std::string_view> names;
  for (const TensorRef& t : tensors) {
    if (Status s = ValidateTensorRef(t); !s.ok()) return s;
    const uint64_t chunks = ChunkCount(t.size_bytes, meta_.chunk_size);
    if (!t.known_chunks.empty() && t.known_chunks.size() != chunks)
      return Status::InvalidArgument("tensor '" + t.name + "': " + std::to_string(t.known_chunks.size()) +
                                     " known chunks given, but its " + std::to_string(t.size_bytes) +
                                     " bytes make " + std::to_string(chunks));
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

Result<SavedCheckpoint> StoreImpl::Save(std::span<const TensorRef> tensors, const SaveOptions& options) {
  const std::string where = "store " + path_ + ", saving step " + std::to_string(options.step);
  if (Status s = CheckWritable(); !s.ok()) return s;
  if (!next_pack_error_.ok()) return next_pack_error_;
  if (Status s = CheckSaveInput(tensors, options); !s.ok()) return s.WithContext(where);
  std::lock_guard<std::mutex> lock(save_mu_);

  for (const auto& tag : options.tags) {
    auto existing = db_->GetMeta(keys::TagKey(tag));
    if (!existing.ok()) return existing.status();
    if (existing->has_value())
      return Status::AlreadyExists(where + ": tag '" + tag + "' already names checkpoint " +
                                   std::to_string(keys::DecodeU64(**existing).value_or(0)));
  }

  std::vector<uint64_t> sizes;
  for (const auto& t : tensors) sizes.push_back(t.size_bytes);
  const std::vector<ChunkTask> tasks = PlanChunks(sizes, meta_.chunk_size);

  CheckpointManifest m;
  m.chunk_size = meta_.chunk_size;
  m.tensors.resize(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorRef& t = tensors[i];
    m.tensors[i] = {t.name, t.dtype, t.shape, t.size_bytes, {}};
    m.tensors[i].chunks.resize(ChunkCount(t.size_bytes, meta_.chunk_size));
    m.info.logical_bytes += t.size_bytes;
  }

  std::mutex mu;  // guards claimed, index_puts and the lazily created pack
  std::unordered_set<Digest, DigestHash> claimed;  // digests some task of this save writes or found
  std::vector<std::pair<std::string, std::string>> index_puts;
  std::unique_ptr<PackWriter> pack;
  std::optional<uint64_t> pack_id;  // allocated with the pack, in flight until this save ends
  struct ReleasePack {
    PackIds& ids;
    std::optional<uint64_t>& id;
    ~ReleasePack() { if (id) ids.Release(*id); }
  } release_pack{pack_ids_, pack_id};
  std::atomic<uint64_t> new_bytes{0};
  FirstError error;
  write_pool_.ParallelFor(tasks.size(), [&](size_t k) {
    if (error.failed()) return;
    const ChunkTask& task = tasks[k];
    const TensorRef& t = tensors[task.tensor];
    if (!t.known_chunks.empty()) {
      // The caller vouches for the bytes; the store only checks it still holds the chunk, so the
      // manifest never names one it lacks. Nothing is read, hashed or written.
      const Digest& d = t.known_chunks[task.index];
      m.tensors[task.tensor].chunks[task.index] = d;
      auto ref = db_->GetChunk(d);
      if (!ref.ok()) return error.Set(ref.status());
      const auto decoded = ref->has_value() ? keys::DecodeChunkRef(**ref) : std::nullopt;
      if (!decoded || decoded->raw_length != task.length)
        return error.Set(Status::FailedPrecondition(
            "tensor '" + t.name + "': known chunk " + std::to_string(task.index) + " (" + d.ToHex() + ") is " +
            (ref->has_value() ? "not a chunk of " + std::to_string(task.length) + " bytes" : "no longer in the store") +
            "; save it without the hint"));
      return;
    }
    const uint8_t* bytes = static_cast<const uint8_t*>(t.data) + task.offset;
    const Digest d = HashBytes(bytes, task.length);
    m.tensors[task.tensor].chunks[task.index] = d;
    {
      std::lock_guard<std::mutex> l(mu);
      if (!claimed.insert(d).second) return;  // tied weights: another task has it
    }
    auto present = db_->HasChunk(d);
    if (!present.ok()) return error.Set(present.status());
    if (*present) return;
    std::string ref;
    if (task.length < keys::kInlineChunkMax) {
      ref = keys::EncodeInlineChunk(bytes, task.length);
    } else {
      PackWriter* writer;
      {
        std::lock_guard<std::mutex> l(mu);
        if (!pack) {
          pack_id = pack_ids_.Allocate();
          auto created = PackWriter::Create(*fs_, packs_dir_, *pack_id, direct_io_);
          if (!created.ok()) return error.Set(created.status());
          pack = std::move(created).value();
        }
        writer = pack.get();
      }
      const uint64_t offset = writer->Reserve(task.length);
      if (Status s = writer->Write(offset, bytes, task.length); !s.ok()) return error.Set(s);
      ref = keys::EncodePackedChunk(*pack_id, offset, task.length);
    }
    new_bytes.fetch_add(task.length);
    std::lock_guard<std::mutex> l(mu);
    index_puts.emplace_back(keys::ChunkIndexKey(d), std::move(ref));
  });
  if (error.failed()) return error.Take().WithContext(where);
  // Pack bytes must be durable before any index entry or manifest that names them commits.
  if (pack)
    if (Status s = pack->Finish(); !s.ok()) return s.WithContext(where);

  auto next = db_->GetMeta(keys::kNextId);
  if (!next.ok()) return next.status();
  auto head = HeadAt(nullptr);
  if (!head.ok()) return head.status();
  const auto id = next->has_value() ? keys::DecodeU64(**next) : std::optional<uint64_t>(1);
  if (!id) return Status::Corruption("store " + path_ + ": next_id is malformed");

  CheckpointInfo& info = m.info;
  info.id = *id;
  info.step = options.step;
  info.parent = *head;
  info.commit_time_ns = NowNs();
  info.tensor_count = tensors.size();
  info.new_bytes = new_bytes.load();
  info.metrics = options.metrics;
  info.tags = options.tags;
  std::sort(info.tags.begin(), info.tags.end());
  m.metadata = options.metadata;
  m.structure = options.structure;

  CommitBatch batch;
  // Rotation commits with the checkpoint, so no crash can leave the new one without the old ones
  // gone or the old ones gone without the new one.
  auto policy = RetentionAt(nullptr);
  if (!policy.ok()) return policy.status().WithContext(where);
  SavedCheckpoint saved;
  std::unique_ptr<RetentionTracker> tracker = std::move(retention_);  // back only once this commits
  std::optional<RetentionTracker::SavePlan> plan;
  std::optional<std::vector<CheckpointInfo>> after;  // every summary once this commits, if judged in full
  if (policy->max_to_keep > 0) {
    if (tracker && tracker->Matches(*policy, info.parent)) {
      plan = tracker->Plan(info);
      DeleteCheckpointsInto(plan->retired, batch);
      for (const CheckpointInfo& moved : plan->repointed)
        batch.summary_puts.emplace_back(keys::EncodeU64(moved.id), schema::EncodeSummary(moved));
      info.parent = plan->parent;
      saved.retired = plan->retired;
    } else {
      auto all = LoadSummaries();
      if (!all.ok()) return all.status().WithContext(where);
      all->push_back(info);
      saved.retired = RetireInto(*policy, *all, *id, batch, *id);
      info.parent = all->back().parent;  // the new head is never retired and stays last, maybe re-pointed
      after = std::move(all).value();
    }
  }
  batch.chunk_puts = std::move(index_puts);
  if (pack) batch.meta_puts.emplace_back(std::string(keys::kNextPack), keys::EncodeU64(pack_ids_.next()));
  batch.manifest_puts.emplace_back(keys::EncodeU64(info.id), schema::EncodeManifest(m));
  batch.summary_puts.emplace_back(keys::EncodeU64(info.id), schema::EncodeSummary(info));
  batch.meta_puts.emplace_back(std::string(keys::kNextId), keys::EncodeU64(info.id + 1));
  batch.meta_puts.emplace_back(std::string(keys::kHead), keys::EncodeU64(info.id));
  for (const auto& tag : info.tags) batch.meta_puts.emplace_back(keys::TagKey(tag), keys::EncodeU64(info.id));
  if (Status s = db_->Commit(batch); !s.ok()) return s.WithContext(where + ", committing");
  NoteCommit();
  if (plan) {
    tracker->Apply(info, *plan);
    retention_ = std::move(tracker);
  } else if (after) {
    retention_ = std::make_unique<RetentionTracker>(*policy, std::move(*after), info.id);
  }
  if (!saved.retired.empty() && background_gc_) collector_.Request();
  static_cast<CheckpointInfo&>(saved) = info;
  saved.chunks.reserve(m.tensors.size());
  for (TensorInfo& t : m.tensors) saved.chunks.push_back(std::move(t.chunks));
  return saved;
}

}  // namespace ckptdb

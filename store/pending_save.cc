// The save's stages (store/pending_save.h). Crash safety: a crash before the commit leaves at most
// an unreferenced pack file, which a collection deletes; next_pack only advances in the commit;
// the checkpoint is visible only once its manifest is. With a retention policy, the checkpoints it
// retires are deleted in that same batch.
#include "store/pending_save.h"

#include <algorithm>

#include "store/human_text.h"
#include "store/keys.h"
#include "store/pack_run.h"

namespace ckptdb {
Result<std::unique_ptr<PendingSave>> PendingSave::Begin(StoreImpl& store, std::span<const TensorRef> tensors,
                                                        const SaveOptions& options) {
  std::unique_ptr<PendingSave> p(
      new PendingSave(store, "store " + store.path_ + ", saving step " + std::to_string(options.step)));
  if (Status s = store.CheckSaveInput(tensors, options); !s.ok()) return s.WithContext(p->where_);
  // A courtesy before any work: the commit checks again under the save lock.
  if (Status s = p->CheckTagsFree(options.tags); !s.ok()) return s.WithContext(p->where_);
  const uint64_t chunk_size = store.meta_.chunk_size;
  std::vector<uint64_t> sizes;
  for (const auto& t : tensors) sizes.push_back(t.size_bytes);
  p->tasks_ = PlanChunks(sizes, chunk_size);
  CheckpointManifest& m = p->manifest_;
  m.chunk_size = chunk_size;
  m.tensors.resize(tensors.size());
  p->known_.resize(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorRef& t = tensors[i];
    m.tensors[i] = {t.name, t.dtype, t.shape, t.size_bytes, {}};
    if (!t.known_chunks.empty()) {
      m.tensors[i].chunks.assign(t.known_chunks.begin(), t.known_chunks.end());
      p->known_[i] = true;
    } else {
      m.tensors[i].chunks.resize(ChunkCount(t.size_bytes, chunk_size));
    }
    m.info.logical_bytes += t.size_bytes;
  }
  m.info.step = options.step;
  m.info.tensor_count = tensors.size();
  m.info.tags = options.tags;
  std::sort(m.info.tags.begin(), m.info.tags.end());
  p->options_ = options;
  return p;
}

Status PendingSave::CheckTagsFree(const std::vector<std::string>& tags) const {
  for (const auto& tag : tags) {
    auto existing = store_.db_->GetMeta(keys::TagKey(tag));
    if (!existing.ok()) return existing.status();
    if (existing->has_value())
      return Status::AlreadyExists("tag '" + tag + "' already names checkpoint " +
                                   std::to_string(keys::DecodeU64(**existing).value_or(0)));
  }
  return Status::OK();
}

PendingSave::~PendingSave() {
  if (!ended_) Abandon();
}

void PendingSave::Lock() {
  if (!lock_.owns_lock()) lock_ = std::unique_lock<std::mutex>(store_.save_mu_);
  if (!progress_) progress_ = std::make_unique<ProgressReporter>(options_.progress, manifest_.info.logical_bytes);
}

void PendingSave::Fail(Status s) {
  std::lock_guard<std::mutex> l(mu_);
  if (status_.ok()) status_ = s.WithContext(where_);
}

namespace {

// Cuts `which` into consecutive groups, each of at least `batch` tasks (one hasher call) and, while
// tasks last, of at least kPackRunBytes, so that a group's new chunks fill one large write. A save
// too small to give each of the pool's `threads` two such groups gets smaller ones instead: all
// workers take part, and one slow progress callback holds up only its own worker's group.
std::vector<std::span<const size_t>> TaskGroups(std::span<const size_t> which, std::span<const ChunkTask> tasks,
                                                size_t batch, int threads) {
  uint64_t total = 0;
  for (size_t k : which) total += PackPadded(tasks[k].length);
  const uint64_t target = std::clamp<uint64_t>(total / (2 * uint64_t(threads)), 1, kPackRunBytes);
  std::vector<std::span<const size_t>> groups;
  size_t start = 0;
  uint64_t bytes = 0;
  for (size_t i = 0; i < which.size(); ++i) {
    bytes += PackPadded(tasks[which[i]].length);
    if (i + 1 - start >= batch && bytes >= target) {
      groups.push_back(which.subspan(start, i + 1 - start));
      start = i + 1;
      bytes = 0;
    }
  }
  if (start < which.size()) groups.push_back(which.subspan(start));
  return groups;
}

}  // namespace

Status PendingSave::Add(std::span<const size_t> which, const ChunkSource& source) {
  Lock();
  if (!status_.ok()) return status_;
  std::atomic<bool> failed{false};
  const ChunkHasher& hasher = source.hasher() ? *source.hasher() : *store_.hasher_;
  const auto groups = TaskGroups(which, tasks_, std::max<size_t>(1, hasher.batch_chunks()), store_.write_pool_.size());
  PackQueue queue(store_.write_buffers_);
  store_.write_pool_.ParallelFor(groups.size(), [&](size_t g) {
    if (failed.load(std::memory_order_relaxed)) return;
    if (stop_.load(std::memory_order_relaxed)) {
      failed = true;
      return Fail(Status::Aborted("the save was abandoned"));
    }
    if (progress_->failed()) {
      failed = true;
      return Fail(progress_->status());
    }
    const std::span<const size_t> group = groups[g];
    // Only tasks neither known nor already digested by the source's capture are hashed here.
    std::vector<ChunkView> views;
    for (size_t k : group)
      if (!known(k) && !source.Digested(k)) views.push_back(source.View(k));
    std::vector<Digest> digests(views.size());
    if (Status s = hasher.Hash(views, digests); !s.ok()) {
      failed = true;
      return Fail(std::move(s));
    }
    // Progress counts a chunk once it is hashed and handed on (at most PackQueue::kMaxQueued
    // runs ahead of the disk), on this worker: a slow callback must not stall the one writer.
    PackRun run(queue, [this] { return Writer(); },
                [this](const Digest& d, uint64_t offset, uint64_t length) { Placed(d, offset, length); });
    size_t h = 0;
    for (size_t k : group) {
      const ChunkTask& t = tasks_[k];
      Digest& d = manifest_.tensors[t.tensor].chunks[t.index];
      Status s;
      if (known(k)) {
        s = CheckKnown(k, d);
      } else if (const Digest* given = source.Digested(k)) {
        d = *given;
        s = Place(k, d, source.View(k), source, run);
      } else {
        d = digests[h];
        s = Place(k, d, views[h], source, run);
        ++h;
      }
      if (!s.ok()) {
        failed = true;
        return Fail(std::move(s));
      }
      progress_->Add(t.length);
    }
    if (Status s = run.Flush(); !s.ok()) {
      failed = true;
      return Fail(std::move(s));
    }
  });
  // Every write queued is done (or dropped after the first that failed) before Finish commits.
  if (Status s = queue.Drain(); !s.ok()) Fail(std::move(s));
  // A throw in the last report of the loop is caught here, before Finish commits.
  if (progress_->failed()) Fail(progress_->status());
  return status_;
}

Status PendingSave::CheckKnown(size_t k, const Digest& d) {
  // The caller vouches for the bytes; the store only checks it still holds the chunk, so the
  // manifest never names one it lacks. Nothing is read, hashed or written.
  const ChunkTask& task = tasks_[k];
  auto ref = store_.db_->GetChunk(d);
  if (!ref.ok()) return ref.status();
  const auto decoded = ref->has_value() ? keys::DecodeChunkRef(**ref) : std::nullopt;
  if (decoded && decoded->raw_length == task.length) return Status::OK();
  return Status::FailedPrecondition(
      "tensor '" + manifest_.tensors[task.tensor].name + "': known chunk " + std::to_string(task.index) + " (" +
      d.ToHex() + ") is " +
      (ref->has_value() ? "not a chunk of " + Plural(task.length, "byte") : "no longer in the store") +
      "; save it without the hint");
}

Status PendingSave::Place(size_t k, const Digest& d, const ChunkView& device_or_host, const ChunkSource& source,
                          PackRun& run) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!claimed_.insert(d).second) return Status::OK();  // tied weights: another task has it
  }
  auto present = store_.db_->HasChunk(d);
  if (!present.ok()) return present.status();
  if (*present) return Status::OK();
  return source.WithHostBytes(k, device_or_host, [&](const ChunkView& host) {
    if (host.length < keys::kInlineChunkMax) return WriteInline(d, host);
    // A host source passes its own view, which lives as long as the source; a device source's
    // host copy may be reused as soon as this returns.
    return run.Add(d, host, host.data == device_or_host.data);
  });
}

Status PendingSave::WriteInline(const Digest& d, const ChunkView& view) {
  std::string ref = keys::EncodeInlineChunk(view.data, view.length);
  new_bytes_.fetch_add(view.length);
  std::lock_guard<std::mutex> l(mu_);
  index_puts_.emplace_back(keys::ChunkIndexKey(d), std::move(ref));
  return Status::OK();
}

Result<PackWriter*> PendingSave::Writer() {
  std::lock_guard<std::mutex> l(mu_);
  if (!pack_) {
    pack_id_ = store_.pack_ids_.Allocate();
    auto created = PackWriter::Create(*store_.fs_, store_.packs_dir_, *pack_id_, store_.direct_io_);
    if (!created.ok()) return created.status();
    pack_ = std::move(created).value();
  }
  return pack_.get();
}

void PendingSave::Placed(const Digest& d, uint64_t offset, uint64_t length) {
  new_bytes_.fetch_add(length);
  std::lock_guard<std::mutex> l(mu_);  // also guards pack_id_, set by Writer()
  index_puts_.emplace_back(keys::ChunkIndexKey(d), keys::EncodePackedChunk(*pack_id_, offset, length));
}

Result<SavedCheckpoint> PendingSave::Finish() {
  Lock();
  if (!status_.ok()) {
    Abandon();
    return status_;
  }
  Result<SavedCheckpoint> r = Commit();
  if (!r.ok()) {
    status_ = r.status().WithContext(where_);
    Abandon();
    return status_;
  }
  ended_ = true;
  if (pack_id_) store_.pack_ids_.Release(*pack_id_);
  pack_id_.reset();
  lock_ = {};
  progress_->Finish().IgnoreError();  // committed: only the final report is left, and it cannot fail the save
  return r;
}

void PendingSave::Abandon() {
  ended_ = true;
  if (pack_) {
    // Nothing names the pack: delete it now (its id is still in flight, so no collection races
    // this), which gives a full disk its space back. Should that fail, a collection deletes it.
    pack_.reset();
    store_.fs_->Remove(PackPath(store_.packs_dir_, *pack_id_)).IgnoreError();
  }
  if (pack_id_) store_.pack_ids_.Release(*pack_id_);
  pack_id_.reset();
  if (lock_.owns_lock()) lock_.unlock();
}

Result<SavedCheckpoint> PendingSave::Commit() {
  StoreImpl& s = store_;
  if (Status st = CheckTagsFree(manifest_.info.tags); !st.ok()) return st;  // before paying for the sync
  // Pack bytes must be durable before any index entry or manifest that names them commits.
  if (pack_)
    if (Status st = pack_->Finish(); !st.ok()) return st;
  auto next = s.db_->GetMeta(keys::kNextId);
  if (!next.ok()) return next.status();
  auto head = s.HeadAt(nullptr);
  if (!head.ok()) return head.status();
  const auto id = next->has_value() ? keys::DecodeU64(**next) : std::optional<uint64_t>(1);
  if (!id) return Status::Corruption("store " + s.path_ + ": next_id is malformed");

  CheckpointManifest& m = manifest_;
  CheckpointInfo& info = m.info;
  info.id = *id;
  info.parent = *head;
  info.commit_time_ns = NowNs();
  info.new_bytes = new_bytes_.load();
  info.metrics = options_.metrics;
  m.metadata = std::move(options_.metadata);
  m.structure = std::move(options_.structure);

  CommitBatch batch;
  // Rotation commits with the checkpoint, so no crash can leave the new one without the old ones
  // gone or the old ones gone without the new one.
  auto policy = s.RetentionAt(nullptr);
  if (!policy.ok()) return policy.status();
  SavedCheckpoint saved;
  std::unique_ptr<RetentionTracker> tracker = std::move(s.retention_);  // back only once this commits
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
      auto all = s.LoadSummaries();
      if (!all.ok()) return all.status();
      all->push_back(info);
      saved.retired = RetireInto(*policy, *all, *id, batch, *id);
      info.parent = all->back().parent;  // the new head is never retired and stays last, maybe re-pointed
      after = std::move(all).value();
    }
  }
  batch.chunk_puts = std::move(index_puts_);
  if (pack_) batch.meta_puts.emplace_back(std::string(keys::kNextPack), keys::EncodeU64(s.pack_ids_.next()));
  batch.manifest_puts.emplace_back(keys::EncodeU64(info.id), schema::EncodeManifest(m));
  batch.summary_puts.emplace_back(keys::EncodeU64(info.id), schema::EncodeSummary(info));
  batch.meta_puts.emplace_back(std::string(keys::kNextId), keys::EncodeU64(info.id + 1));
  batch.meta_puts.emplace_back(std::string(keys::kHead), keys::EncodeU64(info.id));
  for (const auto& tag : info.tags) batch.meta_puts.emplace_back(keys::TagKey(tag), keys::EncodeU64(info.id));
  if (Status st = s.db_->Commit(batch); !st.ok()) return st.WithContext("committing");
  s.NoteCommit();
  if (plan) {
    tracker->Apply(info, *plan);
    s.retention_ = std::move(tracker);
  } else if (after) {
    s.retention_ = std::make_unique<RetentionTracker>(*policy, std::move(*after), info.id);
  }
  if (!saved.retired.empty() && s.background_gc_) s.collector_.Request();
  static_cast<CheckpointInfo&>(saved) = info;
  saved.chunks.reserve(m.tensors.size());
  for (TensorInfo& t : m.tensors) saved.chunks.push_back(std::move(t.chunks));
  return saved;
}

}  // namespace ckptdb

#include "store/save_queue.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "store/pack_file.h"
#include "store/pending_save.h"
#include "store/staging_layout.h"
#include "store/thread_name.h"

namespace ckptdb {
namespace {

Status Reported(const Status& failure, const char* undone) {
  return Status(failure.code(), std::string("an earlier asynchronous save failed, so ") + undone +
                                    " (this reports it once: retrying proceeds): " + failure.message());
}

}  // namespace

void SaveOutcome::Set(Result<SavedCheckpoint> r) {
  std::lock_guard<std::mutex> l(mu);
  result = std::move(r);
  done = true;
  cv.notify_all();
}

Result<SavedCheckpoint> SaveHandle::Wait() const {
  if (!outcome_) return Status::FailedPrecondition("this SaveHandle belongs to no save");
  std::unique_lock<std::mutex> l(outcome_->mu);
  outcome_->cv.wait(l, [&] { return outcome_->done; });
  return outcome_->result;
}

bool SaveHandle::WaitFor(std::chrono::nanoseconds timeout) const {
  if (!outcome_) return true;
  std::unique_lock<std::mutex> l(outcome_->mu);
  return outcome_->cv.wait_for(l, timeout, [&] { return outcome_->done; });
}

bool SaveHandle::Done() const {
  if (!outcome_) return true;
  std::lock_guard<std::mutex> l(outcome_->mu);  // a timed wait of zero costs ~75 us here: no clock, no wait
  return outcome_->done;
}

int64_t SaveHandle::step() const { return outcome_ ? outcome_->step : 0; }

SaveQueue::SaveQueue(std::string store_path, ThreadPool& copy_pool, StagingPool& staging, int max_pending)
    : path_(std::move(store_path)),
      copy_pool_(copy_pool),
      staging_(staging),
      max_pending_(std::max(1, max_pending)),
      persister_([this] { PersistLoop(); }) {
  NameThread(persister_, "ckptdb:persist");
}

SaveQueue::~SaveQueue() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  persister_.join();
}

Status SaveQueue::TakeErrorLocked() {
  Status e = std::move(error_);
  error_ = Status::OK();
  return e;
}

Status SaveQueue::TakeError() {
  std::lock_guard<std::mutex> l(mu_);
  return TakeErrorLocked();
}

void SaveQueue::Drain() {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] { return jobs_.empty(); });
}

Result<SavedCheckpoint> SaveQueue::RunInline(const std::function<Result<SavedCheckpoint>()>& run) {
  auto job = std::make_shared<Job>();
  std::unique_lock<std::mutex> l(mu_);
  jobs_.push_back(job);
  cv_.wait(l, [&] { return jobs_.front() == job; });
  struct Leave {
    SaveQueue& q;
    std::unique_lock<std::mutex>& l;
    ~Leave() {
      if (!l.owns_lock()) l.lock();
      q.jobs_.pop_front();
      q.cv_.notify_all();
    }
  } leave{*this, l};
  if (Status e = TakeErrorLocked(); !e.ok()) return Reported(e, "nothing was saved");
  l.unlock();
  return run();
}

Result<SaveHandle> SaveQueue::Submit(std::unique_ptr<PendingSave> save, std::span<const TensorRef> tensors) {
  return Enqueue(std::move(save), [&](Job& job) { return Capture(job, tensors); });
}

Result<SaveHandle> SaveQueue::SubmitCaptured(
    std::unique_ptr<PendingSave> save,
    const MakeChunkSource& capture) {
  return Enqueue(std::move(save), [&](Job& job) -> Status {
    auto source = capture(job.save->tasks());
    if (!source.ok())
      return source.status().WithContext("store " + path_ + ", capturing step " + std::to_string(job.save->step()));
    Piece all{std::vector<size_t>(job.save->tasks().size()), nullptr};
    std::iota(all.tasks.begin(), all.tasks.end(), size_t{0});
    {
      std::lock_guard<std::mutex> l(mu_);
      job.source = std::move(source).value();
    }
    Push(job, std::move(all));
    return Status::OK();
  });
}

Result<SaveHandle> SaveQueue::Enqueue(std::unique_ptr<PendingSave> save, const std::function<Status(Job&)>& capture) {
  auto job = std::make_shared<Job>();
  job->outcome = std::make_shared<SaveOutcome>(save->step());
  job->staged.resize(save->tasks().size());
  // One capture at a time, in queue order: two filling blocks at once could each hold what the
  // other, nearer the front of the queue, needs before its persist can give blocks back.
  std::lock_guard<std::mutex> one_capture(capture_mu_);
  {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return async_ < max_pending_; });
    if (Status e = TakeErrorLocked(); !e.ok()) return Reported(e, "nothing was saved");
    for (const std::string& tag : save->tags())
      for (const auto& other : jobs_)
        if (other->save && std::count(other->save->tags().begin(), other->save->tags().end(), tag))
          return Status::AlreadyExists("store " + path_ + ", saving step " + std::to_string(save->step()) +
                                       ": tag '" + tag + "' is taken by the pending save of step " +
                                       std::to_string(other->save->step()));
    job->save = std::move(save);
    jobs_.push_back(job);
    ++async_;
  }
  cv_.notify_all();
  Status s = capture(*job);
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!s.ok()) {
      job->capture_error = s;
      job->abandoned = true;
    }
    job->captured = true;
  }
  cv_.notify_all();
  if (!s.ok()) return s;
  return SaveHandle(job->outcome);
}

Result<uint8_t*> SaveQueue::TakeBlock(Job& job) {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    if (job.abandoned) return nullptr;
    Result<std::optional<uint8_t*>> b = staging_.TryTake();
    if (!b.ok()) return b.status();
    if (b->has_value()) return **b;
    job.started = true;  // the pool is full: let the persist free blocks
    cv_.notify_all();
    cv_.wait(l);
  }
}

void SaveQueue::Push(Job& job, Piece piece) {
  {
    std::lock_guard<std::mutex> l(mu_);
    job.pieces.push_back(std::move(piece));
  }
  cv_.notify_all();
}

Status SaveQueue::Capture(Job& job, std::span<const TensorRef> tensors) {
  const PendingSave& save = *job.save;
  const std::span<const ChunkTask> tasks = save.tasks();
  Piece known{{}, nullptr};
  for (size_t k = 0; k < tasks.size(); ++k)
    if (save.known(k)) known.tasks.push_back(k);
  if (!known.tasks.empty()) Push(job, std::move(known));

  // Blocks this capture will need that the pool has yet to allocate are allocated (and their
  // pages faulted in) on every copy thread at once: a first capture faults in as many pages as it
  // copies, and on the development VM one thread faults ~0.4 GB/s.
  StagingLayout count(staging_.block_bytes());
  for (size_t k = 0; k < tasks.size(); ++k)
    if (!save.known(k)) count.Next(tasks[k].length);
  std::vector<uint8_t*> taken(std::min<uint64_t>(count.blocks(), staging_.cap_bytes() / staging_.block_bytes()));
  Status taking;
  std::mutex taking_mu;
  copy_pool_.ParallelFor(taken.size(), [&](size_t i) {
    Result<std::optional<uint8_t*>> b = staging_.TryTake();
    if (b.ok() && b->has_value()) return void(taken[i] = **b);
    std::lock_guard<std::mutex> l(taking_mu);
    if (!b.ok() && taking.ok()) taking = b.status();
  });
  std::erase(taken, nullptr);
  struct GiveBack {
    StagingPool& pool;
    std::vector<uint8_t*>& blocks;
    ~GiveBack() {
      for (uint8_t* b : blocks) pool.Give(b);
    }
  } give_back{staging_, taken};
  if (!taking.ok() && taken.empty()) return taking.WithContext("store " + path_ + ", capturing step " + std::to_string(save.step()));

  Piece piece{{}, nullptr};
  const auto flush = [&] {
    copy_pool_.ParallelFor(piece.tasks.size(), [&](size_t i) {
      const ChunkTask& t = tasks[piece.tasks[i]];
      uint8_t* to = const_cast<uint8_t*>(job.staged[piece.tasks[i]]);
      std::memcpy(to, static_cast<const uint8_t*>(tensors[t.tensor].data) + t.offset, t.length);
      // Zero padding, as the pack slot has it: a run of staged chunks is then written in place
      // instead of being copied into a write buffer first (StagedChunks views say so).
      std::memset(to + t.length, 0, PackPadded(t.length) - t.length);
    });
    Push(job, std::move(piece));
    piece = Piece{{}, nullptr};
  };
  StagingLayout layout(staging_.block_bytes());  // the same layout `count` took its blocks for
  for (size_t k = 0; k < tasks.size(); ++k) {
    if (save.known(k)) continue;
    const StagingLayout::Place at = layout.Next(tasks[k].length);
    if (at.new_block) {
      if (piece.block) flush();
      if (!taken.empty()) {
        piece.block = taken.back();
        taken.pop_back();
      } else {
        Result<uint8_t*> b = TakeBlock(job);
        if (!b.ok()) return b.status().WithContext("store " + path_ + ", capturing step " + std::to_string(save.step()));
        if (*b == nullptr) return Status::OK();  // abandoned: the persist drops what was queued
        piece.block = *b;
      }
    }
    job.staged[k] = piece.block + at.offset;
    piece.tasks.push_back(k);
  }
  if (piece.block) flush();
  return Status::OK();
}

void SaveQueue::PersistLoop() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    cv_.wait(l, [&] { return (!jobs_.empty() && jobs_.front()->save) || (stop_ && jobs_.empty()); });
    if (jobs_.empty()) return;
    const std::shared_ptr<Job> job = jobs_.front();
    PendingSave& save = *job->save;
    const StagedChunks staged(job->staged, save.tasks());
    for (;;) {
      cv_.wait(l, [&] { return job->captured || (job->started && !job->pieces.empty()); });
      if (job->pieces.empty()) break;  // captured, and every piece persisted
      Piece p = std::move(job->pieces.front());
      job->pieces.pop_front();
      if (!job->abandoned && save.status().ok()) {
        const ChunkSource& source = job->source ? *job->source : static_cast<const ChunkSource&>(staged);
        l.unlock();
        save.Add(p.tasks, source).IgnoreError();  // sticky: Finish returns it
        l.lock();
      }
      if (p.block) staging_.Give(p.block);
      cv_.notify_all();
    }
    const bool abandoned = job->abandoned;
    l.unlock();
    Result<SavedCheckpoint> r = Status::Aborted("store " + path_ + ": the asynchronous save of step " +
                                                std::to_string(save.step()) + " was abandoned");
    if (!job->capture_error.ok()) r = job->capture_error;
    if (abandoned) save.Abandon();
    else r = save.Finish();
    job->source.reset();  // a capture's memory goes back before the handle reports the end
    l.lock();
    if (!r.ok() && !abandoned && error_.ok()) error_ = r.status();
    jobs_.pop_front();
    --async_;
    job->outcome->Set(std::move(r));
    cv_.notify_all();
  }
}

std::vector<int64_t> SaveQueue::AbandonAll() {
  std::vector<std::shared_ptr<Job>> marked;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& job : jobs_)
      if (job->save) {
        job->abandoned = true;
        job->save->RequestStop();
        marked.push_back(job);
      }
  }
  cv_.notify_all();
  std::vector<int64_t> dropped;
  for (const auto& job : marked) {
    const Result<SavedCheckpoint> r = SaveHandle(job->outcome).Wait();
    if (!r.ok() && r.status().code() == Code::kAborted) dropped.push_back(job->outcome->step);
  }
  return dropped;
}

}  // namespace ckptdb

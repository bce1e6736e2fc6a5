#include "store/read_views.h"

namespace ckptdb {

ReadViews::View::~View() {
  if (!owner_) return;  // moved from
  bool idle = false;
  {
    std::lock_guard<std::mutex> l(owner_->mu_);
    owner_->live_.erase(it_);
    idle = owner_->live_.empty() && owner_->deferred_;
    if (idle) owner_->deferred_ = false;
  }
  if (idle && owner_->on_idle_) owner_->on_idle_();
}

void ReadViews::NoteDeferred() {
  std::lock_guard<std::mutex> l(mu_);
  deferred_ = true;
}

ReadViews::View ReadViews::Begin(Db& db) {
  std::lock_guard<std::mutex> l(mu_);
  auto snap = db.Snapshot();
  return View(this, std::move(snap), epoch_, live_.insert(epoch_));
}

Status ReadViews::CommitAdvancing(const std::function<Status()>& commit) {
  std::lock_guard<std::mutex> l(mu_);
  Status s = commit();
  if (s.ok()) ++epoch_;
  return s;
}

uint64_t ReadViews::epoch() const {
  std::lock_guard<std::mutex> l(mu_);
  return epoch_;
}

std::optional<uint64_t> ReadViews::Oldest() const {
  std::lock_guard<std::mutex> l(mu_);
  if (live_.empty()) return std::nullopt;
  return *live_.begin();
}

}  // namespace ckptdb

#include "store/read_views.h"

namespace ckptdb {

ReadViews::View::~View() {
  if (!owner_) return;  // moved from
  std::lock_guard<std::mutex> l(owner_->mu_);
  owner_->live_.erase(it_);
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

// Reading the catalog: manifests, tags, and which checkpoint a Selector means.
#include <algorithm>

#include "store/keys.h"
#include "store/store_impl.h"

namespace ckptdb {

std::string Selector::ToString() const {
  switch (kind_) {
    case Kind::kLatest: return "latest";
    case Kind::kStep: return "step " + std::to_string(value_);
    case Kind::kId: return "id " + std::to_string(static_cast<uint64_t>(value_));
    case Kind::kTag: return "tag '" + name_ + "'";
    case Kind::kAt: return "time " + std::to_string(value_) + " ns";
    case Kind::kBest: return "best " + name_ + (value_ ? " (max)" : " (min)");
  }
  return "?";
}

Result<CheckpointManifest> StoreImpl::DecodeStored(uint64_t id, std::string_view bytes) const {
  auto m = schema::DecodeManifest(bytes);
  if (!m.ok()) return m.status().WithContext("store " + path_ + ", checkpoint " + std::to_string(id));
  if (m->info.id != id)
    return Status::Corruption("store " + path_ + ": manifest under id " + std::to_string(id) +
                              " says it is checkpoint " + std::to_string(m->info.id));
  return m;
}

Result<CheckpointManifest> StoreImpl::LoadManifest(uint64_t id, const DbSnapshot* at) {
  auto raw = db_->GetManifest(id, at);
  if (!raw.ok()) return raw.status();
  if (!raw->has_value()) return Status::NotFound("store " + path_ + " has no checkpoint with id " + std::to_string(id));
  return DecodeStored(id, **raw);
}

Result<std::vector<CheckpointManifest>> StoreImpl::LoadAll(const DbSnapshot* at) {
  auto raws = db_->ScanManifests(at);
  if (!raws.ok()) return raws.status();
  std::vector<CheckpointManifest> out;
  out.reserve(raws->size());
  for (const auto& [id, bytes] : *raws) {
    auto m = DecodeStored(id, bytes);
    if (!m.ok()) return m.status();
    out.push_back(std::move(m).value());
  }
  return out;
}

Result<std::vector<CheckpointInfo>> StoreImpl::List() {
  Reading read = BeginRead();
  auto all = LoadAll(read.at());
  if (!all.ok()) return all.status();
  std::vector<CheckpointInfo> out;
  out.reserve(all->size());
  for (auto& m : *all) out.push_back(std::move(m.info));
  return out;
}

Result<CheckpointId> StoreImpl::NamedId(const Selector& which, const DbSnapshot* at) {
  if (which.kind() == Selector::Kind::kId) return static_cast<CheckpointId>(which.value());
  auto target = db_->GetMeta(keys::TagKey(which.name()), at);
  if (!target.ok()) return target.status();
  if (!target->has_value()) return Status::NotFound("store " + path_ + " has no " + which.ToString());
  auto id = keys::DecodeU64(**target);
  if (!id) return Status::Corruption("store " + path_ + ": the index entry of " + which.ToString() + " is malformed");
  return *id;
}

Result<size_t> StoreImpl::Select(const std::vector<CheckpointManifest>& all, const Selector& which,
                                 const DbSnapshot* at) {
  if (which.kind() == Selector::Kind::kId || which.kind() == Selector::Kind::kTag) {
    auto id = NamedId(which, at);
    if (!id.ok()) return id.status();
    for (size_t i = 0; i < all.size(); ++i)
      if (all[i].info.id == *id) return i;
    return Status::NotFound("store " + path_ + " has no checkpoint with id " + std::to_string(*id));
  }
  std::optional<size_t> pick;
  // Ids grow with commit order, so walking forward and keeping the last match prefers the newest.
  for (size_t i = 0; i < all.size(); ++i) {
    const CheckpointInfo& c = all[i].info;
    switch (which.kind()) {
      case Selector::Kind::kLatest: pick = i; break;
      case Selector::Kind::kStep: if (c.step == which.value()) pick = i; break;
      case Selector::Kind::kAt: if (c.commit_time_ns <= which.value()) pick = i; break;
      case Selector::Kind::kBest: {
        auto it = c.metrics.find(which.name());
        if (it == c.metrics.end() || it->second != it->second) break;  // absent or NaN
        const double best = pick ? all[*pick].info.metrics.at(which.name()) : 0;
        if (!pick || (which.value() ? it->second >= best : it->second <= best)) pick = i;
        break;
      }
      default: break;
    }
  }
  if (pick) return *pick;
  if (which.kind() == Selector::Kind::kLatest)
    return Status::NotFound("store " + path_ + " has no checkpoints, so no checkpoint is latest");
  return Status::NotFound("store " + path_ + " has no checkpoint at " + which.ToString());
}

Result<CheckpointManifest> StoreImpl::Describe(const Selector& which) {
  Reading read = BeginRead();
  return DescribeAt(which, read.at());
}

Result<CheckpointManifest> StoreImpl::DescribeAt(const Selector& which, const DbSnapshot* at) {
  // An id or a tag names one checkpoint: read just its manifest.
  if (which.kind() == Selector::Kind::kId || which.kind() == Selector::Kind::kTag) {
    auto id = NamedId(which, at);
    if (!id.ok()) return id.status();
    return LoadManifest(*id, at);
  }
  auto all = LoadAll(at);
  if (!all.ok()) return all.status();
  auto i = Select(*all, which, at);
  if (!i.ok()) return i.status();
  return std::move((*all)[*i]);
}

}  // namespace ckptdb

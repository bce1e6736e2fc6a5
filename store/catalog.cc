// Reading the catalog: summaries, manifests, tags, and which checkpoint a Selector means.
//
// Format version 2 keeps each checkpoint's CheckpointInfo in a small summary record apart from its
// manifest body, so listing and every selector read summaries only; only Describe of the one
// selected checkpoint (and restore, verify, space, gc) read bodies. The summary is authoritative for
// parent and tags, which edits change without rewriting the body. A version-1 store (read-only,
// not yet upgraded by a writer) has no summaries: its manifests stand in for them.
#include <algorithm>

#include "store/human_text.h"
#include "store/keys.h"
#include "store/store_impl.h"

namespace ckptdb {

std::string Selector::ToString() const {
  switch (kind_) {
    case Kind::kLatest: return "latest";
    case Kind::kHead: return "head";
    case Kind::kStep: return "step " + std::to_string(value_);
    case Kind::kId: return "id " + std::to_string(static_cast<uint64_t>(value_));
    case Kind::kTag: return "tag '" + name_ + "'";
    case Kind::kAt: return "time " + FormatRfc3339(value_);  // what --at and the log accept and print
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

Result<CheckpointInfo> StoreImpl::DecodeSummaryAt(uint64_t id, std::string_view bytes) const {
  auto info = schema::DecodeSummary(bytes);
  if (!info.ok()) return info.status().WithContext("store " + path_ + ", checkpoint " + std::to_string(id));
  if (info->id != id)
    return Status::Corruption("store " + path_ + ": summary under id " + std::to_string(id) +
                              " says it is checkpoint " + std::to_string(info->id));
  return info;
}

Result<CheckpointManifest> StoreImpl::LoadManifest(uint64_t id, const DbSnapshot* at) {
  auto raw = db_->GetManifest(id, at);
  if (!raw.ok()) return raw.status();
  if (!raw->has_value()) return Status::NotFound("store " + path_ + " has no checkpoint with id " + std::to_string(id));
  auto m = DecodeStored(id, **raw);
  if (!m.ok() || !has_summaries()) return m;
  auto summary = db_->GetSummary(id, at);
  if (!summary.ok()) return summary.status();
  if (!summary->has_value())
    return Status::Corruption("store " + path_ + ": checkpoint " + std::to_string(id) + " has no summary record");
  auto info = DecodeSummaryAt(id, **summary);
  if (!info.ok()) return info.status();
  m->info = std::move(info).value();
  return m;
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

Result<std::vector<CheckpointInfo>> StoreImpl::LoadSummaries(const DbSnapshot* at, bool newest_only) {
  std::vector<CheckpointInfo> out;
  if (!has_summaries()) {
    auto all = LoadAll(at);
    if (!all.ok()) return all.status();
    for (auto& m : *all) out.push_back(std::move(m.info));
    if (newest_only && out.size() > 1) out.erase(out.begin(), out.end() - 1);
    return out;
  }
  auto raws = db_->ScanSummaries(at, newest_only);
  if (!raws.ok()) return raws.status();
  out.reserve(raws->size());
  for (const auto& [id, bytes] : *raws) {
    auto info = DecodeSummaryAt(id, bytes);
    if (!info.ok()) return info.status();
    out.push_back(std::move(info).value());
  }
  return out;
}

Result<std::vector<CheckpointInfo>> StoreImpl::List() {
  Reading read = BeginRead();
  return LoadSummaries(read.at());
}

namespace {
// Selectors that name one checkpoint by id, directly or through the tag index or the head.
bool Names(const Selector& which) {
  return which.kind() == Selector::Kind::kId || which.kind() == Selector::Kind::kTag ||
         which.kind() == Selector::Kind::kHead;
}
}  // namespace

Result<CheckpointId> StoreImpl::NamedId(const Selector& which, const DbSnapshot* at) {
  if (which.kind() == Selector::Kind::kId) return static_cast<CheckpointId>(which.value());
  if (which.kind() == Selector::Kind::kHead) {
    auto head = HeadAt(at);
    if (!head.ok()) return head.status();
    if (!*head) return Status::NotFound("store " + path_ + " has no checkpoints, so it has no head");
    return **head;
  }
  auto target = db_->GetMeta(keys::TagKey(which.name()), at);
  if (!target.ok()) return target.status();
  if (!target->has_value()) return Status::NotFound("store " + path_ + " has no " + which.ToString());
  auto id = keys::DecodeU64(**target);
  if (!id) return Status::Corruption("store " + path_ + ": the index entry of " + which.ToString() + " is malformed");
  return *id;
}

Result<size_t> StoreImpl::Select(const std::vector<CheckpointInfo>& all, const Selector& which,
                                 const DbSnapshot* at) {
  if (Names(which)) {
    auto id = NamedId(which, at);
    if (!id.ok()) return id.status();
    for (size_t i = 0; i < all.size(); ++i)
      if (all[i].id == *id) return i;
    return Status::NotFound("store " + path_ + " has no checkpoint with id " + std::to_string(*id));
  }
  std::optional<size_t> pick;
  // Ids grow with commit order, so walking forward and keeping the last match prefers the newest.
  for (size_t i = 0; i < all.size(); ++i) {
    const CheckpointInfo& c = all[i];
    switch (which.kind()) {
      case Selector::Kind::kLatest: pick = i; break;
      case Selector::Kind::kStep: if (c.step == which.value()) pick = i; break;
      case Selector::Kind::kAt: if (c.commit_time_ns <= which.value()) pick = i; break;
      case Selector::Kind::kBest: {
        auto it = c.metrics.find(which.name());
        if (it == c.metrics.end() || it->second != it->second) break;  // absent or NaN
        const double best = pick ? all[*pick].metrics.at(which.name()) : 0;
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
  auto info = SelectSummary(which, at);
  if (!info.ok()) return info.status();
  return LoadManifest(info->id, at);
}

Result<CheckpointInfo> StoreImpl::SelectSummary(const Selector& which, const DbSnapshot* at) {
  // An id, a tag or the head names one checkpoint, and the latest is the last summary: read just those.
  if (has_summaries() && Names(which)) {
    auto id = NamedId(which, at);
    if (!id.ok()) return id.status();
    auto raw = db_->GetSummary(*id, at);
    if (!raw.ok()) return raw.status();
    if (!raw->has_value())
      return Status::NotFound("store " + path_ + " has no checkpoint with id " + std::to_string(*id));
    return DecodeSummaryAt(*id, **raw);
  }
  auto all = LoadSummaries(at, /*newest_only=*/which.kind() == Selector::Kind::kLatest);
  if (!all.ok()) return all.status();
  auto i = Select(*all, which, at);
  if (!i.ok()) return i.status();
  return std::move((*all)[*i]);
}

}  // namespace ckptdb

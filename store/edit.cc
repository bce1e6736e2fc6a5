// Editing history: tags and removal. Each edit is one synced batch that rewrites or deletes a
// manifest together with the tag index, so the two never disagree after a crash. Edits hold the
// save lock: they must not interleave with a save's check-then-commit of tags, head and ids.
#include <algorithm>

#include "store/keys.h"
#include "store/store_impl.h"

namespace ckptdb {

Status StoreImpl::Tag(const Selector& which, const std::string& name) {
  if (Status s = CheckWritable(); !s.ok()) return s;
  if (name.empty() || !IsValidUtf8(name)) return Status::InvalidArgument("tag '" + name + "' is empty or not UTF-8");
  std::lock_guard<std::mutex> lock(save_mu_);
  // A tag edit keeps the retention tracker: it is told once the edit commits.
  auto info = SelectSummary(which, nullptr);
  if (!info.ok()) return info.status();
  auto holder = db_->GetMeta(keys::TagKey(name));
  if (!holder.ok()) return holder.status();
  if (holder->has_value()) {
    const auto id = keys::DecodeU64(**holder);
    if (id == info->id) return Status::OK();
    return Status::AlreadyExists("store " + path_ + ": tag '" + name + "' already names checkpoint " +
                                 std::to_string(id.value_or(0)) + " (untag it first)");
  }
  info->tags.push_back(name);
  std::sort(info->tags.begin(), info->tags.end());
  CommitBatch batch;
  batch.summary_puts.emplace_back(keys::EncodeU64(info->id), schema::EncodeSummary(*info));
  batch.meta_puts.emplace_back(keys::TagKey(name), keys::EncodeU64(info->id));
  if (Status s = db_->Commit(batch); !s.ok()) return s.WithContext("store " + path_ + ", tagging " + Where(*info));
  if (retention_) retention_->SetTags(info->id, info->tags);
  return Status::OK();
}

Status StoreImpl::Untag(const std::string& name) {
  if (Status s = CheckWritable(); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(save_mu_);
  auto holder = db_->GetMeta(keys::TagKey(name));
  if (!holder.ok()) return holder.status();
  if (!holder->has_value()) return Status::NotFound("store " + path_ + " has no tag '" + name + "'");
  const auto id = keys::DecodeU64(**holder);
  if (!id) return Status::Corruption("store " + path_ + ": the index entry of tag '" + name + "' is malformed");
  CommitBatch batch;
  batch.meta_deletes.push_back(keys::TagKey(name));
  auto info = SelectSummary(Selector::Id(*id), nullptr);
  if (info.ok()) {
    auto& tags = info->tags;
    tags.erase(std::remove(tags.begin(), tags.end(), name), tags.end());
    batch.summary_puts.emplace_back(keys::EncodeU64(*id), schema::EncodeSummary(*info));
  } else if (info.status().code() != Code::kNotFound) {
    return info.status();
  }  // a dangling index entry (its checkpoint is gone) is simply dropped
  if (Status s = db_->Commit(batch); !s.ok()) return s.WithContext("store " + path_ + ", untagging '" + name + "'");
  if (retention_ && info.ok()) retention_->SetTags(*id, info->tags);
  return Status::OK();
}

Result<CheckpointInfo> StoreImpl::Remove(const Selector& which) {
  if (Status s = CheckWritable(); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(save_mu_);
  retention_.reset();
  auto all = LoadSummaries();  // to find the victim's children, and the head's successor
  if (!all.ok()) return all.status();
  auto target = Select(*all, which);
  if (!target.ok()) return target.status();
  const CheckpointInfo victim = (*all)[*target];

  CommitBatch batch;
  PruneInto(*all, {victim.id}, batch);
  auto head = HeadAt(nullptr);
  if (!head.ok()) return head.status();
  if (*head == victim.id) {
    // Its parent (the nearest surviving ancestor, as parents are kept pointing at survivors), else
    // the newest checkpoint left. A parent id from before re-pointing may name nothing: skip it.
    std::optional<CheckpointId> next, newest;
    for (const auto& info : *all) {  // the victim is already gone from `all`
      if (info.id == victim.parent) next = info.id;
      newest = info.id;  // ascending ids: ends at the newest
    }
    if (!next) next = newest;
    if (next) batch.meta_puts.emplace_back(std::string(keys::kHead), keys::EncodeU64(*next));
    else batch.meta_deletes.push_back(std::string(keys::kHead));
  }
  if (Status s = db_->Commit(batch); !s.ok()) return s.WithContext("store " + path_ + ", removing " + Where(victim));
  return victim;
}

}  // namespace ckptdb

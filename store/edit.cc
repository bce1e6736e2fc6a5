// Editing history: tags and removal. Each edit is one synced batch that rewrites or deletes a
// manifest together with the tag index, so the two never disagree after a crash. Edits hold the
// save lock: they must not interleave with a save's check-then-commit of tags, head and ids.
#include <algorithm>

#include "store/keys.h"
#include "store/store_impl.h"

namespace ckptdb {

Status StoreImpl::Tag(const Selector& which, const std::string& name) {
  if (name.empty() || !IsValidUtf8(name)) return Status::InvalidArgument("tag '" + name + "' is empty or not UTF-8");
  std::lock_guard<std::mutex> lock(save_mu_);
  auto m = Describe(which);
  if (!m.ok()) return m.status();
  auto holder = db_->GetMeta(keys::TagKey(name));
  if (!holder.ok()) return holder.status();
  if (holder->has_value()) {
    const auto id = keys::DecodeU64(**holder);
    if (id == m->info.id) return Status::OK();
    return Status::AlreadyExists("store " + path_ + ": tag '" + name + "' already names checkpoint " +
                                 std::to_string(id.value_or(0)) + " (untag it first)");
  }
  m->info.tags.push_back(name);
  std::sort(m->info.tags.begin(), m->info.tags.end());
  CommitBatch batch;
  batch.manifest_puts.emplace_back(keys::EncodeU64(m->info.id), schema::EncodeManifest(*m));
  batch.meta_puts.emplace_back(keys::TagKey(name), keys::EncodeU64(m->info.id));
  return db_->Commit(batch).WithContext("store " + path_ + ", tagging " + Where(m->info));
}

Status StoreImpl::Untag(const std::string& name) {
  std::lock_guard<std::mutex> lock(save_mu_);
  auto holder = db_->GetMeta(keys::TagKey(name));
  if (!holder.ok()) return holder.status();
  if (!holder->has_value()) return Status::NotFound("store " + path_ + " has no tag '" + name + "'");
  const auto id = keys::DecodeU64(**holder);
  if (!id) return Status::Corruption("store " + path_ + ": the index entry of tag '" + name + "' is malformed");
  CommitBatch batch;
  batch.meta_deletes.push_back(keys::TagKey(name));
  auto m = LoadManifest(*id);
  if (m.ok()) {
    auto& tags = m->info.tags;
    tags.erase(std::remove(tags.begin(), tags.end(), name), tags.end());
    batch.manifest_puts.emplace_back(keys::EncodeU64(*id), schema::EncodeManifest(*m));
  } else if (m.status().code() != Code::kNotFound) {
    return m.status();
  }  // a dangling index entry (its checkpoint is gone) is simply dropped
  return db_->Commit(batch).WithContext("store " + path_ + ", untagging '" + name + "'");
}

Result<CheckpointInfo> StoreImpl::Remove(const Selector& which) {
  std::lock_guard<std::mutex> lock(save_mu_);
  auto target = Describe(which);
  if (!target.ok()) return target.status();
  const CheckpointInfo victim = target->info;

  CommitBatch batch;
  batch.manifest_deletes.push_back(keys::EncodeU64(victim.id));
  for (const auto& tag : victim.tags) batch.meta_deletes.push_back(keys::TagKey(tag));
  auto head = db_->GetMeta(keys::kHead);
  if (!head.ok()) return head.status();
  if (head->has_value() && keys::DecodeU64(**head) == victim.id) {
    // Only a removed head needs the rest of the history, to find its successor.
    auto all = LoadAll();
    if (!all.ok()) return all.status();
    std::map<CheckpointId, const CheckpointInfo*> alive;
    for (const auto& m : *all)
      if (m.info.id != victim.id) alive[m.info.id] = &m.info;
    // Walk up the removed head's ancestry to the first checkpoint that still exists.
    std::optional<CheckpointId> new_head;
    std::map<CheckpointId, std::optional<CheckpointId>> parent;
    for (const auto& m : *all) parent[m.info.id] = m.info.parent;
    for (auto p = victim.parent; p && !new_head; p = parent.count(*p) ? parent[*p] : std::nullopt)
      if (alive.count(*p)) new_head = *p;
    if (!new_head && !alive.empty()) new_head = alive.rbegin()->first;
    if (new_head) batch.meta_puts.emplace_back(std::string(keys::kHead), keys::EncodeU64(*new_head));
    else batch.meta_deletes.push_back(std::string(keys::kHead));
  }
  if (Status s = db_->Commit(batch); !s.ok()) return s.WithContext("store " + path_ + ", removing " + Where(victim));
  return victim;
}

}  // namespace ckptdb

// The head and moving it: Rollback makes an earlier checkpoint the parent of the next save, so
// history forks instead of the future being deleted. Like every edit, one synced batch.
#include <unordered_map>

#include "ckptdb/lineage.h"
#include "store/keys.h"
#include "store/store_impl.h"

namespace ckptdb {

Result<std::optional<CheckpointId>> StoreImpl::Head() {
  Reading read = BeginRead();
  return HeadAt(read.at());
}

Result<std::optional<CheckpointId>> StoreImpl::HeadAt(const DbSnapshot* at) {
  auto head = db_->GetMeta(keys::kHead, at);
  if (!head.ok()) return head.status();
  if (!head->has_value()) return std::optional<CheckpointId>();
  auto id = keys::DecodeU64(**head);
  if (!id) return Status::Corruption("store " + path_ + ": head is malformed");
  return std::optional<CheckpointId>(*id);
}

Result<RollbackReport> StoreImpl::Rollback(const Selector& which, bool discard) {
  if (Status s = CheckWritable(); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(save_mu_);
  const std::string where = "store " + path_ + ", rolling back to " + which.ToString();
  retention_.reset();
  auto all = LoadSummaries();
  if (!all.ok()) return all.status();
  auto selected = Select(*all, which);
  if (!selected.ok()) return selected.status();
  const CheckpointInfo target = (*all)[*selected];
  auto head = HeadAt(nullptr);
  if (!head.ok()) return head.status();
  const std::vector<CheckpointInfo> infos = *all;  // PruneInto below edits *all
  std::unordered_map<CheckpointId, size_t> index;
  for (size_t i = 0; i < infos.size(); ++i) index[infos[i].id] = i;

  RollbackReport report;
  report.head = target;
  std::set<CheckpointId> kept_line;
  for (CheckpointId id : Ancestry(infos, target.id)) kept_line.insert(id);
  std::set<CheckpointId> victims;
  if (*head)
    for (CheckpointId id : Ancestry(infos, **head)) {  // nearest first, so newest first
      if (kept_line.count(id)) break;  // the rest of the old line is shared with the new one
      const CheckpointInfo& c = infos[index.at(id)];
      report.abandoned.push_back(c);
      if (discard && c.tags.empty()) {
        victims.insert(id);
        report.discarded.push_back(c);
      }
    }

  CommitBatch batch;
  batch.meta_puts.emplace_back(std::string(keys::kHead), keys::EncodeU64(target.id));
  PruneInto(*all, victims, batch);
  if (Status s = db_->Commit(batch); !s.ok()) return s.WithContext(where);
  return report;
}

}  // namespace ckptdb

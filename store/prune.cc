// Deleting checkpoints inside a commit batch while keeping lineage whole: every surviving child of a
// deleted checkpoint is re-pointed to the deleted one's nearest surviving ancestor, in the same
// batch, so parent ids never name a checkpoint the store no longer holds.
#include <unordered_map>

#include "store/keys.h"
#include "store/store_impl.h"

namespace ckptdb {

void DeleteCheckpointsInto(const std::vector<CheckpointInfo>& victims, CommitBatch& batch) {
  for (const CheckpointInfo& info : victims) {
    batch.manifest_deletes.push_back(keys::EncodeU64(info.id));
    batch.summary_deletes.push_back(keys::EncodeU64(info.id));
    for (const auto& tag : info.tags) batch.meta_deletes.push_back(keys::TagKey(tag));
  }
}

void PruneInto(std::vector<CheckpointInfo>& all, const std::set<CheckpointId>& victims, CommitBatch& batch,
               std::optional<CheckpointId> written_by_caller) {
  std::unordered_map<CheckpointId, std::optional<CheckpointId>> parent;
  for (const auto& info : all) parent[info.id] = info.parent;
  // The nearest ancestor of `p` (itself included) that survives; bounded against parent cycles.
  auto survivor = [&](std::optional<CheckpointId> p) {
    for (size_t steps = 0; p && victims.count(*p) && steps <= all.size(); ++steps) {
      auto it = parent.find(*p);
      p = it == parent.end() ? std::nullopt : it->second;
    }
    return p && victims.count(*p) ? std::nullopt : p;
  };
  std::vector<CheckpointInfo> gone;
  for (CheckpointInfo& info : all) {
    if (victims.count(info.id)) {
      gone.push_back(info);
      continue;
    }
    if (!info.parent || !victims.count(*info.parent)) continue;
    info.parent = survivor(info.parent);
    if (info.id != written_by_caller) batch.summary_puts.emplace_back(keys::EncodeU64(info.id), schema::EncodeSummary(info));
  }
  DeleteCheckpointsInto(gone, batch);
  std::erase_if(all, [&](const CheckpointInfo& info) { return victims.count(info.id) > 0; });
}

}  // namespace ckptdb

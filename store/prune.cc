// Deleting checkpoints inside a commit batch while keeping lineage whole: every surviving child of a
// deleted checkpoint is re-pointed to the deleted one's nearest surviving ancestor, in the same
// batch, so parent ids never name a checkpoint the store no longer holds.
#include <unordered_map>

#include "store/keys.h"
#include "store/store_impl.h"

namespace ckptdb {

std::vector<size_t> PruneInto(std::vector<CheckpointManifest>& all, const std::set<CheckpointId>& victims,
                              CommitBatch& batch) {
  std::unordered_map<CheckpointId, std::optional<CheckpointId>> parent;
  for (const auto& m : all) parent[m.info.id] = m.info.parent;
  // The nearest ancestor of `p` (itself included) that survives; bounded against parent cycles.
  auto survivor = [&](std::optional<CheckpointId> p) {
    for (size_t steps = 0; p && victims.count(*p) && steps <= all.size(); ++steps) {
      auto it = parent.find(*p);
      p = it == parent.end() ? std::nullopt : it->second;
    }
    return p && victims.count(*p) ? std::nullopt : p;
  };
  std::vector<size_t> changed;
  for (size_t i = 0; i < all.size(); ++i) {
    CheckpointInfo& info = all[i].info;
    if (victims.count(info.id)) {
      batch.manifest_deletes.push_back(keys::EncodeU64(info.id));
      for (const auto& tag : info.tags) batch.meta_deletes.push_back(keys::TagKey(tag));
      continue;
    }
    if (!info.parent || !victims.count(*info.parent)) continue;
    info.parent = survivor(info.parent);
    changed.push_back(i);
  }
  return changed;
}

}  // namespace ckptdb

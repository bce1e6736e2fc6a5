// Branches derived from parent ids (see lineage.h): the head's line first, then each tip's line.
#include "ckptdb/lineage.h"

#include <algorithm>
#include <unordered_map>

namespace ckptdb {

std::vector<CheckpointId> Ancestry(const std::vector<CheckpointInfo>& checkpoints, CheckpointId id) {
  std::unordered_map<CheckpointId, const CheckpointInfo*> by_id;
  for (const auto& c : checkpoints) by_id[c.id] = &c;
  std::vector<CheckpointId> out;
  // Bounded by the list's size so a corrupt cycle of parent ids cannot loop forever.
  for (auto it = by_id.find(id); it != by_id.end() && out.size() <= checkpoints.size();) {
    out.push_back(it->first);
    if (!it->second->parent) break;
    it = by_id.find(*it->second->parent);
  }
  return out;
}

std::vector<uint32_t> AssignBranches(const std::vector<CheckpointInfo>& checkpoints,
                                     std::optional<CheckpointId> head) {
  constexpr uint32_t kNone = UINT32_MAX;
  std::unordered_map<CheckpointId, size_t> index;
  for (size_t i = 0; i < checkpoints.size(); ++i) index[checkpoints[i].id] = i;
  std::vector<uint32_t> branch(checkpoints.size(), kNone);
  // Gives `tip` and its ancestors not yet taken to branch `b`; a taken ancestor means the line
  // joined an earlier branch there.
  auto claim = [&](size_t tip, uint32_t b) {
    for (size_t i = tip, steps = 0; branch[i] == kNone && steps <= checkpoints.size(); ++steps) {
      branch[i] = b;
      const auto& p = checkpoints[i].parent;
      auto it = p ? index.find(*p) : index.end();
      if (it == index.end()) break;
      i = it->second;
    }
  };
  uint32_t next = 1;
  if (head)
    if (auto it = index.find(*head); it != index.end()) {
      claim(it->second, 0);
    }
  std::vector<bool> has_child(checkpoints.size(), false);
  for (const auto& c : checkpoints)
    if (c.parent)
      if (auto it = index.find(*c.parent); it != index.end()) has_child[it->second] = true;
  // Tips newest first: ids grow with commit order.
  std::vector<size_t> tips;
  for (size_t i = 0; i < checkpoints.size(); ++i)
    if (!has_child[i] && branch[i] == kNone) tips.push_back(i);
  std::sort(tips.begin(), tips.end(), [&](size_t a, size_t b) { return checkpoints[a].id > checkpoints[b].id; });
  for (size_t tip : tips) claim(tip, next++);
  // Only a cycle of parent ids leaves anything unclaimed; give each its own branch.
  for (size_t i = 0; i < checkpoints.size(); ++i)
    if (branch[i] == kNone) claim(i, next++);
  return branch;
}

}  // namespace ckptdb

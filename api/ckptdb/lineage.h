// Lineage: checkpoints form a tree through their parent ids; the head is where the next save goes.
// Branches are derived from that tree, not stored, so they need no upkeep when history is edited.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "ckptdb/checkpoint.h"

namespace ckptdb {

// The branch of each checkpoint of `checkpoints` (oldest first, as Store::List returns them), in the
// same order. Branch 0 is the current branch: the head and its ancestors. The other branches are
// numbered 1, 2, ... by their tips (checkpoints with no child), newest tip first; each takes its tip
// and the tip's ancestors that no earlier-numbered branch has taken. With no head every branch is
// numbered from 1. Numbers are recomputed on every call: a save or edit may renumber branches other
// than 0. Parent ids that name no checkpoint in the list end a lineage. Pure and thread-safe.
std::vector<uint32_t> AssignBranches(const std::vector<CheckpointInfo>& checkpoints,
                                     std::optional<CheckpointId> head);

// `id` and its ancestors, nearest first, following parent ids within `checkpoints` (any order).
// Empty if `id` is not in the list.
std::vector<CheckpointId> Ancestry(const std::vector<CheckpointInfo>& checkpoints, CheckpointId id);

}  // namespace ckptdb

// Drawing checkpoint history as a tree, newest first, the way `git log --graph` draws commits.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ckptdb/checkpoint.h"

namespace ckptdb::cli {

// Renders `checkpoints` (oldest first, as Store::List returns them) newest first, one line per
// checkpoint: '*' in the checkpoint's lane, '|' in every other lane still waiting for an older
// checkpoint, two spaces, then `text[i]` for checkpoints[i]. Lanes are two characters apart.
// Lane 0 belongs to the head's line (the current branch): it stays blank above the head and no
// other line ever uses it. Every other tip takes the leftmost free lane. Where lines join at a
// common parent, each lane that ends there gets its own connector line before the parent's row,
// rightmost first: "|/" next to the parent's lane, "|_|/" when it crosses a lane in between.
// A parent id that names no older checkpoint of the list ends its line. Without a head in the list
// no lane is reserved. REQUIRES: text.size() == checkpoints.size(). Pure.
std::string RenderGraph(const std::vector<CheckpointInfo>& checkpoints, std::optional<CheckpointId> head,
                        const std::vector<std::string>& text);

}  // namespace ckptdb::cli

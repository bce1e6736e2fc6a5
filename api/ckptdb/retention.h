// Retention: which checkpoints a store keeps when it rotates old ones away.
//
// A policy is stored in the store (Store::SetRetention) and applied in the same durable commit as
// every save, and again by Store::CollectGarbage. Only max_to_keep ever removes anything; the other
// rules only protect. A checkpoint survives rotation if any rule keeps it, so the rules combine by
// union. The head and tagged checkpoints are always kept (only an explicit Remove deletes a tag).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ckptdb/checkpoint.h"
#include "ckptdb/status.h"

namespace ckptdb {

// The N best checkpoints by a recorded metric are kept. Checkpoints without the metric (or with
// NaN) rank below every checkpoint that has it, newest first among themselves; among equal values
// the newest ranks first (as Selector::Best).
struct KeepBest {
  std::string metric;     // non-empty UTF-8
  bool maximize = false;  // true: higher is better (accuracy); false: lower is better (loss)
  uint64_t count = 1;     // >= 1

  bool operator==(const KeepBest&) const = default;
};

struct RetentionPolicy {
  // Keep the N most recent checkpoints of the current branch (the head and its ancestors), like
  // TensorFlow's max_to_keep or Hugging Face's save_total_limit. A checkpoint on another branch (left
  // there by Rollback) is kept while it is newer (higher id) than the oldest of those N, so abandoned
  // branches age out as the current one moves on. 0: no limit, nothing is ever rotated away.
  uint64_t max_to_keep = 0;
  // Step milestones: in each interval of K steps, [m*K, (m+1)*K), the earliest committed checkpoint
  // is kept; with saves at multiples of K that is exactly those. Earliest committed rather than
  // smallest step, so a later save (after a rollback) never takes the place of an existing one.
  // 0: none.
  uint64_t keep_every_steps = 0;
  // Time milestones (TensorFlow's keep_checkpoint_every_n_hours): the oldest checkpoint is kept, and
  // then, in commit order, each first checkpoint committed at least H hours after the last one kept
  // this way. Finite, 0 <= H <= 1e6. 0: none.
  double keep_every_hours = 0;
  std::optional<KeepBest> keep_best;

  bool operator==(const RetentionPolicy&) const = default;
};

// InvalidArgument naming the field when `policy` breaks a rule above.
Status ValidateRetentionPolicy(const RetentionPolicy& policy);

// Why a checkpoint is kept: a bit set of these.
enum KeepReason : uint32_t {
  kKeepHead = 1,            // it is the head
  kKeepRecent = 2,          // among max_to_keep's most recent (or newer than the oldest of them)
  kKeepStepMilestone = 4,
  kKeepHourMilestone = 8,
  kKeepBest = 16,
  kKeepTagged = 32,
  kKeepNoLimit = 64,        // max_to_keep is 0
};

struct RetentionDecision {
  CheckpointId id = 0;
  uint32_t reasons = 0;  // KeepReason bits; 0 means the policy removes it
  bool keep() const { return reasons != 0; }
};

// Applies `policy` to `checkpoints` (oldest first, as Store::List returns them) with head `head`:
// one decision per checkpoint, in the same order. Pure: reads and changes nothing. Parent ids that
// name no checkpoint in the list end a lineage. REQUIRES: ValidateRetentionPolicy(policy).ok().
// Thread-safe.
std::vector<RetentionDecision> DecideRetention(const RetentionPolicy& policy,
                                               const std::vector<CheckpointInfo>& checkpoints,
                                               std::optional<CheckpointId> head);

}  // namespace ckptdb

// RetentionTracker: the writer's retention decisions kept up to date save by save, so that a save
// under a policy costs the same with 100,000 checkpoints as with 100 instead of running
// DecideRetention over the whole history each time.
//
// It starts from a settled history: one in which DecideRetention(policy, checkpoints, head) keeps
// every checkpoint (as after a save or collection removed what it retired). A save then adds one
// checkpoint that is newer than all others and becomes the head, and only a few checkpoints can
// lose their protection by it (retention.h's rules):
//   - recent: the kept set is every id at or above the floor (the oldest of the head's max_to_keep
//     most recent, or no floor while the line is shorter), and the floor only moves up, so the ids
//     between the old and the new floor are the candidates: each id is one once in the tracker's life
//     (the old head, which loses the head's protection, is always in the window or among these);
//   - keep-best: the checkpoint the new one pushes out of the best `count`.
// Step and hour milestones never move to another checkpoint when the newest is added, and tags do
// not change in a save, so those rules only ever protect the new checkpoint. Each candidate is then
// judged by every rule, which gives exactly DecideRetention's answer (tests/retention_tracker_test
// holds the two to each other on random histories).
//
// Tag edits are told to the tracker (SetTags). Anything else that changes the history (removal,
// rollback, a new policy) must drop it; the writer builds a new one from its next full evaluation.
// Thread safety: none; the store guards it with its save lock.
#pragma once

#include <deque>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <vector>

#include "ckptdb/retention.h"

namespace ckptdb {

// The rules' arithmetic, shared with DecideRetention (retention.cc) so both judge alike.
namespace retention_rules {
// The step interval of keep_every_steps `k` that `step` falls in: floor(step / k).
int64_t Interval(int64_t step, uint64_t k);
// Whether `later_ns` is at least `hours` after `earlier_ns`.
bool HoursApart(int64_t later_ns, int64_t earlier_ns, double hours);
// The checkpoint's value of `metric`, or nullopt when it has none or NaN.
std::optional<double> MetricValue(const CheckpointInfo& info, const std::string& metric);
}  // namespace retention_rules

class RetentionTracker {
 public:
  // `settled`: every checkpoint, oldest first, all kept by `policy` with head `head`.
  // REQUIRES: policy.max_to_keep > 0, ValidateRetentionPolicy(policy).ok().
  RetentionTracker(const RetentionPolicy& policy, std::vector<CheckpointInfo> settled, CheckpointId head);

  // Whether this tracker describes a store whose policy is `policy` and whose head is `head`.
  bool Matches(const RetentionPolicy& policy, std::optional<CheckpointId> head) const {
    return head == head_ && policy == policy_;
  }

  struct SavePlan {
    std::vector<CheckpointInfo> retired;    // what the save removes, oldest first, as stored
    std::vector<CheckpointInfo> repointed;  // survivors whose parent changes, with their new parent
    std::optional<CheckpointId> parent;     // the new checkpoint's parent once the retired are gone
  };
  // What saving `info` as the new head retires: DecideRetention over every checkpoint plus `info`,
  // with the re-pointing PruneInto does. Changes nothing.
  // REQUIRES: info.id is above every id held, info.parent == the head given at construction or by
  // the last Apply.
  SavePlan Plan(const CheckpointInfo& info) const;
  // Takes a committed save into the state. REQUIRES: `plan` is Plan(info) of the current state.
  void Apply(CheckpointInfo info, const SavePlan& plan);

  // A tag edit: checkpoint `id` (if held) now has exactly `tags`. A checkpoint left without tags may
  // have lost its last protection; the next Plan judges it with its own candidates.
  void SetTags(CheckpointId id, std::vector<std::string> tags);
  // True when every checkpoint held is known to be kept by the policy; false from an untag that
  // left a checkpoint without tags until the next save judges it (it may still be kept otherwise).
  bool settled() const { return unprotected_.empty(); }

  // Every checkpoint held, oldest first (for tests and checks; O(n)).
  std::vector<CheckpointInfo> Checkpoints() const;

 private:
  // Keep-best's order: better first (has the metric, then the better value, then the newer id).
  struct BestKey {
    bool has = false;
    double value = 0;
    CheckpointId id = 0;
  };
  struct BetterFirst {
    bool maximize = false;
    bool operator()(const BestKey& a, const BestKey& b) const;
  };
  BestKey KeyOf(const CheckpointInfo& info) const;
  // The floor after one more checkpoint joins the head's line (0: no floor, all are recent).
  CheckpointId FloorAfterSave(CheckpointId new_id) const;
  bool StepMilestone(const CheckpointInfo& info) const;
  // Counts `info`, newer than every checkpoint counted so far, in the milestone and best rules.
  void AddToRules(const CheckpointInfo& info);

  RetentionPolicy policy_;
  CheckpointId head_ = 0;
  std::map<CheckpointId, CheckpointInfo> infos_;
  std::unordered_map<CheckpointId, std::vector<CheckpointId>> children_;
  std::deque<CheckpointId> window_;  // the head's line, newest first, at most max_to_keep long
  CheckpointId floor_ = 0;
  std::unordered_map<int64_t, CheckpointId> earliest_;  // step interval -> its earliest checkpoint
  std::set<CheckpointId> hour_milestones_;
  std::optional<int64_t> last_hour_ns_;  // commit time of the newest hour milestone
  std::set<BestKey, BetterFirst> best_;   // the best `count`
  std::set<CheckpointId> unprotected_;    // lost their tags since the last save: judged at the next
};

}  // namespace ckptdb

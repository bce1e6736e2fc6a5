// Incremental retention (retention_tracker.h): the state DecideRetention would derive from the
// whole history, kept per rule, and the few candidates a save can unprotect judged against it.
#include "store/retention_tracker.h"

#include <algorithm>

namespace ckptdb {

bool RetentionTracker::BetterFirst::operator()(const BestKey& a, const BestKey& b) const {
  if (a.has != b.has) return a.has;
  if (a.has && a.value != b.value) return maximize ? a.value > b.value : a.value < b.value;
  return a.id > b.id;
}

RetentionTracker::BestKey RetentionTracker::KeyOf(const CheckpointInfo& info) const {
  const auto v = retention_rules::MetricValue(info, policy_.keep_best->metric);
  return {v.has_value(), v.value_or(0), info.id};
}

RetentionTracker::RetentionTracker(const RetentionPolicy& policy, std::vector<CheckpointInfo> settled,
                                   CheckpointId head)
    : policy_(policy), head_(head), best_(BetterFirst{policy.keep_best && policy.keep_best->maximize}) {
  for (CheckpointInfo& info : settled) {
    const CheckpointId id = info.id;
    infos_.emplace(id, std::move(info));
  }
  for (const auto& [id, info] : infos_)
    if (info.parent && infos_.count(*info.parent)) children_[*info.parent].push_back(id);
  // Bounded by the history's size, so a corrupt cycle of parent ids cannot loop forever.
  for (auto it = infos_.find(head); it != infos_.end() && window_.size() < policy_.max_to_keep &&
                                    window_.size() <= infos_.size();) {
    window_.push_back(it->first);
    if (!it->second.parent) break;
    it = infos_.find(*it->second.parent);
  }
  floor_ = window_.size() >= policy_.max_to_keep ? window_.back() : 0;
  for (const auto& entry : infos_) AddToRules(entry.second);  // ascending ids, as the rules count
}

void RetentionTracker::AddToRules(const CheckpointInfo& info) {
  // Newer than every checkpoint counted so far: it is a step milestone only in a new interval, an
  // hour milestone only far enough after the last one, and it may push one out of the best.
  if (policy_.keep_every_steps) earliest_.emplace(retention_rules::Interval(info.step, policy_.keep_every_steps), info.id);
  if (policy_.keep_every_hours > 0 &&
      (!last_hour_ns_ || retention_rules::HoursApart(info.commit_time_ns, *last_hour_ns_, policy_.keep_every_hours))) {
    hour_milestones_.insert(info.id);
    last_hour_ns_ = info.commit_time_ns;
  }
  if (policy_.keep_best) {
    best_.insert(KeyOf(info));
    if (best_.size() > policy_.keep_best->count) best_.erase(std::prev(best_.end()));
  }
}

CheckpointId RetentionTracker::FloorAfterSave(CheckpointId new_id) const {
  // The new line is new_id followed by the current window.
  const uint64_t n = policy_.max_to_keep;
  if (window_.size() + 1 < n) return 0;
  return n == 1 ? new_id : window_[n - 2];
}

bool RetentionTracker::StepMilestone(const CheckpointInfo& info) const {
  auto it = earliest_.find(retention_rules::Interval(info.step, policy_.keep_every_steps));
  return it != earliest_.end() && it->second == info.id;
}

RetentionTracker::SavePlan RetentionTracker::Plan(const CheckpointInfo& info) const {
  SavePlan plan;
  plan.parent = info.parent;
  const CheckpointId new_floor = FloorAfterSave(info.id);
  std::set<CheckpointId> candidates;
  // The ids the rising floor leaves behind; none are in the new window. The old head, no longer
  // protected as the head, is among them if it leaves the recent window too.
  if (new_floor != 0)
    for (auto it = infos_.lower_bound(floor_); it != infos_.end() && it->first < new_floor; ++it)
      candidates.insert(it->first);
  candidates.insert(unprotected_.begin(), unprotected_.end());
  std::optional<CheckpointId> displaced;
  if (policy_.keep_best && !best_.empty() && best_.size() >= policy_.keep_best->count &&
      best_.key_comp()(KeyOf(info), *best_.rbegin())) {
    displaced = best_.rbegin()->id;
    candidates.insert(*displaced);
  }
  auto kept = [&](const CheckpointInfo& c) {
    return new_floor == 0 || c.id >= new_floor || !c.tags.empty() ||
           (policy_.keep_every_steps && StepMilestone(c)) || hour_milestones_.count(c.id) ||
           (policy_.keep_best && c.id != displaced && best_.count(KeyOf(c)));
  };
  std::set<CheckpointId> victims;
  for (CheckpointId id : candidates) {
    const CheckpointInfo& c = infos_.at(id);
    if (kept(c)) continue;
    victims.insert(id);
    plan.retired.push_back(c);
  }
  if (victims.empty()) return plan;

  // As PruneInto: a victim's surviving children move to its nearest surviving ancestor.
  auto survivor = [&](std::optional<CheckpointId> p) {
    for (size_t steps = 0; p && victims.count(*p) && steps <= infos_.size(); ++steps) {
      auto it = infos_.find(*p);
      p = it == infos_.end() ? std::nullopt : it->second.parent;
    }
    return p && victims.count(*p) ? std::nullopt : p;
  };
  for (CheckpointId v : victims) {
    auto kids = children_.find(v);
    if (kids == children_.end()) continue;
    for (CheckpointId child : kids->second) {
      if (victims.count(child)) continue;
      CheckpointInfo moved = infos_.at(child);
      moved.parent = survivor(v);
      plan.repointed.push_back(std::move(moved));
    }
  }
  std::sort(plan.repointed.begin(), plan.repointed.end(),
            [](const CheckpointInfo& a, const CheckpointInfo& b) { return a.id < b.id; });
  if (info.parent && victims.count(*info.parent)) plan.parent = survivor(info.parent);
  return plan;
}

void RetentionTracker::SetTags(CheckpointId id, std::vector<std::string> tags) {
  auto it = infos_.find(id);
  if (it == infos_.end()) return;
  it->second.tags = std::move(tags);
  if (it->second.tags.empty()) unprotected_.insert(id);
}

void RetentionTracker::Apply(CheckpointInfo info, const SavePlan& plan) {
  unprotected_.clear();  // the plan judged them
  for (const CheckpointInfo& v : plan.retired) {
    auto it = infos_.find(v.id);
    if (it == infos_.end()) continue;
    if (it->second.parent)
      if (auto siblings = children_.find(*it->second.parent); siblings != children_.end())
        std::erase(siblings->second, v.id);
    children_.erase(v.id);
    hour_milestones_.erase(v.id);
    infos_.erase(it);
  }
  for (const CheckpointInfo& r : plan.repointed) {
    infos_.at(r.id).parent = r.parent;
    if (r.parent && infos_.count(*r.parent)) children_[*r.parent].push_back(r.id);
  }
  const CheckpointId id = info.id;
  info.parent = plan.parent;
  if (info.parent && infos_.count(*info.parent)) children_[*info.parent].push_back(id);
  window_.push_front(id);
  while (window_.size() > policy_.max_to_keep) window_.pop_back();
  floor_ = window_.size() >= policy_.max_to_keep ? window_.back() : 0;
  AddToRules(info);
  infos_.emplace(id, std::move(info));
  head_ = id;
}

std::vector<CheckpointInfo> RetentionTracker::Checkpoints() const {
  std::vector<CheckpointInfo> out;
  out.reserve(infos_.size());
  for (const auto& [id, info] : infos_) out.push_back(info);
  return out;
}

}  // namespace ckptdb

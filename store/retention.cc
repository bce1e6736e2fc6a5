// The retention rules of retention.h as a pure function over checkpoint summaries, so the store
// (in Save and CollectGarbage), the CLI (`ckptdb policy`) and tests all see the same decisions.
#include "ckptdb/retention.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "ckptdb/lineage.h"
#include "ckptdb/tensor.h"
#include "store/retention_tracker.h"

namespace ckptdb {

namespace retention_rules {

constexpr double kNsPerHour = 3600.0 * 1e9;

// floor(step / k) for any sign of step, so that steps -1 and 0 fall in different intervals. A K
// beyond int64 splits the steps into just [-K, 0) and [0, K).
int64_t Interval(int64_t step, uint64_t k) {
  if (k > uint64_t(INT64_MAX)) return step < 0 ? -1 : 0;
  const int64_t kk = int64_t(k);
  int64_t q = step / kk;
  if (step % kk != 0 && step < 0) --q;
  return q;
}

bool HoursApart(int64_t later_ns, int64_t earlier_ns, double hours) {
  // Subtract in integers first (wide enough for any two times): a double near 1.8e18 ns cannot
  // tell nanoseconds apart.
  return double(static_cast<__int128>(later_ns) - earlier_ns) >= hours * kNsPerHour;
}

std::optional<double> MetricValue(const CheckpointInfo& info, const std::string& metric) {
  auto it = info.metrics.find(metric);
  if (it == info.metrics.end() || std::isnan(it->second)) return std::nullopt;
  return it->second;
}

}  // namespace retention_rules

namespace {

using retention_rules::Interval;
constexpr double kMaxHours = 1e6;  // keeps H in nanoseconds far inside int64

void MarkRecent(const RetentionPolicy& p, const std::vector<CheckpointInfo>& cps,
                std::optional<CheckpointId> head, std::vector<uint32_t>& reasons) {
  std::unordered_map<CheckpointId, size_t> index;
  for (size_t i = 0; i < cps.size(); ++i) index[cps[i].id] = i;
  const std::vector<CheckpointId> line = head ? Ancestry(cps, *head) : std::vector<CheckpointId>{};
  const size_t n = std::min<uint64_t>(p.max_to_keep, line.size());
  for (size_t k = 0; k < n; ++k) reasons[index[line[k]]] |= kKeepRecent;
  // Off the current line, keep what is newer than the oldest recent one: abandoned branches age out
  // as the current branch moves on instead of vanishing at the first save after a rollback.
  const CheckpointId floor = line.size() >= p.max_to_keep ? line[n - 1] : 0;
  for (size_t i = 0; i < cps.size(); ++i)
    if (cps[i].id > floor) reasons[i] |= kKeepRecent;
}

void MarkStepMilestones(uint64_t k, const std::vector<CheckpointInfo>& cps, std::vector<uint32_t>& reasons) {
  std::unordered_map<int64_t, size_t> first;  // interval -> earliest committed checkpoint in it
  for (size_t i = 0; i < cps.size(); ++i) {
    auto [it, inserted] = first.emplace(Interval(cps[i].step, k), i);
    if (!inserted && cps[i].id < cps[it->second].id) it->second = i;
  }
  for (const auto& [interval, i] : first) reasons[i] |= kKeepStepMilestone;
}

void MarkHourMilestones(double hours, const std::vector<CheckpointInfo>& cps, std::vector<uint32_t>& reasons) {
  std::vector<size_t> order(cps.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return cps[a].id < cps[b].id; });
  std::optional<int64_t> last;
  for (size_t i : order) {
    if (last && !retention_rules::HoursApart(cps[i].commit_time_ns, *last, hours)) continue;
    reasons[i] |= kKeepHourMilestone;
    last = cps[i].commit_time_ns;
  }
}

void MarkBest(const KeepBest& best, const std::vector<CheckpointInfo>& cps, std::vector<uint32_t>& reasons) {
  auto value = [&](size_t i) { return retention_rules::MetricValue(cps[i], best.metric); };
  std::vector<size_t> order(cps.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  // Better first: having the metric, then the better value, then the newer checkpoint.
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const auto va = value(a), vb = value(b);
    if (va.has_value() != vb.has_value()) return va.has_value();
    if (va && *va != *vb) return best.maximize ? *va > *vb : *va < *vb;
    return cps[a].id > cps[b].id;
  });
  for (size_t k = 0; k < order.size() && k < best.count; ++k) reasons[order[k]] |= kKeepBest;
}

}  // namespace

Status ValidateRetentionPolicy(const RetentionPolicy& p) {
  if (!std::isfinite(p.keep_every_hours) || p.keep_every_hours < 0 || p.keep_every_hours > kMaxHours)
    return Status::InvalidArgument("keep_every_hours must be a finite number of hours from 0 to 1e6, not " +
                                   std::to_string(p.keep_every_hours));
  if (p.keep_best) {
    if (p.keep_best->metric.empty() || !IsValidUtf8(p.keep_best->metric))
      return Status::InvalidArgument("keep_best needs a non-empty UTF-8 metric name");
    if (p.keep_best->count == 0) return Status::InvalidArgument("keep_best count must be at least 1");
  }
  return Status::OK();
}

std::vector<RetentionDecision> DecideRetention(const RetentionPolicy& policy,
                                               const std::vector<CheckpointInfo>& checkpoints,
                                               std::optional<CheckpointId> head) {
  std::vector<uint32_t> reasons(checkpoints.size(), 0);
  if (policy.max_to_keep == 0)
    for (auto& r : reasons) r |= kKeepNoLimit;
  else
    MarkRecent(policy, checkpoints, head, reasons);
  if (policy.keep_every_steps) MarkStepMilestones(policy.keep_every_steps, checkpoints, reasons);
  if (policy.keep_every_hours > 0) MarkHourMilestones(policy.keep_every_hours, checkpoints, reasons);
  if (policy.keep_best) MarkBest(*policy.keep_best, checkpoints, reasons);
  std::vector<RetentionDecision> out(checkpoints.size());
  for (size_t i = 0; i < checkpoints.size(); ++i) {
    if (!checkpoints[i].tags.empty()) reasons[i] |= kKeepTagged;
    if (head && checkpoints[i].id == *head) reasons[i] |= kKeepHead;
    out[i] = {checkpoints[i].id, reasons[i]};
  }
  return out;
}

}  // namespace ckptdb

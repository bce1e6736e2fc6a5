// RetentionTracker against DecideRetention + PruneInto, the full evaluation it replaces at each
// save: on random histories (random policies, steps, times, metrics with ties and NaN, tags, and
// rollbacks, policy changes and untags that force a full evaluation), every save retires exactly
// the checkpoints the full evaluation retires, re-points the same survivors to the same parents,
// and leaves the same history behind. Tag edits are told to the tracker, not rebuilt from.
#include "store/retention_tracker.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "store/keys.h"
#include "store/store_impl.h"

namespace ckptdb {
namespace {

constexpr int64_t kHourNs = 3600LL * 1'000'000'000;

RetentionPolicy RandomPolicy(std::mt19937_64& rng) {
  RetentionPolicy p;
  p.max_to_keep = 1 + rng() % 5;
  const uint64_t steps[] = {0, 0, 1, 2, 7};
  p.keep_every_steps = steps[rng() % 5];
  const double hours[] = {0, 0, 0.5, 2};
  p.keep_every_hours = hours[rng() % 4];
  if (rng() % 2) p.keep_best = KeepBest{"loss", rng() % 2 == 0, 1 + rng() % 3};
  return p;
}

std::set<CheckpointId> Ids(const std::vector<CheckpointInfo>& v) {
  std::set<CheckpointId> out;
  for (const auto& c : v) out.insert(c.id);
  return out;
}

std::string Describe(const std::vector<CheckpointInfo>& v) {
  std::string s;
  for (const auto& c : v)
    s += std::to_string(c.id) + "<-" + (c.parent ? std::to_string(*c.parent) : "-") + " ";
  return s;
}

bool Settled(const RetentionPolicy& p, const std::vector<CheckpointInfo>& v, std::optional<CheckpointId> head) {
  for (const auto& d : DecideRetention(p, v, head))
    if (!d.keep()) return false;
  return true;
}

// One random run of `saves` saves; returns how many went through the tracker.
int RunOne(uint64_t seed, int saves) {
  std::mt19937_64 rng(seed);
  RetentionPolicy policy = RandomPolicy(rng);
  std::vector<CheckpointInfo> ref;  // the full model: every checkpoint, oldest first
  std::optional<CheckpointId> head;
  std::unique_ptr<RetentionTracker> tracker;
  CheckpointId next_id = 1;
  int64_t step = 0, time = 1'800'000'000LL * 1'000'000'000;
  int tracked = 0;
  for (int i = 0; i < saves; ++i) {
    const uint64_t event = rng() % 100;
    if (event < 4 && !ref.empty()) {  // a rollback: the head moves to an older checkpoint
      head = ref[rng() % ref.size()].id;
      step = int64_t(rng() % 50);
      tracker.reset();
    } else if (event < 6) {
      policy = RandomPolicy(rng);
      tracker.reset();
    } else if (event < 10 && !ref.empty()) {  // untag one (which may unprotect it), or tag one
      CheckpointInfo& c = ref[rng() % ref.size()];
      if (event < 8) c.tags.clear();
      else c.tags.push_back("u" + std::to_string(i));
      if (tracker) tracker->SetTags(c.id, c.tags);
      // settled() may be pessimistic (the untagged one may be kept otherwise), never optimistic.
      if (tracker && tracker->settled()) {
        EXPECT_TRUE(Settled(policy, ref, head)) << "seed " << seed;
      }
    }
    CheckpointInfo x;
    x.id = next_id++;
    x.parent = head;
    step += int64_t(rng() % 4);
    x.step = step;
    time += int64_t(rng() % 60) * kHourNs / 60 - (rng() % 20 == 0 ? kHourNs : 0);  // clocks can step back
    x.commit_time_ns = time;
    const uint64_t m = rng() % 20;
    if (m < 15) x.metrics["loss"] = double(rng() % 6);  // ties on purpose
    else if (m < 17) x.metrics["loss"] = std::numeric_limits<double>::quiet_NaN();
    if (rng() % 25 == 0) x.tags.push_back("t" + std::to_string(x.id));

    // The full evaluation, as the store did at every save before the tracker.
    std::vector<CheckpointInfo> all = ref;
    all.push_back(x);
    CommitBatch full;
    const std::vector<CheckpointInfo> retired = RetireInto(policy, all, x.id, full, x.id);
    std::set<std::string> full_repointed;
    for (const auto& [key, value] : full.summary_puts) full_repointed.insert(key);

    if (tracker) {
      ++tracked;
      EXPECT_TRUE(tracker->Matches(policy, head));
      const RetentionTracker::SavePlan plan = tracker->Plan(x);
      EXPECT_EQ(Ids(plan.retired), Ids(retired)) << "seed " << seed << " save " << i;
      std::set<std::string> repointed;
      for (const auto& moved : plan.repointed) repointed.insert(keys::EncodeU64(moved.id));
      EXPECT_EQ(repointed, full_repointed) << "seed " << seed << " save " << i;
      EXPECT_EQ(plan.parent, all.back().parent) << "seed " << seed << " save " << i;
      CheckpointInfo committed = x;
      committed.parent = plan.parent;
      tracker->Apply(committed, plan);
      const std::vector<CheckpointInfo> held = tracker->Checkpoints();
      EXPECT_EQ(Describe(held), Describe(all)) << "seed " << seed << " save " << i;
    } else {
      tracker = std::make_unique<RetentionTracker>(policy, all, x.id);
      EXPECT_EQ(Describe(tracker->Checkpoints()), Describe(all));
    }
    if (::testing::Test::HasFailure()) return tracked;
    ref = std::move(all);
    head = x.id;
    // The tracker's history is settled: a full evaluation now retires nothing.
    for (const auto& d : DecideRetention(policy, ref, head)) EXPECT_TRUE(d.keep()) << "seed " << seed;
  }
  return tracked;
}

TEST(RetentionTracker, RetiresExactlyWhatTheFullEvaluationRetiresOnRandomHistories) {
  int tracked = 0;
  for (uint64_t seed = 1; seed <= 300 && !HasFailure(); ++seed) tracked += RunOne(seed, 200);
  EXPECT_GT(tracked, 300 * 200 / 2);  // most saves went through the tracker, not the full path
}

TEST(RetentionTracker, RotatesALinearHistoryOneCheckpointPerSave) {
  RetentionPolicy p;
  p.max_to_keep = 3;
  std::vector<CheckpointInfo> settled;
  for (CheckpointId id = 1; id <= 3; ++id) {
    CheckpointInfo c;
    c.id = id;
    c.step = int64_t(id);
    if (id > 1) c.parent = id - 1;
    settled.push_back(c);
  }
  RetentionTracker t(p, settled, 3);
  for (CheckpointId id = 4; id <= 10; ++id) {
    CheckpointInfo x;
    x.id = id;
    x.parent = id - 1;
    x.step = int64_t(id);
    const auto plan = t.Plan(x);
    ASSERT_EQ(plan.retired.size(), 1u);
    EXPECT_EQ(plan.retired[0].id, id - 3);
    ASSERT_EQ(plan.repointed.size(), 1u);  // the oldest survivor loses its parent
    EXPECT_EQ(plan.repointed[0].id, id - 2);
    EXPECT_EQ(plan.repointed[0].parent, std::nullopt);
    t.Apply(x, plan);
  }
  EXPECT_EQ(Describe(t.Checkpoints()), "8<-- 9<-8 10<-9 ");
}

}  // namespace
}  // namespace ckptdb

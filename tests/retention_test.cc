// DecideRetention and ValidateRetentionPolicy on hand-built histories: which checkpoints each rule
// keeps, why (the exact KeepReason bits), and which policies are refused.
#include "ckptdb/retention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace ckptdb {
namespace {

constexpr uint32_t H = kKeepHead, R = kKeepRecent, S = kKeepStepMilestone, Hr = kKeepHourMilestone,
                   B = kKeepBest, T = kKeepTagged, NL = kKeepNoLimit;
constexpr int64_t kSec = 1'000'000'000, kMin = 60 * kSec;
constexpr int64_t kBase = 1'800'000'000 * kSec + 1234 * kSec;  // not aligned to any hour
const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

// Checkpoint `id` with `parent`, committed `minutes` after kBase (default: id minutes).
CheckpointInfo Ck(CheckpointId id, std::optional<CheckpointId> parent, int64_t step = 0) {
  CheckpointInfo c;
  c.id = id;
  c.parent = parent;
  c.step = step;
  c.commit_time_ns = kBase + static_cast<int64_t>(id) * kMin;
  return c;
}

// Ids 1..n, each the child of the one before, step 100 x id.
std::vector<CheckpointInfo> Linear(CheckpointId n) {
  std::vector<CheckpointInfo> v;
  for (CheckpointId id = 1; id <= n; ++id)
    v.push_back(Ck(id, id == 1 ? std::nullopt : std::optional<CheckpointId>(id - 1), 100 * int64_t(id)));
  return v;
}

// The reasons of each decision; also checks there is one decision per checkpoint, in order.
std::vector<uint32_t> Reasons(const RetentionPolicy& p, const std::vector<CheckpointInfo>& cks,
                              std::optional<CheckpointId> head) {
  EXPECT_TRUE(ValidateRetentionPolicy(p).ok()) << ValidateRetentionPolicy(p).ToString();
  const auto d = DecideRetention(p, cks, head);
  EXPECT_EQ(d.size(), cks.size());
  std::vector<uint32_t> out;
  for (size_t i = 0; i < d.size() && i < cks.size(); ++i) {
    EXPECT_EQ(d[i].id, cks[i].id) << "decision " << i;
    EXPECT_EQ(d[i].keep(), d[i].reasons != 0);
    out.push_back(d[i].reasons);
  }
  return out;
}

using Bits = std::vector<uint32_t>;

RetentionPolicy MaxToKeep(uint64_t n) {
  RetentionPolicy p;
  p.max_to_keep = n;
  return p;
}

RetentionPolicy Best(uint64_t count, bool maximize, uint64_t max_to_keep = 1) {
  RetentionPolicy p = MaxToKeep(max_to_keep);
  p.keep_best = KeepBest{"loss", maximize, count};
  return p;
}

TEST(DecideRetention, MaxToKeepKeepsTheNMostRecentOfALinearHistory) {
  EXPECT_EQ(Reasons(MaxToKeep(3), Linear(6), 6), (Bits{0, 0, 0, R, R, R | H}));
  EXPECT_EQ(Reasons(MaxToKeep(1), Linear(3), 3), (Bits{0, 0, R | H}));
  EXPECT_EQ(Reasons(MaxToKeep(5), Linear(2), 2), (Bits{R, R | H}));
  EXPECT_TRUE(DecideRetention(MaxToKeep(2), {}, std::nullopt).empty());
}

TEST(DecideRetention, MaxToKeepZeroKeepsEverythingWithNoLimit) {
  auto cks = Linear(4);
  cks[1].tags = {"t"};
  EXPECT_EQ(Reasons(RetentionPolicy{}, cks, 4), (Bits{NL, NL | T, NL, NL | H}));
}

TEST(DecideRetention, KeepEveryStepsKeepsTheFirstOfEachIntervalAtMultiples) {
  auto cks = Linear(6);
  for (int i = 0; i < 6; ++i) cks[i].step = 50 * i;  // 0, 50, ..., 250
  RetentionPolicy p = MaxToKeep(1);
  p.keep_every_steps = 100;
  EXPECT_EQ(Reasons(p, cks, 6), (Bits{S, 0, S, 0, S, R | H}));
}

TEST(DecideRetention, KeepEveryStepsWithSavesOffTheMultiples) {
  auto cks = Linear(8);
  for (int i = 0; i < 8; ++i) cks[i].step = 30 * (i + 1);  // 30, 60, ..., 240
  RetentionPolicy p = MaxToKeep(1);
  p.keep_every_steps = 100;
  EXPECT_EQ(Reasons(p, cks, 8), (Bits{S, 0, 0, S, 0, 0, S, R | H}));  // 30, 120, 210
}

TEST(DecideRetention, KeepEveryStepsFloorsNegativeSteps) {
  // [-200,-100): -150 -120; [-100,0): -100 -50; [0,100): 0 50.
  auto cks = Linear(6);
  const int64_t steps[] = {-150, -120, -100, -50, 0, 50};
  for (int i = 0; i < 6; ++i) cks[i].step = steps[i];
  RetentionPolicy p = MaxToKeep(1);
  p.keep_every_steps = 100;
  EXPECT_EQ(Reasons(p, cks, 6), (Bits{S, 0, S, 0, S, R | H}));
}

TEST(DecideRetention, KeepEveryStepsHandlesIntervalsBeyondInt64) {
  // K = 2^63: every negative step is in [-2^63, 0), every other one in [0, 2^63).
  auto cks = Linear(5);
  const int64_t steps[] = {std::numeric_limits<int64_t>::min(), -5, 3, std::numeric_limits<int64_t>::max(), 7};
  for (int i = 0; i < 5; ++i) cks[i].step = steps[i];
  RetentionPolicy p = MaxToKeep(1);
  p.keep_every_steps = 1ull << 63;
  EXPECT_EQ(Reasons(p, cks, 5), (Bits{S, 0, S, 0, R | H}));
}

TEST(DecideRetention, KeepEveryStepsKeepsTheEarliestCommittedNotTheSmallestStep) {
  // 1 (step 0) <- 2 (110) <- 3 (150); rolled back to 1, then 4 (step 100) saved as its child.
  std::vector<CheckpointInfo> cks = {Ck(1, std::nullopt, 0), Ck(2, 1, 110), Ck(3, 2, 150), Ck(4, 1, 100)};
  RetentionPolicy p = MaxToKeep(1);
  p.keep_every_steps = 100;
  EXPECT_EQ(Reasons(p, cks, 4), (Bits{S, S, 0, R | H}));
}

// Linear checkpoints committed at the given offsets from kBase.
std::vector<CheckpointInfo> AtTimes(const std::vector<int64_t>& offsets) {
  auto cks = Linear(offsets.size());
  for (size_t i = 0; i < offsets.size(); ++i) cks[i].commit_time_ns = kBase + offsets[i];
  return cks;
}

TEST(DecideRetention, KeepEveryHoursChainsFromTheLastKept) {
  RetentionPolicy p = MaxToKeep(1);
  p.keep_every_hours = 1;
  // Not hour buckets: 150 min is only 50 min after the last kept (100 min).
  EXPECT_EQ(Reasons(p, AtTimes({0, 50 * kMin, 100 * kMin, 150 * kMin}), 4), (Bits{Hr, 0, Hr, R | H}));
  // Not gaps between neighbours: 80 min is 80 min after the oldest though only 40 after 40 min.
  EXPECT_EQ(Reasons(p, AtTimes({0, 40 * kMin, 80 * kMin, 120 * kMin, 125 * kMin}), 5),
            (Bits{Hr, 0, Hr, 0, R | H}));
}

TEST(DecideRetention, KeepEveryHoursIsExactToTheNanosecond) {
  // "At least": exactly H later qualifies, one nanosecond less does not (at real clock values).
  RetentionPolicy p = MaxToKeep(1);
  p.keep_every_hours = 1;
  EXPECT_EQ(Reasons(p, AtTimes({0, 60 * kMin - 1, 60 * kMin, 119 * kMin, 120 * kMin}), 5),
            (Bits{Hr, 0, Hr, 0, Hr | R | H}));
}

TEST(DecideRetention, KeepEveryHoursTakesFractions) {
  RetentionPolicy p = MaxToKeep(1);
  p.keep_every_hours = 1.0 / 3600;  // one second
  const int64_t ms = 1'000'000;
  EXPECT_EQ(Reasons(p, AtTimes({0, 500 * ms, 1200 * ms, 1700 * ms, 2300 * ms}), 5),
            (Bits{Hr, 0, Hr, 0, Hr | R | H}));
}

// Linear 1..6 whose "loss" is 0.5, 0.3, (none), 0.3, NaN, 0.9; 3 has another metric instead.
std::vector<CheckpointInfo> Losses() {
  auto cks = Linear(6);
  cks[0].metrics = {{"loss", 0.5}};
  cks[1].metrics = {{"loss", 0.3}};
  cks[2].metrics = {{"acc", 0.1}};
  cks[3].metrics = {{"loss", 0.3}, {"acc", 0.9}};
  cks[4].metrics = {{"loss", kNaN}};
  cks[5].metrics = {{"loss", 0.9}};
  return cks;
}

TEST(DecideRetention, KeepBestMinimumNewestFirstAmongTies) {
  // Ranking: 4 (0.3, newer), 2 (0.3), 1, 6, then without a value newest first: 5 (NaN), 3.
  EXPECT_EQ(Reasons(Best(1, false), Losses(), 6), (Bits{0, 0, 0, B, 0, R | H}));
  EXPECT_EQ(Reasons(Best(2, false), Losses(), 6), (Bits{0, B, 0, B, 0, R | H}));
  EXPECT_EQ(Reasons(Best(4, false), Losses(), 6), (Bits{B, B, 0, B, 0, B | R | H}));
  EXPECT_EQ(Reasons(Best(5, false), Losses(), 6), (Bits{B, B, 0, B, B, B | R | H}));
  EXPECT_EQ(Reasons(Best(6, false), Losses(), 6), (Bits{B, B, B, B, B, B | R | H}));
}

TEST(DecideRetention, KeepBestMaximum) {
  // Ranking: 6 (0.9), 1 (0.5), 4 (0.3, newer), 2, then 5 (NaN), 3.
  EXPECT_EQ(Reasons(Best(2, true, 2), Losses(), 6), (Bits{B, 0, 0, 0, R, B | R | H}));
  EXPECT_EQ(Reasons(Best(3, true), Losses(), 6), (Bits{B, 0, 0, B, 0, B | R | H}));
}

TEST(DecideRetention, KeepBestRanksInfinitiesAsValuesAndMissingBelowAll) {
  auto cks = Linear(4);
  cks[0].metrics = {{"loss", -kInf}};
  cks[1].metrics = {{"loss", kInf}};
  cks[2].metrics = {{"loss", 0.0}};
  EXPECT_EQ(Reasons(Best(1, false), cks, 4), (Bits{B, 0, 0, R | H}));
  EXPECT_EQ(Reasons(Best(1, true), cks, 4), (Bits{0, B, 0, R | H}));
  EXPECT_EQ(Reasons(Best(3, true), cks, 4), (Bits{B, B, B, R | H}));
  // Nobody has the metric: the newest rank first.
  EXPECT_EQ(Reasons(Best(2, false, 1), Linear(4), 4), (Bits{0, 0, B, B | R | H}));
}

TEST(DecideRetention, BestSurvivesMaxToKeepOne) {
  auto cks = Linear(5);
  const double loss[] = {3, 1, 2, 4, 5};
  for (int i = 0; i < 5; ++i) cks[i].metrics = {{"loss", loss[i]}};
  EXPECT_EQ(Reasons(Best(1, false), cks, 5), (Bits{0, B, 0, 0, R | H}));
}

TEST(DecideRetention, TaggedCheckpointsAreAlwaysKept) {
  auto cks = Linear(5);
  cks[1].tags = {"a"};
  cks[2].tags = {"b", "c"};
  EXPECT_EQ(Reasons(MaxToKeep(1), cks, 5), (Bits{0, T, T, 0, R | H}));
}

TEST(DecideRetention, EveryRuleThatKeepsACheckpointSetsItsBit) {
  std::vector<CheckpointInfo> one = {Ck(1, std::nullopt, 0)};
  one[0].tags = {"x"};
  one[0].metrics = {{"loss", 1.0}};
  RetentionPolicy p = Best(1, false);
  p.keep_every_steps = 10;
  p.keep_every_hours = 2;
  EXPECT_EQ(Reasons(p, one, 1), (Bits{H | R | S | Hr | B | T}));
  EXPECT_EQ(H | R | S | Hr | B | T, 63u);
}

TEST(DecideRetention, CombinedRulesUnite) {
  // id i: step 50(i-1), committed 25(i-1) min after kBase; loss as below; 2 tagged; head 10.
  auto cks = Linear(10);
  const double loss[] = {9, 8, 1, 7, 6, 2, 5, 4, 3, 10};
  for (int i = 0; i < 10; ++i) {
    cks[i].step = 50 * i;
    cks[i].commit_time_ns = kBase + 25 * kMin * i;
    cks[i].metrics = {{"loss", loss[i]}};
  }
  cks[1].tags = {"warm"};
  RetentionPolicy p = Best(1, false, 3);
  p.keep_every_steps = 200;  // 1 (0), 5 (200), 9 (400)
  p.keep_every_hours = 1;    // 1 (0 min), 4 (75), 7 (150), 10 (225)
  EXPECT_EQ(Reasons(p, cks, 10), (Bits{S | Hr, T, B, Hr, S, 0, Hr, R, R | S, R | H | Hr}));
}

TEST(DecideRetention, OffBranchCheckpointsLiveWhileNewerThanTheOldestRecent) {
  // 1 <- 2 <- 3 <- 4 <- 5; rolled back to 2, then 6 <- 7 saved on it. Current branch: 7 6 2 1.
  std::vector<CheckpointInfo> cks = {Ck(1, std::nullopt), Ck(2, 1), Ck(3, 2), Ck(4, 3),
                                     Ck(5, 4),           Ck(6, 2), Ck(7, 6)};
  EXPECT_EQ(Reasons(MaxToKeep(3), cks, 7), (Bits{0, R, R, R, R, R, R | H}));  // oldest recent: 2
  EXPECT_EQ(Reasons(MaxToKeep(2), cks, 7), (Bits{0, 0, 0, 0, 0, R, R | H}));  // oldest recent: 6
  EXPECT_EQ(Reasons(MaxToKeep(4), cks, 7), (Bits{R, R, R, R, R, R, R | H}));
}

TEST(DecideRetention, AnAbandonedBranchAgesOutAsTheCurrentOneMovesOn) {
  // 1..6 linear; rolled back to 3; 7 saved on 3, then 8 on 7.
  auto cks = Linear(6);
  cks.push_back(Ck(7, 3));
  EXPECT_EQ(Reasons(MaxToKeep(2), cks, 7), (Bits{0, 0, R, R, R, R, R | H}));
  cks.push_back(Ck(8, 7));
  EXPECT_EQ(Reasons(MaxToKeep(2), cks, 8), (Bits{0, 0, 0, 0, 0, 0, R, R | H}));
}

TEST(DecideRetention, AHeadBehindTheTipKeepsItsDescendantsAsNewer) {
  // Rolled back to 3 with nothing saved yet: 4 and 5 are on another branch, newer than 2.
  EXPECT_EQ(Reasons(MaxToKeep(2), Linear(5), 3), (Bits{0, R, R | H, R, R}));
}

TEST(DecideRetention, ADanglingParentEndsTheCurrentBranch) {
  // 1 was removed: 2's parent names nothing in the list.
  std::vector<CheckpointInfo> cks = {Ck(2, 1), Ck(3, 2), Ck(4, 3)};
  EXPECT_EQ(Reasons(MaxToKeep(2), cks, 4), (Bits{0, R, R | H}));
  EXPECT_EQ(Reasons(MaxToKeep(3), cks, 4), (Bits{R, R, R | H}));
}

TEST(ValidateRetentionPolicy, AcceptsTheDefaultAndEveryValidEdge) {
  EXPECT_TRUE(ValidateRetentionPolicy(RetentionPolicy{}).ok());
  RetentionPolicy p;
  p.max_to_keep = std::numeric_limits<uint64_t>::max();
  p.keep_every_steps = std::numeric_limits<uint64_t>::max();
  p.keep_every_hours = 1e6;
  p.keep_best = KeepBest{"val/损失", true, std::numeric_limits<uint64_t>::max()};
  EXPECT_TRUE(ValidateRetentionPolicy(p).ok()) << ValidateRetentionPolicy(p).ToString();
  p.keep_every_hours = 1.0 / 3600;
  EXPECT_TRUE(ValidateRetentionPolicy(p).ok());
  p.keep_every_hours = std::numeric_limits<double>::denorm_min();
  EXPECT_TRUE(ValidateRetentionPolicy(p).ok());
}

void ExpectRefused(const RetentionPolicy& p, const std::string& field) {
  Status s = ValidateRetentionPolicy(p);
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find(field), std::string::npos) << s.ToString();
}

TEST(ValidateRetentionPolicy, RefusesBadHoursNamingTheField) {
  for (double h : {-1.0, -1e-9, kNaN, kInf, -kInf, 1e6 * (1 + 1e-12), 2e6}) {
    SCOPED_TRACE(std::to_string(h));
    RetentionPolicy p;
    p.keep_every_hours = h;
    ExpectRefused(p, "keep_every_hours");
  }
}

TEST(ValidateRetentionPolicy, RefusesBadKeepBestNamingTheField) {
  RetentionPolicy p;
  p.keep_best = KeepBest{"loss", false, 0};
  ExpectRefused(p, "keep_best");
  p.keep_best = KeepBest{"", false, 1};
  ExpectRefused(p, "keep_best");
  p.keep_best = KeepBest{std::string("lo\xff", 3), false, 1};
  ExpectRefused(p, "keep_best");
}

}  // namespace
}  // namespace ckptdb

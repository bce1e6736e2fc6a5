// Retention through the real Store: the stored policy, rotation at every save and at
// CollectGarbage, what each rule lets survive, re-pointed parents, and space that really returns.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "tests/support/retention_fixtures.h"

namespace ckptdb {
namespace {

using retention_tests::IdsOf;
using retention_tests::kChunk;
using IdList = std::vector<CheckpointId>;
using StepList = std::vector<int64_t>;

class StoreRetentionTest : public retention_tests::HistoryTest {
 protected:
  RetentionPolicy Stored() {
    auto p = store_->GetRetention();
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? *p : RetentionPolicy{};
  }
};

// Field by field: RetentionPolicy's defaulted operator== is deleted (KeepBest has no operator==).
std::string Show(const RetentionPolicy& p) {
  std::string s = "max_to_keep=" + std::to_string(p.max_to_keep) + " keep_every_steps=" +
                  std::to_string(p.keep_every_steps) + " keep_every_hours=" + std::to_string(p.keep_every_hours);
  if (p.keep_best)
    s += " keep_best={" + p.keep_best->metric + ", " + (p.keep_best->maximize ? "max" : "min") + ", " +
         std::to_string(p.keep_best->count) + "}";
  return s;
}
::testing::AssertionResult Same(const RetentionPolicy& got, const RetentionPolicy& want) {
  const bool best_same = got.keep_best.has_value() == want.keep_best.has_value() &&
                         (!got.keep_best || (got.keep_best->metric == want.keep_best->metric &&
                                             got.keep_best->maximize == want.keep_best->maximize &&
                                             got.keep_best->count == want.keep_best->count));
  if (got.max_to_keep == want.max_to_keep && got.keep_every_steps == want.keep_every_steps &&
      got.keep_every_hours == want.keep_every_hours && best_same)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "got " << Show(got) << ", want " << Show(want);
}

RetentionPolicy MaxToKeep(uint64_t n) {
  RetentionPolicy p;
  p.max_to_keep = n;
  return p;
}

TEST_F(StoreRetentionTest, APolicyRoundTripsAndPersists) {
  EXPECT_TRUE(Same(Stored(), RetentionPolicy{}));
  RetentionPolicy p;
  p.max_to_keep = 5;
  p.keep_every_steps = 1000;
  p.keep_every_hours = 1.0 / 3600;
  p.keep_best = KeepBest{"val/损失", true, 3};
  SetPolicy(p);
  EXPECT_TRUE(Same(Stored(), p));
  Reopen();
  EXPECT_TRUE(Same(Stored(), p));
  RetentionPolicy q = MaxToKeep(2);  // replaces everything, keep_best included
  SetPolicy(q);
  Reopen();
  EXPECT_TRUE(Same(Stored(), q));
  EXPECT_FALSE(Stored().keep_best.has_value());
}

TEST_F(StoreRetentionTest, AnInvalidPolicyIsRefusedAndTheStoredOneStays) {
  RetentionPolicy good = MaxToKeep(3);
  good.keep_every_hours = 2;
  SetPolicy(good);
  RetentionPolicy bad[4] = {good, good, good, good};
  bad[0].keep_best = KeepBest{"loss", false, 0};
  bad[1].keep_best = KeepBest{"", false, 1};
  bad[2].keep_every_hours = -1;
  bad[3].keep_every_hours = 2e6;
  for (const auto& p : bad) EXPECT_EQ(store_->SetRetention(p).code(), Code::kInvalidArgument);
  EXPECT_TRUE(Same(Stored(), good));
  Reopen();
  EXPECT_TRUE(Same(Stored(), good));
}

TEST_F(StoreRetentionTest, MaxToKeepRotatesAtEverySaveAndSurvivorsStayWhole) {
  SetPolicy(MaxToKeep(3));
  for (int i = 1; i <= 6; ++i) {
    const auto info = Save(10 * i);
    EXPECT_EQ(info.id, CheckpointId(i));
    EXPECT_EQ(Ids().size(), size_t(std::min(i, 3))) << "after save " << i;
  }
  EXPECT_EQ(Ids(), (IdList{4, 5, 6}));
  EXPECT_EQ(store_->Describe(Selector::Step(10)).status().code(), Code::kNotFound);
  ExpectParentsSurvive();
  ExpectChainFromHead({6, 5, 4});
  ExpectEverySurvivorRestores();
  Reopen();
  EXPECT_EQ(Ids(), (IdList{4, 5, 6}));
  EXPECT_EQ(ParentOf(4), std::nullopt);
  // The background collection dropped the rotated checkpoints' own chunks (2 each) and kept the
  // shared one, within its looser disk bound (StoreOptions::background_gc); an explicit collection
  // finds no dead chunk left and compacts to the tight bound.
  ASSERT_TRUE(store_->WaitForBackgroundWork().ok());
  const uint64_t live = (1 + 3 * retention_tests::kOwnChunks) * kChunk;
  EXPECT_EQ(store_->Space()->unique_bytes, live);
  EXPECT_LE(testing::AllocatedBytes(path_ + "/packs"), 1.5 * live);
  const GcReport r = Gc();
  EXPECT_LE(testing::AllocatedBytes(path_ + "/packs"), 1.15 * live);
  EXPECT_EQ(r.chunks_deleted, 0u);
  EXPECT_EQ(r.live_bytes, live);
  EXPECT_TRUE(r.checkpoints_removed.empty());
  ExpectEverySurvivorRestores();
  EXPECT_TRUE(store_->Verify()->ok());
}

TEST_F(StoreRetentionTest, SaveReturnsTheCheckpointsItsRotationRetired) {
  SetPolicy(MaxToKeep(2));
  Save(10);
  Save(20);
  const std::vector<uint8_t> bytes = testing::RandomBytes(9, kChunk);
  TensorRef t{"x", DType::kU8, {int64_t(bytes.size())}, bytes.data(), bytes.size()};
  SaveOptions o;
  o.step = 30;
  auto third = store_->Save({&t, 1}, o);
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  EXPECT_EQ(third->id, 3u);
  ASSERT_EQ(third->retired.size(), 1u);
  EXPECT_EQ(third->retired[0].id, 1u);
  EXPECT_EQ(third->retired[0].step, 10);
  SetPolicy(RetentionPolicy{});
  o.step = 40;
  auto fourth = store_->Save({&t, 1}, o);
  ASSERT_TRUE(fourth.ok());
  EXPECT_TRUE(fourth->retired.empty()) << "no max_to_keep: nothing retired";
  EXPECT_EQ(Ids(), (IdList{2, 3, 4}));
}

TEST_F(StoreRetentionTest, KeepEveryStepsKeepsTheFirstOfEachInterval) {
  RetentionPolicy p = MaxToKeep(1);
  p.keep_every_steps = 100;
  SetPolicy(p);
  for (int step = 30; step <= 240; step += 30) Save(step);
  EXPECT_EQ(Steps(), (StepList{30, 120, 210, 240}));
  ExpectParentsSurvive();
  ExpectChainFromHead({8, 7, 4, 1});
  ExpectEverySurvivorRestores();
}

TEST_F(StoreRetentionTest, KeepEveryHoursKeepsAChainOfTimeMilestones) {
  RetentionPolicy p = MaxToKeep(1);
  p.keep_every_hours = 1.0 / 3600;  // one second
  SetPolicy(p);
  const auto a = Save(1);
  Save(2);
  const auto c = Save(3);
  ASSERT_LT(c.commit_time_ns - a.commit_time_ns, 900'000'000) << "saves too slow for this test";
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  const auto d = Save(4);
  const auto e = Save(5);
  ASSERT_LT(e.commit_time_ns - d.commit_time_ns, 900'000'000) << "saves too slow for this test";
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  const auto f = Save(6);
  EXPECT_EQ(Ids(), (IdList{a.id, d.id, f.id}));
  ExpectChainFromHead({f.id, d.id, a.id});
  ExpectEverySurvivorRestores();
}

TEST_F(StoreRetentionTest, KeepBestProtectsTheBestAlongsideTheRecent) {
  RetentionPolicy p = MaxToKeep(2);
  p.keep_best = KeepBest{"loss", false, 2};
  SetPolicy(p);
  for (double loss : {5.0, 1.0, 4.0, 2.0, 3.0, 6.0}) Save(int64_t(loss * 10), {{"loss", loss}});
  EXPECT_EQ(Ids(), (IdList{2, 4, 5, 6}));
  ExpectParentsSurvive();
  ExpectChainFromHead({6, 5, 4, 2});
  ExpectEverySurvivorRestores();
}

TEST_F(StoreRetentionTest, TheBestSurvivesMaxToKeepOne) {
  RetentionPolicy p = MaxToKeep(1);
  p.keep_best = KeepBest{"loss", false, 1};
  SetPolicy(p);
  for (double loss : {3.0, 1.0, 2.0, 4.0}) Save(int64_t(loss), {{"loss", loss}});
  EXPECT_EQ(Ids(), (IdList{2, 4}));
  EXPECT_EQ(store_->Describe(Selector::Best("loss", false))->info.id, 2u);
  store_tests::ExpectRestores(*store_, Selector::Best("loss", false), saved_.at(2));
  ExpectChainFromHead({4, 2});
}

TEST_F(StoreRetentionTest, CombinedRulesKeepTheirUnion) {
  RetentionPolicy p = MaxToKeep(2);
  p.keep_every_steps = 200;
  p.keep_every_hours = 1000;  // only the oldest
  p.keep_best = KeepBest{"acc", true, 1};
  SetPolicy(p);
  const double acc[] = {0.1, 0.9, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7};
  for (int i = 0; i < 8; ++i) Save(50 * i, {{"acc", acc[i]}}, i == 3 ? std::vector<std::string>{"rc"} : std::vector<std::string>{});
  // 1 (step 0, oldest), 2 (best acc), 4 (tagged), 5 (step 200), 7 and 8 (recent).
  EXPECT_EQ(Ids(), (IdList{1, 2, 4, 5, 7, 8}));
  ExpectParentsSurvive();
  ExpectChainFromHead({8, 7, 5, 4, 2, 1});
  ExpectEverySurvivorRestores();
}

TEST_F(StoreRetentionTest, TaggedCheckpointsSurviveRotationAndOnlyRemoveDeletesThem) {
  SetPolicy(MaxToKeep(1));
  const auto a = Save(10, {}, {"keep"});
  Save(20);
  Save(30);
  const auto d = Save(40);
  EXPECT_EQ(Ids(), (IdList{a.id, d.id}));
  EXPECT_EQ(ParentOf(d.id), a.id);
  EXPECT_TRUE(Gc().checkpoints_removed.empty());
  EXPECT_EQ(Ids(), (IdList{a.id, d.id}));
  auto removed = store_->Remove(Selector::Tag("keep"));
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(removed->id, a.id);
  EXPECT_EQ(Ids(), (IdList{d.id}));
  EXPECT_EQ(ParentOf(d.id), std::nullopt);
}

TEST_F(StoreRetentionTest, AFailedSaveRotatesNothing) {
  SetPolicy(MaxToKeep(1));
  const auto a = Save(10, {}, {"t"});
  const auto b = Save(20);
  auto r = store_->Save(store_tests::Refs(saved_.at(b.id)), [] {
    SaveOptions o;
    o.step = 30;
    o.tags = {"t"};
    return o;
  }());
  EXPECT_EQ(r.status().code(), Code::kAlreadyExists) << r.status().ToString();
  EXPECT_EQ(Ids(), (IdList{a.id, b.id}));
  EXPECT_EQ(HeadId(), b.id);
}

TEST_F(StoreRetentionTest, TheHeadSurvivesAfterARollback) {
  SaveSteps(4);
  ASSERT_EQ(MustRollback(Selector::Id(2)).head.id, 2u);
  SetPolicy(MaxToKeep(1));
  // Current branch 2 <- 1: 1 goes; 3 and 4 are newer than the oldest recent (2) and stay.
  const GcReport r = Gc();
  EXPECT_EQ(IdsOf(r.checkpoints_removed), (IdList{1}));
  EXPECT_EQ(Ids(), (IdList{2, 3, 4}));
  EXPECT_EQ(HeadId(), 2u);
  EXPECT_EQ(ParentOf(2), std::nullopt);
  EXPECT_EQ(ParentOf(3), 2u);
  // The next save is 2's child, and then 2, 3 and 4 all age out in its commit.
  const auto e = Save(50);
  EXPECT_EQ(Ids(), (IdList{e.id}));
  EXPECT_EQ(e.parent, std::nullopt);
  EXPECT_EQ(ParentOf(e.id), std::nullopt);
}

TEST_F(StoreRetentionTest, APolicyAppliesOnlyAtTheNextGcWhichThenReclaimsTheDisk) {
  constexpr uint64_t kOwn = 64;  // 4 MiB per checkpoint, none shared but "base"
  for (int i = 1; i <= 6; ++i) Save(10 * i, {{"loss", double(i)}}, {}, kOwn);
  const auto before = List();
  SetPolicy(MaxToKeep(2));
  EXPECT_EQ(IdsOf(List()), IdsOf(before));
  Reopen();
  EXPECT_EQ(IdsOf(List()), IdsOf(before));
  const uint64_t disk_before = testing::AllocatedBytes(path_);
  EXPECT_GE(disk_before, 6 * kOwn * kChunk);

  const GcReport r = Gc();
  ASSERT_EQ(IdsOf(r.checkpoints_removed), (IdList{1, 2, 3, 4}));  // oldest first
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(r.checkpoints_removed[i].step, before[i].step);
    EXPECT_EQ(r.checkpoints_removed[i].commit_time_ns, before[i].commit_time_ns);
    EXPECT_EQ(r.checkpoints_removed[i].metrics, before[i].metrics);
  }
  EXPECT_EQ(r.chunks_deleted, 4 * kOwn);
  const uint64_t live = (1 + 2 * kOwn) * kChunk;
  EXPECT_EQ(r.live_bytes, live);
  EXPECT_GE(r.reclaimed_bytes, 4 * kOwn * kChunk);
  EXPECT_EQ(Ids(), (IdList{5, 6}));
  EXPECT_EQ(ParentOf(5), std::nullopt);
  auto space = store_->Space();
  ASSERT_TRUE(space.ok());
  EXPECT_EQ(space->unique_bytes, live);
  EXPECT_LE(testing::AllocatedBytes(path_ + "/packs"), 1.15 * live);
  EXPECT_LE(testing::AllocatedBytes(path_), 1.15 * live + (8 << 20)) << "before gc " << disk_before;
  ExpectEverySurvivorRestores();
  // Applied once: a second collection removes nothing.
  const GcReport again = Gc();
  EXPECT_TRUE(again.checkpoints_removed.empty());
  EXPECT_EQ(again.chunks_deleted, 0u);
}

TEST_F(StoreRetentionTest, RemovingAMiddleCheckpointRepointsItsChildren) {
  SaveSteps(3);
  MustRollback(Selector::Id(2));
  const auto d = Save(40);  // 2 now has children 3 and 4
  ASSERT_EQ(d.parent, 2u);
  ASSERT_TRUE(store_->Remove(Selector::Id(2)).ok());
  EXPECT_EQ(ParentOf(3), 1u);
  EXPECT_EQ(ParentOf(d.id), 1u);
  ExpectParentsSurvive();
  Reopen();
  EXPECT_EQ(ParentOf(3), 1u);
  EXPECT_EQ(ParentOf(d.id), 1u);
  ASSERT_TRUE(store_->Remove(Selector::Id(1)).ok());  // the root: its children become roots
  EXPECT_EQ(ParentOf(3), std::nullopt);
  EXPECT_EQ(ParentOf(d.id), std::nullopt);
  ExpectEverySurvivorRestores();
}

}  // namespace
}  // namespace ckptdb

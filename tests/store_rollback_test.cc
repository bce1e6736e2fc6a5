// Rollback through the real Store: the head moves, history forks, abandoned checkpoints stay readable
// (or are discarded in one step), failed rollbacks change nothing, and the head survives reopen.
#include <gtest/gtest.h>

#include <map>

#include "tests/support/retention_fixtures.h"

namespace ckptdb {
namespace {

using retention_tests::IdsOf;
using testing::ExpectSameInfo;
using IdList = std::vector<CheckpointId>;

class StoreRollbackTest : public retention_tests::HistoryTest {
 protected:
  CheckpointInfo Listed(CheckpointId id) {
    for (const auto& c : List())
      if (c.id == id) return c;
    ADD_FAILURE() << "checkpoint " << id << " is not listed";
    return {};
  }
  std::map<CheckpointId, uint32_t> Branches() {
    const auto cks = List();
    const auto b = AssignBranches(cks, HeadId());
    EXPECT_EQ(b.size(), cks.size());
    std::map<CheckpointId, uint32_t> out;
    for (size_t i = 0; i < cks.size() && i < b.size(); ++i) out[cks[i].id] = b[i];
    return out;
  }
};

TEST_F(StoreRollbackTest, TheHeadFollowsSavesAndAnEmptyStoreHasNone) {
  EXPECT_EQ(HeadId(), std::nullopt);
  EXPECT_EQ(store_->Rollback(Selector::Latest(), false).status().code(), Code::kNotFound);
  EXPECT_EQ(HeadId(), std::nullopt);
  SaveSteps(2);
  EXPECT_EQ(HeadId(), 2u);
}

TEST_F(StoreRollbackTest, RollbackByStepMovesTheHeadAndTheNextSaveForks) {
  SaveSteps(4);
  const auto before = List();
  const RollbackReport r = MustRollback(Selector::Step(20));
  ExpectSameInfo(r.head, before[1]);
  ASSERT_EQ(IdsOf(r.abandoned), (IdList{4, 3}));  // newest first
  ExpectSameInfo(r.abandoned[0], before[3]);
  ExpectSameInfo(r.abandoned[1], before[2]);
  EXPECT_TRUE(r.discarded.empty());
  EXPECT_EQ(HeadId(), 2u);
  ASSERT_EQ(List().size(), before.size());
  for (size_t i = 0; i < before.size(); ++i) ExpectSameInfo(List()[i], before[i]);

  const auto e = Save(50);
  EXPECT_EQ(e.id, 5u);
  EXPECT_EQ(e.parent, 2u);
  EXPECT_EQ(HeadId(), 5u);
  EXPECT_EQ(Ids(), (IdList{1, 2, 3, 4, 5}));
  EXPECT_EQ(Branches(), (std::map<CheckpointId, uint32_t>{{1, 0}, {2, 0}, {3, 1}, {4, 1}, {5, 0}}));
  ExpectEverySurvivorRestores();  // the abandoned 3 and 4 included
  EXPECT_EQ(store_->Describe(Selector::Latest())->info.id, 5u);
}

TEST_F(StoreRollbackTest, EverySelectorKindRollsBackToWhatItSelects) {
  const auto a = Save(10, {{"loss", 0.9}});
  const auto b = Save(20, {{"loss", 0.5}});
  Save(30, {{"loss", 0.7}}, {"t"});
  Save(40, {{"loss", 0.1}});
  Save(50, {{"loss", 0.8}});
  RollbackReport r = MustRollback(Selector::Tag("t"));
  EXPECT_EQ(r.head.id, 3u);
  EXPECT_EQ(IdsOf(r.abandoned), (IdList{5, 4}));
  r = MustRollback(Selector::At(b.commit_time_ns));
  EXPECT_EQ(r.head.id, b.id);
  EXPECT_EQ(IdsOf(r.abandoned), (IdList{3}));
  r = MustRollback(Selector::Best("loss", false));  // 4: a descendant of the head
  EXPECT_EQ(r.head.id, 4u);
  EXPECT_TRUE(r.abandoned.empty());
  r = MustRollback(Selector::Id(a.id));
  EXPECT_EQ(r.head.id, a.id);
  EXPECT_EQ(IdsOf(r.abandoned), (IdList{4, 3, 2}));
  r = MustRollback(Selector::Latest());  // 5, the newest committed: forward again
  EXPECT_EQ(r.head.id, 5u);
  EXPECT_TRUE(r.abandoned.empty());
  EXPECT_EQ(HeadId(), 5u);
  EXPECT_EQ(Ids(), (IdList{1, 2, 3, 4, 5}));
}

TEST_F(StoreRollbackTest, DiscardDeletesTheUntaggedAbandonedInOneStep) {
  SaveSteps(3);
  Save(40, {}, {"keep"});
  Save(50);
  const RollbackReport r = MustRollback(Selector::Id(2), /*discard=*/true);
  EXPECT_EQ(r.head.id, 2u);
  EXPECT_EQ(IdsOf(r.abandoned), (IdList{5, 4, 3}));
  EXPECT_EQ(IdsOf(r.discarded), (IdList{5, 3}));
  EXPECT_EQ(Ids(), (IdList{1, 2, 4}));
  EXPECT_EQ(ParentOf(4), 2u);  // its parent 3 was discarded
  ExpectParentsSurvive();
  Reopen();
  EXPECT_EQ(Ids(), (IdList{1, 2, 4}));
  EXPECT_EQ(HeadId(), 2u);
  EXPECT_EQ(store_->Restore(Selector::Id(3)).status().code(), Code::kNotFound);
  EXPECT_EQ(store_->Describe(Selector::Tag("keep"))->info.id, 4u);
  // GC reclaims exactly the discarded checkpoints' own chunks; the rest still restore.
  const GcReport gc = Gc();
  EXPECT_TRUE(gc.checkpoints_removed.empty());
  EXPECT_EQ(gc.chunks_deleted, 2 * retention_tests::kOwnChunks);
  EXPECT_EQ(gc.live_bytes, (1 + 3 * retention_tests::kOwnChunks) * retention_tests::kChunk);
  ExpectEverySurvivorRestores();
  EXPECT_TRUE(store_->Verify()->ok());
  EXPECT_EQ(Save(60).parent, 2u);
}

TEST_F(StoreRollbackTest, ASecondRollbackAbandonsOnlyTheOldHeadsLine) {
  SaveSteps(4);
  MustRollback(Selector::Id(2));
  Save(50);
  Save(60);  // 6 <- 5 <- 2 <- 1, with 3 and 4 left on their own branch
  const RollbackReport r = MustRollback(Selector::Id(1), /*discard=*/true);
  EXPECT_EQ(IdsOf(r.abandoned), (IdList{6, 5, 2}));
  EXPECT_EQ(IdsOf(r.discarded), (IdList{6, 5, 2}));
  EXPECT_EQ(Ids(), (IdList{1, 3, 4}));
  EXPECT_EQ(ParentOf(3), 1u);
  EXPECT_EQ(HeadId(), 1u);
  ExpectEverySurvivorRestores();
}

TEST_F(StoreRollbackTest, RollingForwardOrInPlaceAbandonsNothing) {
  SaveSteps(4);
  MustRollback(Selector::Id(2));
  RollbackReport r = MustRollback(Selector::Id(2), /*discard=*/true);
  EXPECT_EQ(r.head.id, 2u);
  EXPECT_TRUE(r.abandoned.empty());
  r = MustRollback(Selector::Id(4), /*discard=*/true);
  EXPECT_EQ(r.head.id, 4u);
  EXPECT_TRUE(r.abandoned.empty());
  EXPECT_TRUE(r.discarded.empty());
  EXPECT_EQ(Ids(), (IdList{1, 2, 3, 4}));
  EXPECT_EQ(Save(50).parent, 4u);
}

TEST_F(StoreRollbackTest, RollingSidewaysAbandonsOnlyWhatTheNewHeadDoesNotDescendFrom) {
  SaveSteps(4);
  MustRollback(Selector::Id(2));
  Save(50);  // 5 on 2; 3 and 4 on another branch
  const RollbackReport r = MustRollback(Selector::Id(4));
  EXPECT_EQ(r.head.id, 4u);
  EXPECT_EQ(IdsOf(r.abandoned), (IdList{5}));
  EXPECT_EQ(Save(60).parent, 4u);
  EXPECT_EQ(Branches(), (std::map<CheckpointId, uint32_t>{{1, 0}, {2, 0}, {3, 0}, {4, 0}, {5, 1}, {6, 0}}));
}

TEST_F(StoreRollbackTest, RemovingTheHeadMovesItToItsNearestSurvivingAncestor) {
  SaveSteps(4);
  MustRollback(Selector::Id(2));
  ASSERT_TRUE(store_->Remove(Selector::Id(2)).ok());
  EXPECT_EQ(HeadId(), 1u);  // not 4, the newest
  ASSERT_TRUE(store_->Remove(Selector::Id(1)).ok());
  EXPECT_EQ(HeadId(), 4u);  // no ancestor left: the newest remaining
  EXPECT_EQ(Save(50).parent, 4u);
}

TEST_F(StoreRollbackTest, AMissingSelectorIsNotFoundAndChangesNothing) {
  const auto a = Save(10, {{"loss", 1.0}}, {"t"});
  SaveSteps(2);
  MustRollback(Selector::Id(2));
  const auto before = List();
  const Selector missing[] = {Selector::Step(999), Selector::Id(99), Selector::Tag("nope"),
                              Selector::At(a.commit_time_ns - 1), Selector::Best("acc", true)};
  for (const Selector& which : missing) {
    for (bool discard : {false, true}) {
      SCOPED_TRACE(which.ToString() + (discard ? " with discard" : ""));
      auto r = store_->Rollback(which, discard);
      EXPECT_EQ(r.status().code(), Code::kNotFound) << r.status().ToString();
      EXPECT_EQ(HeadId(), 2u);
      const auto now = List();
      ASSERT_EQ(now.size(), before.size());
      for (size_t i = 0; i < now.size(); ++i) ExpectSameInfo(now[i], before[i]);
    }
  }
  EXPECT_EQ(Save(40).parent, 2u);
}

TEST_F(StoreRollbackTest, WithMaxToKeepTwoTheAbandonedBranchAgesOut) {
  RetentionPolicy p;
  p.max_to_keep = 2;
  SetPolicy(p);
  SaveSteps(4);
  ASSERT_EQ(Ids(), (IdList{3, 4}));
  const RollbackReport r = MustRollback(Selector::Id(3));
  EXPECT_EQ(IdsOf(r.abandoned), (IdList{4}));
  EXPECT_EQ(Ids(), (IdList{3, 4}));  // rollback itself rotates nothing
  // 5 on 3: the recent are 5 and 3, and 4 is newer than 3, so it stays.
  const auto e = Save(50);
  EXPECT_EQ(e.parent, 3u);
  EXPECT_EQ(Ids(), (IdList{3, 4, 5}));
  ExpectRestoresSaved(4);
  // 6 on 5: the recent are 6 and 5; 4 is older than 5 and goes, and so does 3.
  Save(60);
  EXPECT_EQ(Ids(), (IdList{5, 6}));
  EXPECT_EQ(ParentOf(5), std::nullopt);
  EXPECT_EQ(ParentOf(6), 5u);
  ExpectEverySurvivorRestores();
}

TEST_F(StoreRollbackTest, TheHeadSurvivesReopen) {
  SaveSteps(3);
  MustRollback(Selector::Id(1));
  Reopen();
  EXPECT_EQ(HeadId(), 1u);
  const auto d = Save(40);
  EXPECT_EQ(d.parent, 1u);
  Reopen();
  EXPECT_EQ(HeadId(), d.id);
  EXPECT_EQ(Branches(), (std::map<CheckpointId, uint32_t>{{1, 0}, {2, 1}, {3, 1}, {4, 0}}));
  ExpectEverySurvivorRestores();
}

}  // namespace
}  // namespace ckptdb

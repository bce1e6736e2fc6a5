// AssignBranches and Ancestry on hand-built histories: the current branch is 0, abandoned tips are
// numbered newest first, and a parent id that names nothing in the list ends a line.
#include "ckptdb/lineage.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <vector>

namespace ckptdb {
namespace {

using Branches = std::vector<uint32_t>;
using Ids = std::vector<CheckpointId>;
constexpr std::nullopt_t kRoot = std::nullopt;

// Checkpoints in id order (oldest first), one per (id, parent) pair.
std::vector<CheckpointInfo> Tree(std::initializer_list<std::pair<CheckpointId, std::optional<CheckpointId>>> edges) {
  std::vector<CheckpointInfo> v;
  for (const auto& [id, parent] : edges) {
    CheckpointInfo c;
    c.id = id;
    c.parent = parent;
    c.step = 10 * static_cast<int64_t>(id);
    c.commit_time_ns = 1'800'000'000'000'000'000 + static_cast<int64_t>(id) * 1'000'000'000;
    v.push_back(c);
  }
  return v;
}

TEST(AssignBranches, EmptyHistoryHasNoBranches) {
  EXPECT_TRUE(AssignBranches({}, std::nullopt).empty());
  EXPECT_TRUE(Ancestry({}, 1).empty());
}

TEST(AssignBranches, ALinearHistoryIsAllBranchZero) {
  const auto cks = Tree({{1, kRoot}, {2, 1}, {3, 2}, {4, 3}});
  EXPECT_EQ(AssignBranches(cks, 4), (Branches{0, 0, 0, 0}));
}

TEST(AssignBranches, AForkAfterRollbackPutsTheAbandonedTipOnBranchOne) {
  // 1 <- 2 <- 3 <- 4; rolled back to 2, then 5 saved on it.
  const auto cks = Tree({{1, kRoot}, {2, 1}, {3, 2}, {4, 3}, {5, 2}});
  EXPECT_EQ(AssignBranches(cks, 5), (Branches{0, 0, 1, 1, 0}));
}

TEST(AssignBranches, AbandonedTipsAreNumberedNewestTipFirst) {
  // 1 <- 2 <- 3; back to 1, 4 <- 5; back to 1, 6 (head).
  const auto cks = Tree({{1, kRoot}, {2, 1}, {3, 2}, {4, 1}, {5, 4}, {6, 1}});
  EXPECT_EQ(AssignBranches(cks, 6), (Branches{0, 2, 2, 1, 1, 0}));
}

TEST(AssignBranches, TipsNotForksDecideTheOrderAndEachTakesOnlyWhatIsLeft) {
  // Tips 4, 5 and 6 (head). 5's line (5 3 2) forked from 1 before 4's did, but 5 is the newer tip.
  const auto cks = Tree({{1, kRoot}, {2, 1}, {3, 2}, {4, 1}, {5, 3}, {6, 1}});
  EXPECT_EQ(AssignBranches(cks, 6), (Branches{0, 1, 1, 2, 1, 0}));
  // With a newer tip 7 on 2, 7 takes 2 and 5's branch keeps only what is left (5 3).
  auto more = Tree({{1, kRoot}, {2, 1}, {3, 2}, {4, 1}, {5, 3}, {6, 1}, {7, 2}});
  EXPECT_EQ(AssignBranches(more, 6), (Branches{0, 1, 2, 3, 2, 0, 1}));
}

TEST(AssignBranches, AHeadBehindItsTipLeavesItsDescendantsOnOtherBranches) {
  // Rolled back to 2 with nothing saved since.
  const auto linear = Tree({{1, kRoot}, {2, 1}, {3, 2}, {4, 3}});
  EXPECT_EQ(AssignBranches(linear, 2), (Branches{0, 0, 1, 1}));
  // 1 <- 2 <- 3 <- 4 and 2 <- 5 <- 6, then rolled back to 1: tip 6 is newest, so it takes 2.
  const auto forked = Tree({{1, kRoot}, {2, 1}, {3, 2}, {4, 3}, {5, 2}, {6, 5}});
  EXPECT_EQ(AssignBranches(forked, 1), (Branches{0, 1, 2, 2, 1, 1}));
}

TEST(AssignBranches, WithoutAHeadBranchesStartAtOne) {
  EXPECT_EQ(AssignBranches(Tree({{1, kRoot}, {2, 1}, {3, 2}}), std::nullopt), (Branches{1, 1, 1}));
  const auto cks = Tree({{1, kRoot}, {2, 1}, {3, 2}, {4, 1}, {5, 3}, {6, 1}});
  EXPECT_EQ(AssignBranches(cks, std::nullopt), (Branches{1, 2, 2, 3, 2, 1}));
}

TEST(AssignBranches, ADanglingParentEndsALine) {
  // 3's parent (99) is not in the list: its line is 4 3 only, and 1 2 form their own branch.
  const auto cks = Tree({{1, kRoot}, {2, 1}, {3, 99}, {4, 3}});
  EXPECT_EQ(AssignBranches(cks, 4), (Branches{1, 1, 0, 0}));
  // Two separate roots and no head: newest tip first.
  EXPECT_EQ(AssignBranches(cks, std::nullopt), (Branches{2, 2, 1, 1}));
  // A removed middle checkpoint (2) leaves 3 and 4 disconnected from 1.
  const auto gap = Tree({{1, kRoot}, {3, 2}, {4, 3}});
  EXPECT_EQ(AssignBranches(gap, 4), (Branches{1, 0, 0}));
}

TEST(Ancestry, FollowsParentsNearestFirst) {
  const auto cks = Tree({{1, kRoot}, {2, 1}, {3, 2}, {4, 1}, {5, 3}, {6, 1}});
  EXPECT_EQ(Ancestry(cks, 5), (Ids{5, 3, 2, 1}));
  EXPECT_EQ(Ancestry(cks, 6), (Ids{6, 1}));
  EXPECT_EQ(Ancestry(cks, 1), (Ids{1}));
}

TEST(Ancestry, WorksOnAnyOrder) {
  auto cks = Tree({{1, kRoot}, {2, 1}, {3, 2}, {4, 1}, {5, 3}, {6, 1}});
  std::reverse(cks.begin(), cks.end());
  std::swap(cks[1], cks[4]);
  EXPECT_EQ(Ancestry(cks, 5), (Ids{5, 3, 2, 1}));
  EXPECT_EQ(Ancestry(cks, 4), (Ids{4, 1}));
}

TEST(Ancestry, UnknownIdIsEmptyAndADanglingParentStops) {
  const auto cks = Tree({{1, kRoot}, {3, 2}, {4, 3}});
  EXPECT_TRUE(Ancestry(cks, 2).empty());
  EXPECT_TRUE(Ancestry(cks, 99).empty());
  EXPECT_EQ(Ancestry(cks, 4), (Ids{4, 3}));
}

}  // namespace
}  // namespace ckptdb

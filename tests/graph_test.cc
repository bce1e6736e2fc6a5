// The history graph renderer (tools/graph.h) on hand-built histories: exact drawings.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "tools/graph.h"

namespace ckptdb::cli {
namespace {

// Checkpoints from {id, parent} pairs (parent 0: none), oldest first.
std::vector<CheckpointInfo> History(const std::vector<std::pair<CheckpointId, CheckpointId>>& edges) {
  std::vector<CheckpointInfo> list;
  for (auto [id, parent] : edges) {
    CheckpointInfo c;
    c.id = id;
    c.step = static_cast<int64_t>(id) * 100;
    if (parent) c.parent = parent;
    list.push_back(c);
  }
  return list;
}

// The graph with each row's text "cN".
std::string Draw(const std::vector<CheckpointInfo>& list, std::optional<CheckpointId> head) {
  std::vector<std::string> text;
  for (const auto& c : list) text.push_back("c" + std::to_string(c.id));
  return RenderGraph(list, head, text);
}

TEST(GraphTest, LinearHistoryIsOneColumn) {
  EXPECT_EQ(Draw(History({{1, 0}, {2, 1}, {3, 2}}), 3),
            "*  c3\n"
            "*  c2\n"
            "*  c1\n");
}

TEST(GraphTest, EmptyHistoryDrawsNothing) { EXPECT_EQ(Draw({}, std::nullopt), ""); }

TEST(GraphTest, OneForkJoinsAtTheRollbackTarget) {
  // 3 and 4 were abandoned by a rollback to 2; 5 is the new head's line.
  EXPECT_EQ(Draw(History({{1, 0}, {2, 1}, {3, 2}, {4, 3}, {5, 2}}), 5),
            "*  c5\n"
            "| *  c4\n"
            "| *  c3\n"
            "|/\n"
            "*  c2\n"
            "*  c1\n");
}

TEST(GraphTest, TwoForksCrossAnActiveLane) {
  // 4 forks at 1 and 3 at 2: 3's line crosses 4's on its way to 2.
  EXPECT_EQ(Draw(History({{1, 0}, {2, 1}, {3, 2}, {4, 1}, {5, 2}}), 5),
            "*  c5\n"
            "| *  c4\n"
            "| | *  c3\n"
            "|_|/\n"
            "* |  c2\n"
            "|/\n"
            "*  c1\n");
}

TEST(GraphTest, SeveralLinesJoiningOneParentCloseRightmostFirst) {
  EXPECT_EQ(Draw(History({{1, 0}, {2, 1}, {3, 1}, {4, 1}}), 4),
            "*  c4\n"
            "| *  c3\n"
            "| | *  c2\n"
            "| |/\n"
            "|/\n"
            "*  c1\n");
}

TEST(GraphTest, HeadBelowItsChildrenKeepsLaneZeroBlankAboveIt) {
  // Rolled back to 3 without a new save: 4 and 5 still hang off the head.
  EXPECT_EQ(Draw(History({{1, 0}, {2, 1}, {3, 2}, {4, 3}, {5, 4}}), 3),
            "  *  c5\n"
            "  *  c4\n"
            " /\n"
            "*  c3\n"
            "*  c2\n"
            "*  c1\n");
}

TEST(GraphTest, CrossingIntoTheBlankHeadLane) {
  // The head 2 has a child line (3, 4) that must cross 5's line (waiting for 1) to reach lane 0.
  EXPECT_EQ(Draw(History({{1, 0}, {2, 1}, {3, 2}, {4, 3}, {5, 1}}), 2),
            "  *  c5\n"
            "  | *  c4\n"
            "  | *  c3\n"
            " _|/\n"
            "* |  c2\n"
            "|/\n"
            "*  c1\n");
}

TEST(GraphTest, ConnectorsBridgeFreeLanesWithUnderscores) {
  // 4's line (lane 2) still waits for 1 after 3's line (lane 1) has joined the head.
  EXPECT_EQ(Draw(History({{1, 0}, {2, 1}, {3, 2}, {4, 1}, {5, 3}}), 2),
            "  *  c5\n"
            "  | *  c4\n"
            "  * |  c3\n"
            " /  |\n"
            "*   |  c2\n"
            "|__/\n"
            "*  c1\n");
}

TEST(GraphTest, HeadWithTwoChildLinesJoinsThemOneByOne) {
  EXPECT_EQ(Draw(History({{1, 0}, {2, 1}, {3, 1}}), 1),
            "  *  c3\n"
            "  | *  c2\n"
            "  |/\n"
            " /\n"
            "*  c1\n");
}

TEST(GraphTest, OrphanRootsEndTheirLines) {
  // 3's parent 1 is not in the list; 5 has none. Lane 0 stays the head's, even after its line ends.
  EXPECT_EQ(Draw(History({{3, 1}, {4, 3}, {5, 0}, {6, 5}}), 6),
            "*  c6\n"
            "*  c5\n"
            "  *  c4\n"
            "  *  c3\n");
  // A parent that is not older than its child (a malformed list) ends the line too.
  EXPECT_EQ(Draw(History({{1, 2}, {2, 0}}), std::nullopt), "*  c2\n*  c1\n");
}

TEST(GraphTest, WithoutAHeadTipsStartInLaneZero) {
  EXPECT_EQ(Draw(History({{1, 0}, {2, 1}, {3, 1}}), std::nullopt),
            "*  c3\n"
            "| *  c2\n"
            "|/\n"
            "*  c1\n");
  // A head that is not in the list reserves nothing either.
  EXPECT_EQ(Draw(History({{1, 0}, {2, 1}}), 9), "*  c2\n*  c1\n");
}

TEST(GraphTest, FreedLaneIsReusedByTheNextTip) {
  // 4's line ends at 3, whose parent is gone; then 2 is a new tip and takes the free lane 1.
  EXPECT_EQ(Draw(History({{1, 0}, {2, 0}, {3, 7}, {4, 3}, {5, 1}}), 5),
            "*  c5\n"
            "| *  c4\n"
            "| *  c3\n"
            "| *  c2\n"
            "*  c1\n");
}

}  // namespace
}  // namespace ckptdb::cli

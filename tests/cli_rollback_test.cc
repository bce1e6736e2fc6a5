// ckptdb rollback and the branches it makes: forking history, discarding, log --json's branch and
// head, the log table's BRANCH column, and log --graph.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "ckptdb/ckptdb.h"
#include "tests/support/cli_output.h"
#include "tests/support/cli_runner.h"
#include "tests/support/test_support.h"
#include "tools/format.h"
#include "tools/json.h"
#include "tools/safetensors.h"

namespace ckptdb {
namespace {

using namespace cli_tests;

class CliRollbackTest : public ::testing::Test {
 protected:
  // Checkpoints 1..4 at steps 100..400 in one line; 1 is tagged "first", 3 has a loss.
  void SetUp() override {
    store_ = dir_.Join("store");
    Import(100, {"--tag", "first"});
    Import(200);
    Import(300, {"--metric", "loss=0.5"});
    Import(400);
  }

  void Import(int step, std::vector<std::string> extra = {}) {
    const int64_t v = step;
    const std::string file = dir_.Join("s" + std::to_string(step) + ".safetensors");
    ASSERT_TRUE(WriteSafetensors(file, {{"v", DType::kI64, {}, &v, 8}}, {}).ok());
    std::vector<std::string> args = {"import", store_, "--step", std::to_string(step)};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(file);
    CliRun r = Cli(args);
    ASSERT_EQ(r.code, 0) << r.err;
  }

  CliRun Rollback(std::vector<std::string> flags) {
    flags.insert(flags.begin(), {"rollback", store_});
    return Cli(flags);
  }

  // log --json as "id:parent:branch" per checkpoint (parent "-" for none), and the ids marked head.
  struct Logged {
    std::vector<std::string> rows;
    std::vector<uint64_t> heads;
  };
  Logged Log() {
    Logged l;
    CliRun r = Cli({"log", store_, "--json"});
    EXPECT_EQ(r.code, 0) << r.err;
    const json::Value log = ParseJson(r.out);
    for (const json::Value& c : log.as_array()) {
      const json::Value* parent = c.find("parent");
      l.rows.push_back(std::to_string(c.find("id")->as_uint64()) + ":" +
                       (parent->is_null() ? "-" : std::to_string(parent->as_uint64())) + ":" +
                       std::to_string(c.find("branch")->as_uint64()));
      EXPECT_TRUE(c.find("head")->is_bool());
      if (c.find("head")->as_bool()) l.heads.push_back(c.find("id")->as_uint64());
    }
    return l;
  }

  std::vector<CheckpointInfo> List() {
    auto s = Store::Open(store_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    auto list = (*s)->List();
    EXPECT_TRUE(list.ok());
    return list.ok() ? *list : std::vector<CheckpointInfo>{};
  }

  testing::ScratchDir dir_;
  std::string store_;
};

TEST_F(CliRollbackTest, RollbackThenImportForksHistory) {
  Logged before = Log();
  EXPECT_EQ(before.rows, (std::vector<std::string>{"1:-:0", "2:1:0", "3:2:0", "4:3:0"}));
  EXPECT_EQ(before.heads, (std::vector<uint64_t>{4}));

  CliRun r = Rollback({"--step", "200"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out, "head is now checkpoint 2 (step 200); 2 checkpoints abandoned on their own branch: 4, 3\n");
  Logged rolled = Log();
  EXPECT_EQ(rolled.rows, (std::vector<std::string>{"1:-:0", "2:1:0", "3:2:1", "4:3:1"}));
  EXPECT_EQ(rolled.heads, (std::vector<uint64_t>{2}));

  Import(300);
  Logged forked = Log();
  // The new checkpoint's parent is the rollback target; the abandoned line keeps its own branch.
  EXPECT_EQ(forked.rows, (std::vector<std::string>{"1:-:0", "2:1:0", "3:2:1", "4:3:1", "5:2:0"}));
  EXPECT_EQ(forked.heads, (std::vector<uint64_t>{5}));
  // Abandoned checkpoints stay readable.
  EXPECT_EQ(Cli({"show", store_, "--id", "4"}).code, 0);
  EXPECT_EQ(Cli({"verify", store_}).code, 0);
}

TEST_F(CliRollbackTest, RollingForwardAbandonsNothing) {
  ASSERT_EQ(Rollback({"--step", "200"}).code, 0);
  CliRun r = Rollback({"--id", "4"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "head is now checkpoint 4 (step 400)\n");
  Logged l = Log();
  EXPECT_EQ(l.rows, (std::vector<std::string>{"1:-:0", "2:1:0", "3:2:0", "4:3:0"}));
  EXPECT_EQ(l.heads, (std::vector<uint64_t>{4}));
}

TEST_F(CliRollbackTest, DiscardDeletesTheUntaggedAbandonedOnes) {
  ASSERT_EQ(Cli({"tag", store_, "--step", "400", "keep"}).code, 0);
  CliRun r = Rollback({"--tag", "first", "--discard"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "head is now checkpoint 1 (step 100); discarded 2 checkpoints: 3, 2 (run `ckptdb gc` to reclaim the "
            "space); kept 1 tagged checkpoint on its own branch: 4\n");
  Logged l = Log();
  // 4 survives, re-pointed to its nearest surviving ancestor, on a branch of its own.
  EXPECT_EQ(l.rows, (std::vector<std::string>{"1:-:0", "4:1:1"}));
  EXPECT_EQ(l.heads, (std::vector<uint64_t>{1}));
  ExpectError(Cli({"show", store_, "--id", "2"}), 1, {"id 2"});
  EXPECT_EQ(Cli({"verify", store_}).code, 0);
}

TEST_F(CliRollbackTest, JsonListsAbandonedAndDiscardedIds) {
  CliRun r = Rollback({"--step", "300", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::ToJson(ParseJson(r.out)), R"({"head":{"id":3,"step":300},"abandoned":[4],"discarded":[]})");
  r = Rollback({"--id", "1", "--discard", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  // From head 3 the old line is 3 and 2 (4 was already off it); all untagged, all discarded.
  EXPECT_EQ(json::ToJson(ParseJson(r.out)), R"({"head":{"id":1,"step":100},"abandoned":[3,2],"discarded":[3,2]})");
  EXPECT_EQ(Log().rows, (std::vector<std::string>{"1:-:0", "4:1:1"}));
}

TEST_F(CliRollbackTest, FailuresChangeNothing) {
  const std::string before = Snapshot(store_);
  ExpectError(Rollback({"--step", "999"}), 1, {"step 999"});
  ExpectError(Rollback({"--step", "999", "--discard"}), 1, {"step 999"});
  ExpectError(Rollback({"--tag", "nope"}), 1, {"'nope'"});
  ExpectError(Rollback({}), 2, {"--step"});
  ExpectError(Rollback({"--step", "1", "--id", "1"}), 2, {"exactly one"});
  ExpectError(Rollback({"--latest", "--hard"}), 2, {"--hard"});
  ExpectError(Rollback({"--step", "x"}), 2, {"--step"});
  ExpectError(Cli({"rollback", "--latest"}), 2, {"STORE"});
  EXPECT_EQ(Snapshot(store_), before);
  const std::string absent = dir_.Join("absent");
  ExpectError(Cli({"rollback", absent, "--latest"}), 1, {absent});
  EXPECT_FALSE(std::filesystem::exists(absent));
}

TEST_F(CliRollbackTest, LogGraphDrawsTheFork) {
  ASSERT_EQ(Rollback({"--step", "200"}).code, 0);
  Import(300, {"--tag", "retry", "--metric", "loss=0.25"});
  const std::vector<CheckpointInfo> list = List();
  ASSERT_EQ(list.size(), 5u);
  const auto when = [&](int id) { return "  " + cli::ShortTime(list[id - 1].commit_time_ns) + "  8 B"; };
  CliRun r = Cli({"log", store_, "--graph"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const std::vector<std::string> want = {
      "*  5 (head)  step 300" + when(5) + "  tags: retry  loss=0.25",
      "| *  4  step 400" + when(4),
      "| *  3  step 300" + when(3) + "  loss=0.5",
      "|/",
      "*  2  step 200" + when(2),
      "*  1  step 100" + when(1) + "  tags: first",
  };
  const std::vector<std::string> got = Lines(r.out);
  ASSERT_EQ(got.size(), want.size()) << r.out;
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(got[i], want[i]) << "line " << i;

  ExpectError(Cli({"log", store_, "--graph", "--json"}), 2, {"--graph"});
}

TEST_F(CliRollbackTest, LogTableShowsBranchesOnceHistoryForks) {
  // Linear: the table is as it always was.
  std::vector<std::string> lines = Lines(Cli({"log", store_}).out);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0].find("BRANCH"), std::string::npos) << lines[0];
  ASSERT_EQ(Rollback({"--step", "200"}).code, 0);
  lines = Lines(Cli({"log", store_}).out);
  ASSERT_EQ(lines.size(), 5u);
  const size_t col = lines[0].find("BRANCH");
  ASSERT_NE(col, std::string::npos) << lines[0];
  const std::vector<std::string> cells = {"0", "0 (head)", "1", "1"};
  for (size_t i = 0; i < cells.size(); ++i) {
    SCOPED_TRACE(lines[i + 1]);
    EXPECT_EQ(lines[i + 1].compare(col, cells[i].size() + 2, cells[i] + "  "), 0);
  }
}

}  // namespace
}  // namespace ckptdb

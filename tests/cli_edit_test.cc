// The CLI's history edits: tag, untag and rm, their output, and bad input leaving the store as it was.
#include <gtest/gtest.h>

#include <algorithm>

#include "ckptdb/ckptdb.h"
#include "tests/support/cli_runner.h"
#include "tests/support/test_support.h"
#include "tools/json.h"
#include "tools/safetensors.h"

namespace ckptdb {
namespace {

using cli_tests::Cli;
using Ran = cli_tests::CliRun;

class CliEditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = dir_.Join("store");
    for (int step : {10, 20, 30}) {
      const int64_t v = step;
      // Appended rather than "s" + to_string(...): GCC 12 -O2 flags that with a false -Wrestrict.
      std::string file = dir_.Join("s");
      file += std::to_string(step);
      file += ".safetensors";
      ASSERT_TRUE(WriteSafetensors(file, {{"v", DType::kI64, {}, &v, 8}}, {}).ok());
      ASSERT_EQ(Cli({"import", store_, "--step", std::to_string(step), file}).code, 0);
    }
  }
  std::string Log() { return Cli({"log", store_, "--json"}).out; }
  void ExpectOneLineError(const Ran& r, int code, const std::string& mentions) {
    EXPECT_EQ(r.code, code) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.err.rfind("ckptdb: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(mentions), std::string::npos) << r.err;
  }

  testing::ScratchDir dir_;
  std::string store_;
};

TEST_F(CliEditTest, TagShowsInLogAndSelects) {
  Ran r = Cli({"tag", store_, "--step", "20", "best"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "tagged checkpoint 2 (step 20) 'best'\n");
  auto log = json::Parse(Log());
  EXPECT_EQ(log->as_array()[1].find("tags")->as_array()[0].as_string(), "best");
  EXPECT_EQ(json::Parse(Cli({"show", store_, "--tag", "best", "--json"}).out)->find("id")->as_uint64(), 2u);
}

TEST_F(CliEditTest, UntagFreesTheName) {
  ASSERT_EQ(Cli({"tag", store_, "--id", "1", "x"}).code, 0);
  Ran r = Cli({"untag", store_, "x"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "removed tag 'x'\n");
  EXPECT_EQ(Cli({"tag", store_, "--id", "3", "x"}).code, 0);
}

TEST_F(CliEditTest, RmDeletesOneCheckpoint) {
  Ran r = Cli({"rm", store_, "--step", "20"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "removed checkpoint 2 (step 20), 8 B\n");
  auto log = json::Parse(Log());
  ASSERT_EQ(log->as_array().size(), 2u);
  EXPECT_EQ(log->as_array()[0].find("id")->as_uint64(), 1u);
  EXPECT_EQ(log->as_array()[1].find("id")->as_uint64(), 3u);
  EXPECT_EQ(Cli({"verify", store_}).code, 0);
}

TEST_F(CliEditTest, FailuresNameTheProblemAndChangeNothing) {
  ASSERT_EQ(Cli({"tag", store_, "--id", "1", "taken"}).code, 0);
  const std::string before = Log();
  ExpectOneLineError(Cli({"tag", store_, "--id", "2", "taken"}), 1, "'taken' already names checkpoint 1");
  ExpectOneLineError(Cli({"tag", store_, "--step", "99", "t"}), 1, "step 99");
  ExpectOneLineError(Cli({"untag", store_, "nope"}), 1, "'nope'");
  ExpectOneLineError(Cli({"rm", store_, "--step", "99"}), 1, "step 99");
  ExpectOneLineError(Cli({"rm", dir_.Join("absent"), "--latest"}), 1, "absent");
  EXPECT_FALSE(std::filesystem::exists(dir_.Join("absent")));
  EXPECT_EQ(Log(), before);
}

TEST_F(CliEditTest, BadCommandLinesAreUsageErrors) {
  const std::string before = Log();
  ExpectOneLineError(Cli({"tag", store_, "name"}), 2, "tag");                         // no checkpoint
  ExpectOneLineError(Cli({"tag", store_, "--latest"}), 2, "NAME");                    // no name
  ExpectOneLineError(Cli({"tag", store_, "--latest", ""}), 2, "NAME");
  ExpectOneLineError(Cli({"untag", store_}), 2, "NAME");
  ExpectOneLineError(Cli({"rm", store_}), 2, "--step");                               // no checkpoint
  ExpectOneLineError(Cli({"rm", store_, "--step", "1", "--id", "1"}), 2, "exactly one");
  ExpectOneLineError(Cli({"rm", store_, "--latest", "--force"}), 2, "--force");
  EXPECT_EQ(Log(), before);
}

TEST_F(CliEditTest, GcAfterRmReportsTheReclaimedBytes) {
  // A big tensor only checkpoint 4 holds, so removing it frees a whole pack.
  std::vector<uint8_t> big = testing::RandomBytes(42, 4 << 20);
  const std::string file = dir_.Join("big.safetensors");
  ASSERT_TRUE(WriteSafetensors(file, {{"big", DType::kU8, {int64_t(big.size())}, big.data(), big.size()}}, {}).ok());
  ASSERT_EQ(Cli({"import", store_, "--step", "40", file}).code, 0);
  Ran nothing = Cli({"gc", store_, "--json"});
  ASSERT_EQ(nothing.code, 0) << nothing.err;
  EXPECT_EQ(json::Parse(nothing.out)->find("reclaimed_bytes")->as_uint64(), 0u);
  ASSERT_EQ(Cli({"rm", store_, "--step", "40"}).code, 0);
  Ran r = Cli({"gc", store_, "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto v = json::Parse(r.out);
  ASSERT_TRUE(v.ok()) << r.out;
  EXPECT_EQ(v->find("reclaimed_bytes")->as_uint64(), big.size());
  EXPECT_EQ(v->find("chunks_deleted")->as_uint64(), 1u);
  EXPECT_EQ(Cli({"verify", store_}).code, 0);
  Ran human = Cli({"gc", store_});
  EXPECT_EQ(human.code, 0);
  EXPECT_EQ(human.out.rfind("reclaimed 0 B: ", 0), 0u) << human.out;
}

TEST_F(CliEditTest, GcBadInput) {
  ExpectOneLineError(Cli({"gc", dir_.Join("absent")}), 1, "absent");
  ExpectOneLineError(Cli({"gc", store_, "--now"}), 2, "--now");
  ExpectOneLineError(Cli({"gc"}), 2, "STORE");
}

}  // namespace
}  // namespace ckptdb

// The CLI's checkpoint selectors: --tag, --at and --best on show and export, and their bad values.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <regex>
#include <sstream>
#include <tuple>

#include "ckptdb/ckptdb.h"
#include "tests/support/cli_runner.h"
#include "tests/support/test_support.h"
#include "tools/cli.h"
#include "tools/json.h"
#include "tools/safetensors.h"

namespace ckptdb {
namespace {

using cli_tests::Cli;
using Ran = cli_tests::CliRun;

class CliSelectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = dir_.Join("store");
    // Three checkpoints of one F32 tensor whose value is the step, with a loss metric and tags.
    const std::vector<std::tuple<int, double, std::vector<std::string>>> rows = {
        {10, 0.8, {"--tag", "first"}}, {20, 0.2, {}}, {30, 0.5, {"--tag", "last"}}};
    for (const auto& [step, loss, tags] : rows) {
      const float value = static_cast<float>(step);
      const std::string file = dir_.Join("s" + std::to_string(step) + ".safetensors");
      ASSERT_TRUE(WriteSafetensors(file, {{"v", DType::kF32, {}, &value, 4}}, {}).ok());
      std::vector<std::string> args = {"import", store_, "--step", std::to_string(step),
                                       "--metric", "loss=" + std::to_string(loss)};
      args.insert(args.end(), tags.begin(), tags.end());
      args.push_back(file);
      ASSERT_EQ(Cli(args).code, 0);
    }
  }

  // The step of the checkpoint `show --json` picks with `flags`.
  int64_t ShownStep(const std::vector<std::string>& flags) {
    std::vector<std::string> args = {"show", store_, "--json"};
    args.insert(args.end(), flags.begin(), flags.end());
    Ran r = Cli(args);
    EXPECT_EQ(r.code, 0) << r.err;
    auto v = json::Parse(r.out);
    return v.ok() && v->find("step") ? v->find("step")->as_int64() : -1;
  }

  std::string Time(int index) {
    auto v = json::Parse(Cli({"log", store_, "--json"}).out);
    return v->as_array()[index].find("time")->as_string();
  }

  testing::ScratchDir dir_;
  std::string store_;
};

TEST_F(CliSelectTest, TagPicksTheTaggedCheckpoint) {
  EXPECT_EQ(ShownStep({"--tag", "first"}), 10);
  EXPECT_EQ(ShownStep({"--tag", "last"}), 30);
}

TEST_F(CliSelectTest, HeadFollowsARollbackWhereLatestDoesNot) {
  EXPECT_EQ(ShownStep({"--head"}), 30);
  ASSERT_EQ(Cli({"rollback", store_, "--step", "20"}).code, 0);
  EXPECT_EQ(ShownStep({"--head"}), 20);
  EXPECT_EQ(ShownStep({"--latest"}), 30);
  Ran both = Cli({"show", store_, "--head", "--latest"});
  EXPECT_EQ(both.code, 2);
  EXPECT_NE(both.err.find("--head"), std::string::npos) << both.err;
}

TEST_F(CliSelectTest, BestPicksByMetricDirection) {
  EXPECT_EQ(ShownStep({"--best", "loss:min"}), 20);
  EXPECT_EQ(ShownStep({"--best", "loss:max"}), 10);
}

TEST_F(CliSelectTest, AtAcceptsTheTimesTheLogPrints) {
  // log prints every nanosecond, so a time copied from it selects that very checkpoint.
  EXPECT_EQ(ShownStep({"--at", Time(1)}), 20);
  EXPECT_EQ(ShownStep({"--at", "2999-01-01T00:00:00Z"}), 30);
}

// The log table prints "2026-12-01 19:57:53" (UTC, the fraction cut): copied into --at it selects
// the row's checkpoint, though that was committed some nanoseconds into the second shown.
TEST_F(CliSelectTest, AtAcceptsTheTimeTheLogTablePrints) {
  Ran log = Cli({"log", store_});
  ASSERT_EQ(log.code, 0) << log.err;
  std::smatch last;
  const std::regex kTableTime(R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)");
  for (auto it = std::sregex_iterator(log.out.begin(), log.out.end(), kTableTime); it != std::sregex_iterator(); ++it)
    last = *it;
  ASSERT_FALSE(last.empty()) << log.out;
  EXPECT_EQ(ShownStep({"--at", last.str()}), 30) << last.str();
}

TEST_F(CliSelectTest, AtBeforeTheFirstCheckpointFailsNamingTheTime) {
  Ran r = Cli({"show", store_, "--at", "2000-01-01T00:00:00Z"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("no checkpoint at time"), std::string::npos) << r.err;
  // The time as RFC 3339, as it was given, never raw nanoseconds.
  EXPECT_NE(r.err.find("no checkpoint at time 2000-01-01T00:00:00Z"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(" ns"), std::string::npos) << r.err;
}

TEST_F(CliSelectTest, ExportFollowsTheSelector) {
  const std::string out = dir_.Join("best.safetensors");
  ASSERT_EQ(Cli({"export", store_, "--best", "loss:min", "-o", out}).code, 0);
  auto f = SafetensorsFile::Open(out);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  float v = 0;
  std::memcpy(&v, f->data(f->tensors()[0]), 4);
  EXPECT_EQ(v, 20.0f);
}

TEST_F(CliSelectTest, MalformedSelectorValuesAreUsageErrors) {
  for (const std::vector<std::string>& flags :
       {std::vector<std::string>{"--best", "loss"}, {"--best", "loss:median"}, {"--best", ":min"},
        {"--at", "yesterday"}, {"--at", "2026-11-23T01:00:00"}, {"--tag", ""},
        {"--tag", "first", "--latest"}, {"--at", "1", "--best", "loss:min"}}) {
    std::vector<std::string> args = {"show", store_};
    args.insert(args.end(), flags.begin(), flags.end());
    Ran r = Cli(args);
    EXPECT_EQ(r.code, 2) << flags[0] << " " << flags[1] << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.err.rfind("ckptdb: error: ", 0), 0u) << r.err;
  }
}

TEST_F(CliSelectTest, UnknownTagOrMetricFailsNamingIt) {
  Ran r = Cli({"show", store_, "--tag", "nope"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("'nope'"), std::string::npos) << r.err;
  r = Cli({"show", store_, "--best", "accuracy:max"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("accuracy"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ckptdb

// ckptdb policy: showing, changing and clearing the retention policy; what it would remove; bad
// values leaving the stored policy as it was; rotation by import and gc.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "ckptdb/ckptdb.h"
#include "tests/support/cli_output.h"
#include "tests/support/cli_runner.h"
#include "tests/support/test_support.h"
#include "tools/json.h"
#include "tools/safetensors.h"

namespace ckptdb {
namespace {

using namespace cli_tests;

// A policy as one comparable, printable line.
std::string Text(const RetentionPolicy& p) {
  std::string s = "max_to_keep=" + std::to_string(p.max_to_keep) + " keep_every_steps=" +
                  std::to_string(p.keep_every_steps) + " keep_every_hours=" + std::to_string(p.keep_every_hours);
  if (p.keep_best)
    s += " keep_best=" + p.keep_best->metric + (p.keep_best->maximize ? ":max:" : ":min:") +
         std::to_string(p.keep_best->count);
  return s;
}

class CliPolicyTest : public ::testing::Test {
 protected:
  // Six checkpoints, steps 100..600; loss is lowest at step 200.
  void SetUp() override {
    store_ = dir_.Join("store");
    const std::vector<std::pair<int, std::string>> rows = {{100, "0.9"}, {200, "0.1"}, {300, "0.8"},
                                                           {400, "0.7"}, {500, "0.6"}, {600, "0.5"}};
    for (const auto& [step, loss] : rows) Import(step, {"--metric", "loss=" + loss});
  }

  // Returns the import's standard output.
  std::string Import(int step, std::vector<std::string> extra = {}) {
    const int64_t v = step;
    const std::string file = dir_.Join("s" + std::to_string(step) + ".safetensors");
    EXPECT_TRUE(WriteSafetensors(file, {{"v", DType::kI64, {}, &v, 8}}, {}).ok());
    std::vector<std::string> args = {"import", store_, "--step", std::to_string(step)};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(file);
    CliRun r = Cli(args);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    return r.out;
  }

  // The policy as the library reads it back from a freshly opened store.
  std::string Stored() {
    auto s = Store::Open(store_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    if (!s.ok()) return "<no store>";
    auto p = (*s)->GetRetention();
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? Text(*p) : "<no policy>";
  }

  std::vector<uint64_t> LoggedIds() {
    std::vector<uint64_t> ids;
    const json::Value log = ParseJson(Cli({"log", store_, "--json"}).out);
    for (const json::Value& c : log.as_array())
      ids.push_back(c.find("id")->as_uint64());
    return ids;
  }

  CliRun Policy(std::vector<std::string> flags) {
    flags.insert(flags.begin(), {"policy", store_});
    return Cli(flags);
  }

  testing::ScratchDir dir_;
  std::string store_;
};

TEST_F(CliPolicyTest, ANewStoreKeepsEverything) {
  CliRun r = Policy({});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out,
            "max_to_keep off\n"
            "keep_every_steps off\n"
            "keep_every_hours off\n"
            "keep_best off\n"
            "removes nothing now (6 checkpoints kept)\n");
  EXPECT_EQ(Stored(), Text(RetentionPolicy{}));
}

TEST_F(CliPolicyTest, SetShowsThePolicyAndWhatItWouldRemove) {
  CliRun r = Policy({"--max-to-keep", "2", "--keep-every-steps", "300", "--keep-every-hours", "1.5", "--keep-best",
                     "loss:min"});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string shown =
      "max_to_keep 2\n"
      "keep_every_steps 300\n"
      "keep_every_hours 1.5\n"
      "keep_best loss:min:1\n"
      "would remove at next gc: 1 checkpoint (id 4)\n";
  EXPECT_EQ(r.out, shown);
  RetentionPolicy want;
  want.max_to_keep = 2;
  want.keep_every_steps = 300;
  want.keep_every_hours = 1.5;
  want.keep_best = KeepBest{"loss", false, 1};
  EXPECT_EQ(Stored(), Text(want));  // durable: a reopened store reads it back
  EXPECT_EQ(Policy({}).out, shown);
  EXPECT_EQ(LoggedIds(), (std::vector<uint64_t>{1, 2, 3, 4, 5, 6}));  // setting a policy removes nothing
}

TEST_F(CliPolicyTest, JsonNamesEveryRuleAndWhyEachCheckpointStays) {
  ASSERT_EQ(Policy({"--max-to-keep", "2", "--keep-every-steps", "300", "--keep-every-hours", "1.5", "--keep-best",
                    "loss:min:1"})
                .code,
            0);
  CliRun r = Policy({"--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const json::Value v = ParseJson(r.out);
  EXPECT_EQ(Keys(v), (std::vector<std::string>{"max_to_keep", "keep_every_steps", "keep_every_hours", "keep_best",
                                                "checkpoints"}));
  EXPECT_EQ(v.find("max_to_keep")->as_uint64(), 2u);
  EXPECT_EQ(v.find("keep_every_steps")->as_uint64(), 300u);
  EXPECT_EQ(v.find("keep_every_hours")->as_double(), 1.5);
  EXPECT_EQ(json::ToJson(*v.find("keep_best")), R"({"metric":"loss","mode":"min","count":1})");
  // One entry per checkpoint, oldest first, with every reason that keeps it.
  const std::vector<std::pair<bool, std::string>> want = {
      {true, R"(["step_milestone","hour_milestone"])"},  // 1: earliest in [0,300); the oldest
      {true, R"(["best"])"},                             // 2: lowest loss
      {true, R"(["step_milestone"])"},                   // 3: earliest in [300,600)
      {false, "[]"},                                     // 4
      {true, R"(["recent"])"},                           // 5
      {true, R"(["head","recent","step_milestone"])"},   // 6: earliest in [600,900)
  };
  const auto& cps = v.find("checkpoints")->as_array();
  ASSERT_EQ(cps.size(), want.size()) << r.out;
  for (size_t i = 0; i < cps.size(); ++i) {
    SCOPED_TRACE("checkpoint " + std::to_string(i + 1));
    EXPECT_EQ(Keys(cps[i]), (std::vector<std::string>{"id", "step", "keep", "reasons"}));
    EXPECT_EQ(cps[i].find("id")->as_uint64(), i + 1);
    EXPECT_EQ(cps[i].find("step")->as_int64(), int64_t(i + 1) * 100);
    EXPECT_EQ(cps[i].find("keep")->as_bool(), want[i].first);
    EXPECT_EQ(json::ToJson(*cps[i].find("reasons")), want[i].second);
  }
  // With no limit every checkpoint stays because of it.
  ASSERT_EQ(Policy({"--max-to-keep", "none"}).code, 0);
  const json::Value unlimited = ParseJson(Policy({"--json"}).out);
  EXPECT_EQ(unlimited.find("max_to_keep")->as_uint64(), 0u);
  for (const json::Value& c : unlimited.find("checkpoints")->as_array()) {
    EXPECT_TRUE(c.find("keep")->as_bool());
    const std::string reasons = json::ToJson(*c.find("reasons"));
    EXPECT_NE(reasons.find("\"no_limit\""), std::string::npos) << reasons;
  }
}

TEST_F(CliPolicyTest, FlagsChangeOnlyTheFieldsTheyNameAndNoneClears) {
  ASSERT_EQ(Policy({"--max-to-keep", "3", "--keep-every-steps", "200", "--keep-best", "acc:max:2"}).code, 0);
  CliRun r = Policy({"--keep-every-hours", "24", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const json::Value v = ParseJson(r.out);
  EXPECT_EQ(v.find("max_to_keep")->as_uint64(), 3u);
  EXPECT_EQ(v.find("keep_every_steps")->as_uint64(), 200u);
  EXPECT_EQ(v.find("keep_every_hours")->as_double(), 24.0);
  EXPECT_EQ(json::ToJson(*v.find("keep_best")), R"({"metric":"acc","mode":"max","count":2})");

  ASSERT_EQ(Policy({"--keep-every-steps", "none", "--keep-best", "none"}).code, 0);
  RetentionPolicy want;
  want.max_to_keep = 3;
  want.keep_every_hours = 24;
  EXPECT_EQ(Stored(), Text(want));
  ASSERT_EQ(Policy({"--max-to-keep", "none", "--keep-every-hours", "none"}).code, 0);
  EXPECT_EQ(Stored(), Text(RetentionPolicy{}));
  EXPECT_TRUE(ParseJson(Policy({"--json"}).out).find("keep_best")->is_null());
}

TEST_F(CliPolicyTest, MetricNamesMayContainColons) {
  ASSERT_EQ(Policy({"--keep-best", "val:loss:min:3"}).code, 0);
  RetentionPolicy want;
  want.keep_best = KeepBest{"val:loss", false, 3};
  EXPECT_EQ(Stored(), Text(want));
  EXPECT_NE(Policy({}).out.find("keep_best val:loss:min:3\n"), std::string::npos);
}

TEST_F(CliPolicyTest, BadValuesAreUsageErrorsAndStoreNothing) {
  ASSERT_EQ(Policy({"--max-to-keep", "4", "--keep-best", "loss:min"}).code, 0);
  const std::string before = Stored();
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--max-to-keep", "0"}, "--max-to-keep none"},
      {{"--max-to-keep", "-1"}, "--max-to-keep"},
      {{"--max-to-keep", "many"}, "--max-to-keep"},
      {{"--max-to-keep", ""}, "--max-to-keep"},
      {{"--keep-every-steps", "-100"}, "--keep-every-steps"},
      {{"--keep-every-steps", "1.5"}, "--keep-every-steps"},
      {{"--keep-every-hours", "-1"}, "--keep-every-hours"},
      {{"--keep-every-hours", "nan"}, "--keep-every-hours"},
      {{"--keep-every-hours", "inf"}, "--keep-every-hours"},
      {{"--keep-every-hours", "2e6"}, "--keep-every-hours"},
      {{"--keep-every-hours", "daily"}, "--keep-every-hours"},
      {{"--keep-best", "loss"}, "--keep-best"},
      {{"--keep-best", "loss:median"}, "--keep-best"},
      {{"--keep-best", ":min"}, "--keep-best"},
      {{"--keep-best", "loss:min:0"}, "--keep-best"},
      {{"--keep-best", "loss:max:-2"}, "--keep-best"},
      {{"--keep-best", "loss:max:x"}, "--keep-best"},
      {{"--keep-best", ""}, "--keep-best"},
      {{"--keep-last", "3"}, "--keep-last"},
      {{"--max-to-keep", "2", "--max-to-keep", "3"}, "--max-to-keep"},
      // A good value beside a bad one is not stored either.
      {{"--max-to-keep", "9", "--keep-best", "loss:sideways"}, "--keep-best"},
  };
  for (const auto& [flags, names] : cases) {
    SCOPED_TRACE(Describe(flags));
    ExpectError(Policy(flags), 2, {names});
    EXPECT_EQ(Stored(), before);
  }
  ExpectError(Cli({"policy"}), 2, {"STORE"});
  ExpectError(Cli({"policy", store_, store_}), 2, {"STORE"});
}

TEST_F(CliPolicyTest, MissingStoreFailsWithoutCreatingIt) {
  const std::string absent = dir_.Join("absent");
  ExpectError(Cli({"policy", absent, "--max-to-keep", "3"}), 1, {absent});
  EXPECT_FALSE(std::filesystem::exists(absent));
}

TEST_F(CliPolicyTest, ImportRotatesToTheKeptCheckpoints) {
  ASSERT_EQ(Policy({"--max-to-keep", "2"}).code, 0);
  // The import names what its own commit rotated away.
  EXPECT_EQ(Lines(Import(700))[1], "retention policy removed checkpoints: 1, 2, 3, 4, 5");
  EXPECT_EQ(LoggedIds(), (std::vector<uint64_t>{6, 7}));
  EXPECT_EQ(Lines(Import(800, {"--tag", "keep-me"}))[1], "retention policy removed checkpoints: 6");
  EXPECT_EQ(Lines(Import(900))[1], "retention policy removed checkpoints: 7");
  EXPECT_EQ(LoggedIds(), (std::vector<uint64_t>{8, 9}));
  EXPECT_EQ(Lines(Import(1000)).size(), 1u);  // nothing removed, nothing said
  EXPECT_EQ(LoggedIds(), (std::vector<uint64_t>{8, 9, 10}));  // a tagged checkpoint is never rotated away
  // The survivors' lineage stays whole: each parent names a checkpoint the store holds.
  const json::Value log = ParseJson(Cli({"log", store_, "--json"}).out);
  EXPECT_TRUE(log.as_array()[0].find("parent")->is_null());
  EXPECT_EQ(log.as_array()[1].find("parent")->as_uint64(), 8u);
  EXPECT_EQ(log.as_array()[2].find("parent")->as_uint64(), 9u);
  EXPECT_EQ(Cli({"verify", store_}).code, 0);
}

TEST_F(CliPolicyTest, GcAppliesThePolicyAndReportsWhatItRemoved) {
  ASSERT_EQ(Policy({"--max-to-keep", "3"}).code, 0);
  CliRun r = Cli({"gc", store_, "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const json::Value v = ParseJson(r.out);
  EXPECT_EQ(Keys(v), (std::vector<std::string>{"reclaimed_bytes", "chunks_deleted", "packs_deleted",
                                                "packs_rewritten", "live_bytes", "checkpoints_removed"}));
  EXPECT_EQ(json::ToJson(*v.find("checkpoints_removed")), "[1,2,3]");
  EXPECT_EQ(LoggedIds(), (std::vector<uint64_t>{4, 5, 6}));

  ASSERT_EQ(Policy({"--max-to-keep", "2"}).code, 0);
  r = Cli({"gc", store_});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  EXPECT_EQ(lines[0].rfind("reclaimed ", 0), 0u) << r.out;
  EXPECT_EQ(lines[1], "1 checkpoint removed by the retention policy: 4");

  r = Cli({"gc", store_, "--json"});  // nothing left to rotate
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::ToJson(*ParseJson(r.out).find("checkpoints_removed")), "[]");
  EXPECT_EQ(Lines(Cli({"gc", store_}).out).size(), 1u);
}

}  // namespace
}  // namespace ckptdb

// The CLI's safety rails: dry runs that change no byte of the store, export that will not replace
// a file without --force, and import's warnings (and --strict refusals) about a checkpoint that
// drops its parent's tensors or goes back in steps, said before any rotation happens.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/support/cli_fixture.h"
#include "tests/support/cli_output.h"
#include "tests/support/cli_runner.h"
#include "tests/support/tree_bytes.h"

namespace ckptdb::cli_tests {
namespace {

namespace fs = std::filesystem;
using testing::TreeBytes;

class CliSafetyTest : public CliTest {
 protected:
  // Steps 100, 200 (tagged "keep"), 300 with tensors a and b; 300 also shares nothing with 100.
  void SetUp() override {
    store_ = dir_.Join("store");
    for (int64_t step : {100, 200, 300}) {
      std::vector<std::string> extra;
      if (step == 200) extra = {"--tag", "keep"};
      ImportOk(store_, step, {Random("a", DType::kF32, {4096}, step), Random("b", DType::kF32, {16}, 7)}, extra);
    }
  }
  std::string store_;
};

TEST_F(CliSafetyTest, DryRunsChangeNoByteOfTheStore) {
  const auto before = TreeBytes(store_);
  const std::vector<std::vector<std::string>> runs = {
      {"rm", store_, "--step", "100", "--dry-run"},
      {"rm", store_, "--tag", "keep", "-n", "--json"},
      {"policy", store_, "--max-to-keep", "1", "--dry-run"},
      {"policy", store_, "--keep-best", "loss:min", "--dry-run", "--json"},
      {"rollback", store_, "--step", "100", "--discard", "--dry-run"},
      {"rollback", store_, "--step", "100", "--dry-run", "--json"},
      {"gc", store_, "--dry-run"},
      {"gc", store_, "-n", "--json"},
  };
  for (const auto& args : runs) {
    SCOPED_TRACE(Describe(args));
    const CliRun r = Cli(args);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    const auto after = TreeBytes(store_);
    EXPECT_TRUE(after == before) << "a dry run changed" << testing::ChangedPaths(before, after);
  }
}

TEST_F(CliSafetyTest, DryRunsPrintWhatTheRealCommandThenDoes) {
  // rm: the checkpoint it names is the one rm removes.
  CliRun dry = Cli({"rm", store_, "--step", "100", "--dry-run", "--json"});
  ASSERT_EQ(dry.code, 0) << dry.err;
  const json::Value planned = ParseJson(dry.out);
  EXPECT_TRUE(planned.find("dry_run")->as_bool());
  EXPECT_GT(planned.find("reclaimable_bytes")->as_uint64(), 0u);
  CliRun real = Cli({"rm", store_, "--step", "100", "--json"});
  ASSERT_EQ(real.code, 0) << real.err;
  EXPECT_EQ(*ParseJson(real.out).find("removed"), *planned.find("removed"));

  // rollback --discard: the abandoned and discarded ids are those the real rollback reports.
  ImportOk(store_, 400, {Random("a", DType::kF32, {16}, 4)});
  dry = Cli({"rollback", store_, "--step", "200", "--discard", "--dry-run", "--json"});
  ASSERT_EQ(dry.code, 0) << dry.err;
  real = Cli({"rollback", store_, "--step", "200", "--discard", "--json"});
  ASSERT_EQ(real.code, 0) << real.err;
  json::Value d = ParseJson(dry.out), w = ParseJson(real.out);
  EXPECT_EQ(*d.find("head"), *w.find("head"));
  EXPECT_EQ(*d.find("abandoned"), *w.find("abandoned"));
  EXPECT_EQ(*d.find("discarded"), *w.find("discarded"));
  EXPECT_EQ(d.find("discarded")->as_array().size(), 2u) << dry.out;  // 300 and 400, neither tagged

  // policy: the text names what it would remove, and the stored policy stays as it was.
  dry = Cli({"policy", store_, "--max-to-keep", "1", "--dry-run"});
  ASSERT_EQ(dry.code, 0) << dry.err;
  EXPECT_NE(dry.out.find("dry run"), std::string::npos) << dry.out;
  EXPECT_NE(dry.out.find("max_to_keep 1"), std::string::npos) << dry.out;
  EXPECT_EQ(ParseJson(Cli({"policy", store_, "--json"}).out).find("max_to_keep")->as_uint64(), 0u);
}

TEST_F(CliSafetyTest, ExportRefusesToReplaceAFileWithoutForce) {
  const std::string out = dir_.Join("x.safetensors");
  testing::WriteFileOrDie(out, "precious");
  const CliRun r = Cli({"export", store_, "--latest", "-o", out});
  ExpectError(r, 2, {out, "--force"});
  EXPECT_EQ(testing::ReadFileOrDie(out), "precious");
  // A symlink counts as existing too (even a dangling one: writing would follow or replace it).
  fs::create_symlink(dir_.Join("nowhere"), dir_.Join("link"));
  ExpectError(Cli({"export", store_, "--latest", "-o", dir_.Join("link")}), 2, {"--force"});
  ASSERT_EQ(Cli({"export", store_, "--latest", "-o", out, "--force"}).code, 0);
  EXPECT_NE(testing::ReadFileOrDie(out), "precious");
}

TEST_F(CliSafetyTest, ImportWarnsWhenTensorsAreDroppedOrTheStepGoesBack) {
  // The optimizer file forgotten: only "a", and a step below the parent's.
  const std::string f = WriteFile(dir_, "a.safetensors", Safetensors({Random("a", DType::kF32, {4096}, 9)}));
  CliRun r = Cli({"import", store_, "--step", "50", f});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_NE(r.out.find("warning: the new checkpoint has 1 tensor but its parent, checkpoint 3 (step 300) has 2 "
                       "tensors: 1 missing (b)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("warning: step 50 is lower than its parent"), std::string::npos) << r.out;
  // The warnings come before the result line.
  EXPECT_LT(r.out.find("warning:"), r.out.find("saved checkpoint")) << r.out;

  // --json carries them in the result.
  r = Cli({"import", store_, "--step", "40", f, "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const json::Value v = ParseJson(r.out);
  ASSERT_EQ(v.find("warnings")->as_array().size(), 1u) << r.out;  // the parent now has only "a"
  EXPECT_NE(v.find("warnings")->as_array()[0].as_string().find("step 40 is lower"), std::string::npos);
  EXPECT_FALSE(v.find("created_store")->as_bool());

  // Nothing to warn about: no warning line.
  r = Cli({"import", store_, "--step", "500", f});
  ASSERT_EQ(r.code, 0);
  EXPECT_EQ(r.out.find("warning"), std::string::npos) << r.out;
}

TEST_F(CliSafetyTest, StrictRefusesAndSavesNothingNotEvenARotation) {
  // A policy that would rotate the oldest checkpoint away in the same commit.
  ASSERT_EQ(Cli({"policy", store_, "--max-to-keep", "3"}).code, 0);
  const std::string f = WriteFile(dir_, "a.safetensors", Safetensors({Random("a", DType::kF32, {4096}, 9)}));
  const auto before = TreeBytes(store_);
  for (const std::string step : {"400", "10"}) {  // drops "b"; drops "b" and goes back
    SCOPED_TRACE(step);
    ExpectError(Cli({"import", store_, "--step", step, f, "--strict"}), 1, {"--strict", "nothing saved"});
    const auto after = TreeBytes(store_);
    EXPECT_TRUE(after == before) << "changed:" << testing::ChangedPaths(before, after);
  }
  // The same import with every tensor passes --strict.
  const std::string both = WriteFile(
      dir_, "ab.safetensors", Safetensors({Random("a", DType::kF32, {4096}, 9), Random("b", DType::kF32, {16}, 7)}));
  const CliRun r = Cli({"import", store_, "--step", "400", both, "--strict"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("retention policy removed checkpoints: 1"), std::string::npos) << r.out;
}

TEST_F(CliSafetyTest, ImportSaysWhenItCreatesAStore) {
  const std::string fresh = dir_.Join("fresh");
  const std::string f = WriteFile(dir_, "a.safetensors", Safetensors({Random("a", DType::kF32, {16}, 9)}));
  CliRun r = Cli({"import", fresh, "--step", "1", f});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("created store " + fresh + " (chunk size 4.00 MiB)\n", 0), 0u) << r.out;
  r = Cli({"import", fresh, "--step", "2", f});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.find("created store"), std::string::npos) << r.out;
  r = Cli({"import", dir_.Join("fresh2"), "--step", "1", f, "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(ParseJson(r.out).find("created_store")->as_bool());
}

TEST_F(CliSafetyTest, LogLimitsAndReverses) {
  auto steps = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"log", store_, "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    const CliRun r = Cli(args);
    EXPECT_EQ(r.code, 0) << r.err;
    std::vector<int64_t> s;
    const json::Value list = ParseJson(r.out);  // named: a range-for over a temporary's member dangles
    for (const json::Value& c : list.as_array()) s.push_back(c.find("step")->as_int64());
    return s;
  };
  EXPECT_EQ(steps({}), (std::vector<int64_t>{100, 200, 300}));
  EXPECT_EQ(steps({"-n", "2"}), (std::vector<int64_t>{200, 300}));
  EXPECT_EQ(steps({"--reverse"}), (std::vector<int64_t>{300, 200, 100}));
  EXPECT_EQ(steps({"-n", "1", "--reverse"}), (std::vector<int64_t>{300}));
  EXPECT_EQ(steps({"--max-count=0"}), (std::vector<int64_t>{}));
  EXPECT_EQ(steps({"-n", "99"}), (std::vector<int64_t>{100, 200, 300}));
  const CliRun text = Cli({"log", store_, "-n", "1"});
  ASSERT_EQ(text.code, 0);
  EXPECT_EQ(std::count(text.out.begin(), text.out.end(), '\n'), 2) << text.out;  // header and one row
}

}  // namespace
}  // namespace ckptdb::cli_tests

// Specifies `ckptdb export`: the selected checkpoint as a reference-layout safetensors file, and its errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ckptdb/ckptdb.h"
#include "tests/support/cli_fixture.h"
#include "tests/support/cli_output.h"
#include "tests/support/cli_runner.h"
#include "tests/support/exported_safetensors.h"
#include "tests/support/safetensors_bytes.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

namespace fs = std::filesystem;
using namespace cli_tests;

class CliExportTest : public CliTest {
 protected:
  // Four checkpoints: ids 1..4 at steps 10, 20, 10, 40, each with different bytes.
  void SetUp() override {
    store_ = dir_.Join("store");
    for (int i = 0; i < 4; ++i) {
      const uint64_t seed = 100 * (i + 1);
      ckpts_.push_back({Random("embed", DType::kF32, {64, 1024}, seed), Random("norm", DType::kBF16, {3}, seed + 1),
                        Random("scalar", DType::kF64, {}, seed + 2), Random("mask", DType::kBool, {7}, seed + 3),
                        Random("q8", DType::kF8_E4M3, {100}, seed + 4), Random("empty", DType::kF32, {0, 3}, seed + 5),
                        Random("ids", DType::kI64, {100, 100}, seed + 6), Random("u16", DType::kU16, {33}, seed + 7)});
      meta_.push_back({{"format", "pt"}, {"index", std::to_string(i)}});
      ImportOk(store_, steps_[i], ckpts_[i], {}, meta_[i]);
    }
  }
  std::string store_;
  const int64_t steps_[4] = {10, 20, 10, 40};
  std::vector<std::vector<Src>> ckpts_;
  std::vector<std::map<std::string, std::string>> meta_;
};

TEST_F(CliExportTest, ExportsTheSelectedCheckpoint) {
  struct Case {
    std::vector<std::string> selector;
    size_t index;  // into ckpts_
  };
  const std::vector<Case> cases = {{{"--step", "10"}, 2},  // the newest checkpoint at step 10
                                   {{"--step", "20"}, 1},
                                   {{"--step=40"}, 3},
                                   {{"--id", "1"}, 0},
                                   {{"--id=3"}, 2},
                                   {{"--latest"}, 3}};
  int n = 0;
  for (const Case& c : cases) {
    const std::string out = dir_.Join("export" + std::to_string(n++) + ".safetensors");
    std::vector<std::string> args = {"export", store_};
    args.insert(args.end(), c.selector.begin(), c.selector.end());
    args.insert(args.end(), {"-o", out});
    SCOPED_TRACE(Describe(args));
    CliRun r = Cli(args);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_NE(r.out.find(out), std::string::npos) << r.out;
    ExpectExported(out, ckpts_[c.index], meta_[c.index]);
  }
  // --output is the long form of -o.
  const std::string out = dir_.Join("long.safetensors");
  ASSERT_EQ(Cli({"export", store_, "--id", "2", "--output", out}).code, 0);
  ExpectExported(out, ckpts_[1], meta_[1]);
}

TEST_F(CliExportTest, ExportedFileReimportsToTheSameChunks) {
  const std::string out = dir_.Join("e.safetensors");
  ASSERT_EQ(Cli({"export", store_, "--id", "2", "-o", out}).code, 0);
  const std::string again = dir_.Join("again");
  ASSERT_EQ(Cli({"import", again, "--step", "20", "--chunk-size", "65536", out}).code, 0);
  CliRun a = Cli({"show", store_, "--id", "2", "--json"}), b = Cli({"show", again, "--latest", "--json"});
  ASSERT_EQ(a.code, 0);
  ASSERT_EQ(b.code, 0);
  EXPECT_EQ(*ParseJson(a.out).find("tensors"), *ParseJson(b.out).find("tensors"));
  EXPECT_EQ(*ParseJson(a.out).find("metadata"), *ParseJson(b.out).find("metadata"));
}

// Replacing a file takes --force (issue 11: export used to overwrite silently); without it see
// CliExportTest.RefusesToOverwriteWithoutForce.
TEST_F(CliExportTest, ExportWithForceOverwritesAnExistingFileAndLeavesNoTemporaries) {
  const std::string out = dir_.Join("out/x.safetensors");
  fs::create_directories(dir_.Join("out"));
  testing::WriteFileOrDie(out, "old contents");
  ASSERT_EQ(Cli({"export", store_, "--latest", "-o", out, "--force"}).code, 0);
  ExpectExported(out, ckpts_[3], meta_[3]);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir_.Join("out"))) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"x.safetensors"});
}

TEST_F(CliExportTest, UnknownStepOrIdFailsNamingIt) {
  const std::string before = Snapshot(store_);
  const std::string out = dir_.Join("none.safetensors");
  ExpectError(Cli({"export", store_, "--step", "99", "-o", out}), 1, {"step 99", store_});
  ExpectError(Cli({"export", store_, "--id", "17", "-o", out}), 1, {"17", store_});
  EXPECT_FALSE(fs::exists(out));
  EXPECT_EQ(Snapshot(store_), before);
}

TEST_F(CliExportTest, SelectorAndOutputMistakesAreUsageErrors) {
  const std::string before = Snapshot(store_);
  const std::string out = dir_.Join("none.safetensors");
  const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> cases = {
      {{"export", store_, "-o", out}, {"--step", "--id", "--latest"}},                    // no selector
      {{"export", store_, "--step", "10", "--latest", "-o", out}, {"--step", "--latest"}},  // two
      {{"export", store_, "--step", "10", "--id", "1", "-o", out}, {"--step", "--id"}},
      {{"export", store_, "--id", "1", "--latest", "-o", out}, {"--id", "--latest"}},
      {{"export", store_, "--latest"}, {"-o"}},                                            // no -o
      {{"export", store_, "--latest", "-o"}, {"-o"}},                                      // -o without value
      {{"export", store_, "--latest", "-o", out, "-o", out}, {"-o"}},                      // -o twice
      {{"export", store_, "--step", "ten", "-o", out}, {"--step", "ten"}},
      {{"export", store_, "--id", "-1", "-o", out}, {"--id"}},
      {{"export", store_, "--latest", "--frobnicate", "-o", out}, {"--frobnicate"}},
      {{"export", "--latest", "-o", out}, {"STORE"}},                                       // no store
  };
  for (const auto& [args, names] : cases) {
    SCOPED_TRACE(Describe(args));
    ExpectError(Cli(args), 2, names);
  }
  EXPECT_FALSE(fs::exists(out));
  EXPECT_EQ(Snapshot(store_), before);
}

TEST_F(CliExportTest, UnwritableOutputFailsNamingIt) {
  const std::string out = dir_.Join("no/such/dir/x.safetensors");
  ExpectError(Cli({"export", store_, "--latest", "-o", out}), 1, {out});
}

}  // namespace
}  // namespace ckptdb

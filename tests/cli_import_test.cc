// Specifies `ckptdb import`: new and existing stores, flags, odd names, and its command-line mistakes.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ckptdb/ckptdb.h"
#include "tests/support/cli_fixture.h"
#include "tests/support/cli_output.h"
#include "tests/support/cli_runner.h"
#include "tests/support/existing_store.h"
#include "tests/support/exported_safetensors.h"
#include "tests/support/safetensors_bytes.h"
#include "tests/support/test_support.h"
#include "tools/json.h"

namespace ckptdb {
namespace {

namespace fs = std::filesystem;
using json::Value;
using namespace cli_tests;
using testing::OpenExisting;

// Restores checkpoint `which` of `store` and compares it with `want` (order, dtype, shape, bytes).
void ExpectCheckpointHolds(const std::string& store, const Selector& which, const std::vector<Src>& want) {
  auto s = OpenExisting(store);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto r = (*s)->Restore(which);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ((*r)[i].name, want[i].name);
    EXPECT_EQ((*r)[i].dtype, want[i].dtype) << want[i].name;
    EXPECT_EQ((*r)[i].shape, want[i].shape) << want[i].name;
    ASSERT_EQ((*r)[i].bytes.size(), want[i].bytes.size()) << want[i].name;
    EXPECT_TRUE(want[i].bytes.empty() ||
                std::memcmp((*r)[i].bytes.data(), want[i].bytes.data(), want[i].bytes.size()) == 0)
        << want[i].name << " restored with different bytes";
  }
}

TEST_F(CliTest, ImportCreatesStoreAndRecordsChunkSizeTagsMetricsMetadata) {
  const std::string store = dir_.Join("new/nested/store");
  const std::vector<Src> a = {Random("embed", DType::kF32, {64, 1024}, 1), Random("norm", DType::kBF16, {3}, 2)};
  const std::vector<Src> b = {Random("head.weight", DType::kI64, {100, 100}, 3), Random("mask", DType::kBool, {5}, 4),
                              Random("scalar", DType::kF64, {}, 5), Random("empty", DType::kF32, {0, 3}, 6)};
  const std::string fa = WriteFile(dir_, "a.safetensors", Safetensors(a, {{"format", "pt"}, {"from_a", "1"}}));
  const std::string fb = WriteFile(dir_, "b.safetensors", Safetensors(b, {{"format", "pt"}, {"from_b", "two"}}));
  ASSERT_FALSE(fs::exists(store));

  CliRun r = Cli({"import", store, "--step", "42", "--chunk-size", "131072", "--tag", "best", "--tag", "alpha",
                  "--metric", "loss=0.25", "--metric=acc=0.875", fa, fb});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_NE(r.out.find("checkpoint 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("step 42"), std::string::npos) << r.out;

  auto s = OpenExisting(store);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ((*s)->chunk_size(), 131072u);
  auto list = (*s)->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);  // several files became one checkpoint
  const CheckpointInfo& c = list->front();
  EXPECT_EQ(c.step, 42);
  EXPECT_EQ(c.parent, std::nullopt);
  EXPECT_EQ(c.tensor_count, 6u);
  EXPECT_EQ(c.tags, (std::vector<std::string>{"alpha", "best"}));
  EXPECT_EQ(c.metrics, (std::map<std::string, double>{{"acc", 0.875}, {"loss", 0.25}}));
  auto m = (*s)->Describe(Selector::Latest());
  ASSERT_TRUE(m.ok());
  // Each file's __metadata__ is kept (the shared key once).
  EXPECT_EQ(m->metadata, (std::map<std::string, std::string>{{"format", "pt"}, {"from_a", "1"}, {"from_b", "two"}}));
  s->reset();
  std::vector<Src> all = a;
  all.insert(all.end(), b.begin(), b.end());
  ExpectCheckpointHolds(store, Selector::Id(1), all);
}

TEST_F(CliTest, ImportIntoExistingStoreChainsParentsAndDedups) {
  const std::string store = dir_.Join("store");
  const std::vector<Src> t = {Random("w", DType::kF16, {300, 300}, 7)};
  ImportOk(store, 1, t);
  ImportOk(store, 2, t);
  auto s = OpenExisting(store);
  ASSERT_TRUE(s.ok());
  auto list = (*s)->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ(list->at(1).parent, std::optional<CheckpointId>(1));
  EXPECT_EQ(list->at(0).new_bytes, 180000u);
  EXPECT_EQ(list->at(1).new_bytes, 0u);  // every chunk was already stored
  EXPECT_EQ((*s)->chunk_size(), kChunk);
}

TEST_F(CliTest, ImportWithTheStoresOwnChunkSizeIsAccepted) {
  const std::string store = StoreWithOneCheckpoint();
  const std::string f = WriteFile(dir_, "f.safetensors", Safetensors({Random("x", DType::kU8, {10}, 9)}));
  CliRun r = Cli({"import", store, "--step", "2", "--chunk-size", std::to_string(kChunk), f});
  EXPECT_EQ(r.code, 0) << r.err;
}

TEST_F(CliTest, ImportTensorInTwoFilesIsAnError) {
  const std::string f1 = WriteFile(dir_, "one.safetensors", Safetensors({Random("shared.w", DType::kF32, {4}, 1)}));
  const std::string f2 = WriteFile(dir_, "two.safetensors",
                                   Safetensors({Random("other", DType::kF32, {4}, 2), Random("shared.w", DType::kF32, {4}, 3)}));
  // Into a missing store: nothing is created.
  const std::string fresh = dir_.Join("fresh");
  ExpectError(Cli({"import", fresh, "--step", "1", f1, f2}), 1, {"shared.w", f1, f2});
  EXPECT_FALSE(fs::exists(fresh));
  // Into an existing store: its history is unchanged.
  const std::string store = StoreWithOneCheckpoint();
  const std::string before = Snapshot(store);
  ExpectError(Cli({"import", store, "--step", "2", f1, f2}), 1, {"shared.w", f1, f2});
  EXPECT_EQ(Snapshot(store), before);
}

TEST_F(CliTest, ImportMetadataKeyThatDiffersBetweenFilesIsAnError) {
  const std::string f1 = WriteFile(dir_, "one.safetensors", Safetensors({Random("a", DType::kF32, {4}, 1)}, {{"epoch", "1"}}));
  const std::string f2 = WriteFile(dir_, "two.safetensors", Safetensors({Random("b", DType::kF32, {4}, 2)}, {{"epoch", "2"}}));
  const std::string store = StoreWithOneCheckpoint();
  const std::string before = Snapshot(store);
  ExpectError(Cli({"import", store, "--step", "2", f1, f2}), 1, {"epoch", f1, f2});
  EXPECT_EQ(Snapshot(store), before);
}

TEST_F(CliTest, ImportChunkSizeDifferentFromTheStoresIsAnError) {
  const std::string store = StoreWithOneCheckpoint();  // chunk size 64 KiB
  const std::string f = WriteFile(dir_, "f.safetensors", Safetensors({Random("x", DType::kF32, {10}, 9)}));
  const std::string before = Snapshot(store);
  ExpectError(Cli({"import", store, "--step", "2", "--chunk-size", "1048576", f}), 1, {store, "--chunk-size", "65536"});
  EXPECT_EQ(Snapshot(store), before);
}

TEST_F(CliTest, ImportTagInUseIsAnError) {
  const std::string store = dir_.Join("store");
  ImportOk(store, 1, {Random("w", DType::kF32, {8}, 1)}, {"--tag", "release"});
  const std::string f = WriteFile(dir_, "f.safetensors", Safetensors({Random("w", DType::kF32, {8}, 2)}));
  const std::string before = Snapshot(store);
  ExpectError(Cli({"import", store, "--step", "2", "--tag", "release", f}), 1, {"release"});
  EXPECT_EQ(Snapshot(store), before);
}

TEST_F(CliTest, ImportWithoutStepIsAUsageError) {
  const std::string f = WriteFile(dir_, "f.safetensors", Safetensors({Random("x", DType::kF32, {10}, 9)}));
  const std::string fresh = dir_.Join("fresh");
  ExpectError(Cli({"import", fresh, f}), 2, {"--step"});
  EXPECT_FALSE(fs::exists(fresh));
  const std::string store = StoreWithOneCheckpoint();
  const std::string before = Snapshot(store);
  ExpectError(Cli({"import", store, f}), 2, {"--step"});
  ExpectError(Cli({"import", store, f, "--step"}), 2, {"--step"});  // flag without its value
  EXPECT_EQ(Snapshot(store), before);
}

// A step that is not an integer is a bad value on the command line: exit 2 (tools/cli.h).
TEST_F(CliTest, ImportNonIntegerStepIsAUsageError) {
  const std::string f = WriteFile(dir_, "f.safetensors", Safetensors({Random("x", DType::kF32, {10}, 9)}));
  const std::string store = StoreWithOneCheckpoint();
  const std::string before = Snapshot(store);
  for (const std::string step : {"abc", "1.5", "12x", "", "99999999999999999999"}) {
    SCOPED_TRACE("--step '" + step + "'");
    ExpectError(Cli({"import", store, "--step", step, f}), 2, {"--step", "'" + step + "'"});
    const std::string fresh = dir_.Join("fresh");
    ExpectError(Cli({"import", fresh, "--step", step, f}), 2, {"--step"});
    EXPECT_FALSE(fs::exists(fresh));
  }
  EXPECT_EQ(Snapshot(store), before);
}

// The other malformed flag values of import are command-line errors too: exit 2.
TEST_F(CliTest, ImportMalformedFlagValuesAreUsageErrors) {
  const std::string f = WriteFile(dir_, "f.safetensors", Safetensors({Random("x", DType::kF32, {10}, 9)}));
  const std::string fresh = dir_.Join("fresh");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--metric", "loss"}, "loss"},                 // no '='
      {{"--metric", "=0.5"}, "=0.5"},                 // no name
      {{"--metric", "loss=abc"}, "loss"},             // not a number
      {{"--metric", "loss=1", "--metric", "loss=2"}, "loss"},  // same metric twice
      {{"--chunk-size", "big"}, "--chunk-size"},
      {{"--chunk-size", "-65536"}, "--chunk-size"},
      {{"--chunk-size", "1000"}, "1000"},             // not a power of two in [64 KiB, 64 MiB]
  };
  for (const auto& [flags, names] : cases) {
    std::vector<std::string> args = {"import", fresh, "--step", "1"};
    args.insert(args.end(), flags.begin(), flags.end());
    args.push_back(f);
    SCOPED_TRACE(Describe(args));
    ExpectError(Cli(args), 2, {names});
    EXPECT_FALSE(fs::exists(fresh));
  }
}

TEST_F(CliTest, ImportWithoutFilesIsAUsageError) {
  const std::string fresh = dir_.Join("fresh");
  ExpectError(Cli({"import", fresh, "--step", "1"}), 2, {"import"});
  ExpectError(Cli({"import", "--step", "1"}), 2, {"import"});
  EXPECT_FALSE(fs::exists(fresh));
}

TEST_F(CliTest, ImportLeavesADirectoryThatIsNotAStoreAlone) {
  const std::string notstore = dir_.Join("photos");
  fs::create_directories(notstore);
  WriteFile(dir_, "photos/cat.jpg", "meow");
  const std::string f = WriteFile(dir_, "f.safetensors", Safetensors({Random("x", DType::kF32, {10}, 9)}));
  ExpectError(Cli({"import", notstore, "--step", "1", f}), 1, {notstore});
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(notstore)) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"cat.jpg"});
}

TEST_F(CliTest, ImportAcceptsNegativeAndExtremeSteps) {
  const std::string store = dir_.Join("store");
  const std::vector<Src> t = {Random("w", DType::kF32, {10}, 1)};
  ImportOk(store, -5, t);
  ImportOk(store, std::numeric_limits<int64_t>::max(), t, {"--metric", "loss=-1e-300"});
  CliRun r = Cli({"show", store, "--step", "-5", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(ParseJson(r.out).find("step")->as_int64(), -5);
  r = Cli({"show", store, "--step=9223372036854775807", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(ParseJson(r.out).find("step")->as_int64(), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(ParseJson(r.out).find("metrics")->find("loss")->as_double(), -1e-300);
  const std::string out = dir_.Join("x.safetensors");
  ASSERT_EQ(Cli({"export", store, "--step=-5", "-o", out}).code, 0);
  ExpectExported(out, t, {});
}

TEST_F(CliTest, ImportOfAFileWithoutTensors) {
  const std::string store = dir_.Join("store");
  const std::string f = WriteFile(dir_, "none.safetensors", Safetensors({}, {{"only", "metadata"}}));
  CliRun r = Cli({"import", store, "--step", "1", f});
  ASSERT_EQ(r.code, 0) << r.err;
  r = Cli({"show", store, "--latest", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const Value v = ParseJson(r.out);
  EXPECT_TRUE(v.find("tensors")->as_array().empty());
  EXPECT_EQ(v.find("metadata")->find("only")->as_string(), "metadata");
  const std::string out = dir_.Join("x.safetensors");
  ASSERT_EQ(Cli({"export", store, "--latest", "-o", out}).code, 0);
  ExpectExported(out, {}, {{"only", "metadata"}});
}

// Names and metadata with quotes, control characters and non-ASCII text survive import, show and
// export, and never break the one-line-per-item text output.
TEST_F(CliTest, OddNamesAndMetadataRoundTrip) {
  const std::string store = dir_.Join("store");
  const std::vector<Src> t = {Random("módulo.peso", DType::kF32, {70000}, 1), Random("say \"hi\"\\now", DType::kU8, {5}, 2),
                              Random("tab\there", DType::kI16, {3}, 3)};
  const std::map<std::string, std::string> meta = {{"note", "line1\nline2 \"q\" é ✓"}, {"empty", ""}};
  ImportOk(store, 1, t, {}, meta);
  CliRun r = Cli({"show", store, "--latest", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const Value v = ParseJson(r.out);
  ASSERT_EQ(v.find("tensors")->as_array().size(), 3u);
  for (size_t i = 0; i < t.size(); ++i) EXPECT_EQ(v.find("tensors")->as_array()[i].find("name")->as_string(), t[i].name);
  EXPECT_EQ(v.find("metadata")->find("note")->as_string(), meta.at("note"));
  EXPECT_EQ(v.find("metadata")->find("empty")->as_string(), "");

  r = Cli({"show", store, "--latest"});
  ASSERT_EQ(r.code, 0) << r.err;
  for (const std::string& line : Lines(r.out)) {
    if (line.find("line1") != std::string::npos) {
      EXPECT_NE(line.find("line2"), std::string::npos) << "the metadata value's newline split the output:\n" << r.out;
    }
    EXPECT_NE(line.rfind("line2", 0), 0u) << "the metadata value's newline split the output:\n" << r.out;
  }
  EXPECT_NE(r.out.find("módulo.peso"), std::string::npos) << r.out;

  const std::string out = dir_.Join("x.safetensors");
  ASSERT_EQ(Cli({"export", store, "--latest", "-o", out}).code, 0);
  ExpectExported(out, t, meta);
}

// Another process holding the store: the real executable reports it and changes nothing.
TEST_F(CliTest, StoreOpenElsewhereIsReportedNamingTheStore) {
  const std::string store = StoreWithOneCheckpoint();
  const std::string before = Snapshot(store);
  const std::string f = WriteFile(dir_, "f.safetensors", Safetensors({Random("x", DType::kF32, {10}, 9)}));
  {
    auto held = OpenExisting(store);
    ASSERT_TRUE(held.ok()) << held.status().ToString();
    ExpectError(Binary({"import", store, "--step", "2", f}, dir_.path()), 1, {store});
    ExpectError(Binary({"tag", store, "--latest", "t"}, dir_.path()), 1, {store});
    // Reading commands open the store read-only and work beside the writer.
    const CliRun log = Binary({"log", store}, dir_.path());
    EXPECT_EQ(log.code, 0) << log.err;
    EXPECT_EQ(Binary({"verify", store}, dir_.path()).code, 0);
  }
  EXPECT_EQ(Snapshot(store), before);
}

}  // namespace
}  // namespace ckptdb

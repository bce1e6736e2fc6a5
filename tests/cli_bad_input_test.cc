// Specifies how ckptdb fails on bad input: malformed safetensors files, wrong command lines, missing stores.
#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "ckptdb/ckptdb.h"
#include "tests/support/cli_fixture.h"
#include "tests/support/cli_runner.h"
#include "tests/support/safetensors_bytes.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

namespace fs = std::filesystem;
using namespace cli_tests;

// ---------------------------------------------------------------------------------------------
// import of malformed safetensors files: one case per way a file can be wrong.

struct BadFile {
  std::string label;
  std::string bytes;                // the file's content ("" with missing: no file at all)
  std::vector<std::string> names;   // what stderr must name besides the file's path
  bool missing = false;
};

std::vector<BadFile> BadFiles() {
  const Src a = Random("layer.a", DType::kF32, {16}, 1);  // 64 bytes
  const Src b = Random("layer.b", DType::kF32, {16}, 2);  // 64 bytes
  const std::string good = Safetensors({a, b}, {{"format", "pt"}});
  const uint64_t n = good.size() - 8 - 128;  // header length
  const std::string data = a.bytes + b.bytes;
  auto tensor = [](const std::string& name, const std::string& dtype, const std::string& shape, uint64_t b, uint64_t e) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
           std::to_string(b) + "," + std::to_string(e) + "]}";
  };
  std::vector<BadFile> v;
  v.push_back({"empty file", "", {"0 bytes"}});
  v.push_back({"5 bytes", good.substr(0, 5), {}});
  v.push_back({"7 bytes", good.substr(0, 7), {}});
  v.push_back({"only the length", good.substr(0, 8), {"header length"}});
  v.push_back({"cut mid-header", good.substr(0, 8 + n / 2), {"header length"}});
  v.push_back({"cut one byte into the data", good.substr(0, 8 + n + 1), {"layer.a"}});
  v.push_back({"cut mid-data (in the second tensor)", good.substr(0, good.size() - 32), {"layer.b"}});
  v.push_back({"cut one byte short", good.substr(0, good.size() - 1), {"layer.b"}});
  v.push_back({"garbled header (not JSON)", Framed("{\"layer.a\": {dtype: F32} ]]  ", data), {"JSON"}});
  v.push_back({"header is a JSON array", Framed("[1, 2, 3]", data), {}});
  v.push_back({"header is not UTF-8", Framed("{\"\xff\xfe\": 1}", data), {}});
  v.push_back({"header length past the end of the file", Le64(4096) + good.substr(8), {"4096"}});
  v.push_back({"header length over the 100 MB limit", Le64(200'000'000) + good.substr(8), {"200000000"}});
  v.push_back({"data_offsets past the end",
               Framed("{" + tensor("layer.a", "F32", "[16]", 0, 64) + "," + tensor("layer.b", "F32", "[16]", 96, 160) + "}", data),
               {"layer.b"}});
  v.push_back({"overlapping data_offsets",
               Framed("{" + tensor("layer.a", "F32", "[16]", 0, 64) + "," + tensor("layer.b", "F32", "[16]", 32, 96) + "}",
                      data.substr(0, 96)),
               {"layer.a", "layer.b"}});
  v.push_back({"a hole between tensors",
               Framed("{" + tensor("layer.a", "F32", "[8]", 0, 32) + "," + tensor("layer.b", "F32", "[16]", 64, 128) + "}", data),
               {"layer.b"}});
  v.push_back({"trailing bytes after the last tensor",
               Framed("{" + tensor("layer.a", "F32", "[16]", 0, 64) + "}", data), {"64"}});
  v.push_back({"unknown dtype F33",
               Framed("{" + tensor("layer.a", "F32", "[16]", 0, 64) + "," + tensor("layer.b", "F33", "[16]", 64, 128) + "}", data),
               {"layer.b", "F33"}});
  v.push_back({"shape disagrees with the byte length",
               Framed("{" + tensor("layer.a", "F32", "[16]", 0, 64) + "," + tensor("layer.b", "F32", "[4,5]", 64, 128) + "}", data),
               {"layer.b"}});
  v.push_back({"negative shape entry",
               Framed("{" + tensor("layer.a", "F32", "[16]", 0, 64) + "," + tensor("layer.b", "F32", "[-16]", 64, 128) + "}", data),
               {"layer.b"}});
  v.push_back({"non-string metadata value",
               Framed("{\"__metadata__\":{\"format\":\"pt\",\"epoch\":3}," + tensor("layer.a", "F32", "[16]", 0, 64) + "," +
                          tensor("layer.b", "F32", "[16]", 64, 128) + "}",
                      data),
               {"epoch"}});
  v.push_back({"metadata is not an object",
               Framed("{\"__metadata__\":[\"pt\"]," + tensor("layer.a", "F32", "[32]", 0, 128) + "}", data),
               {"__metadata__"}});
  v.push_back({"missing data_offsets",
               Framed("{\"layer.a\":{\"dtype\":\"F32\",\"shape\":[32]}}", data), {"layer.a", "data_offsets"}});
  v.push_back({"duplicate tensor name",
               Framed("{" + tensor("layer.a", "F32", "[16]", 0, 64) + "," + tensor("layer.a", "F32", "[16]", 64, 128) + "}", data),
               {"layer.a"}});
  v.push_back({"nonexistent file", "", {}, true});
  return v;
}

class CliBadSafetensorsTest : public CliTest, public ::testing::WithParamInterface<BadFile> {};

TEST_P(CliBadSafetensorsTest, ImportFailsNamingTheFileAndCreatesNothing) {
  const BadFile& bad = GetParam();
  const std::string path = dir_.Join("bad.safetensors");
  if (!bad.missing) testing::WriteFileOrDie(path, bad.bytes);
  std::vector<std::string> names = bad.names;
  names.push_back(path);
  const std::string good = WriteFile(dir_, "good.safetensors", Safetensors({Random("ok", DType::kF32, {4}, 5)}));

  // No store yet: the import fails before creating anything, even after a good file.
  const std::string fresh = dir_.Join("fresh");
  {
    SCOPED_TRACE("into a missing store");
    ExpectError(Cli({"import", fresh, "--step", "1", "--chunk-size", "65536", path}), 1, names);
    EXPECT_FALSE(fs::exists(fresh)) << "a failed import created the store directory";
    ExpectError(Cli({"import", fresh, "--step", "1", good, path}), 1, names);
    EXPECT_FALSE(fs::exists(fresh)) << "a failed import created the store directory";
  }
  // An existing store keeps its history.
  const std::string store = StoreWithOneCheckpoint();
  const std::string before = Snapshot(store);
  {
    SCOPED_TRACE("into an existing store");
    ExpectError(Cli({"import", store, "--step", "2", path}), 1, names);
    ExpectError(Cli({"import", store, "--step", "2", good, path}), 1, names);
  }
  EXPECT_EQ(Snapshot(store), before);
}

INSTANTIATE_TEST_SUITE_P(Files, CliBadSafetensorsTest, ::testing::ValuesIn(BadFiles()),
                         [](const ::testing::TestParamInfo<BadFile>& info) {
                           std::string s;
                           for (char c : info.param.label) s += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return s;
                         });

// ---------------------------------------------------------------------------------------------
// Command-line and store-path errors common to every command.

TEST_F(CliTest, MissingStoreFailsNamingThePathForEveryReadCommand) {
  const std::string missing = dir_.Join("no-such-store");
  const std::string out = dir_.Join("x.safetensors");
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"log", missing}, {"log", missing, "--json"}, {"show", missing, "--latest"},
        {"show", missing, "--step", "1", "--json"}, {"export", missing, "--latest", "-o", out}, {"verify", missing}}) {
    SCOPED_TRACE(Describe(args));
    ExpectError(Cli(args), 1, {missing});
    EXPECT_FALSE(fs::exists(missing)) << "a read command created the store";
  }
  EXPECT_FALSE(fs::exists(out));
  // An empty directory is not a store either, and stays empty.
  const std::string empty = dir_.Join("empty-dir");
  fs::create_directories(empty);
  ExpectError(Cli({"log", empty}), 1, {empty});
  ExpectError(Cli({"verify", empty}), 1, {empty});
  EXPECT_TRUE(fs::is_empty(empty));
  // A regular file is not a store.
  const std::string file = WriteFile(dir_, "file", "x");
  ExpectError(Cli({"show", file, "--latest"}), 1, {file});
}

TEST_F(CliTest, UnknownCommandUnknownFlagAndMissingValueAreUsageErrors) {
  const std::string store = StoreWithOneCheckpoint();
  const std::string before = Snapshot(store);
  const std::string f = WriteFile(dir_, "f.safetensors", Safetensors({Random("x", DType::kF32, {10}, 9)}));
  const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> cases = {
      {{"frobnicate", store}, {"frobnicate"}},
      {{"Log", store}, {"Log"}},
      {{"log", store, "--verbose"}, {"--verbose"}},
      {{"log", store, "-v"}, {"-v"}},
      {{"log", store, "--json=1"}, {"--json"}},
      {{"log"}, {"STORE"}},
      {{"show", store, "--latest", "--all"}, {"--all"}},
      {{"show", store, "--id"}, {"--id"}},
      {{"export", store, "--latest", "--format", "pt", "-o", dir_.Join("x")}, {"--format"}},
      {{"export", store, "--step"}, {"--step"}},
      {{"verify", store, "--deep"}, {"--deep"}},
      {{"verify", store, store}, {"STORE"}},
      {{"verify"}, {"STORE"}},
      {{"import", store, "--step", "2", "--force", f}, {"--force"}},
      {{"import", store, "--step", "2", "--tag"}, {"--tag"}},
      {{"import", store, "--step", "2", f, "--metric"}, {"--metric"}},
      {{"import", store, "--step", "2", "--step", "3", f}, {"--step"}},
  };
  for (const auto& [args, names] : cases) {
    SCOPED_TRACE(Describe(args));
    ExpectError(Cli(args), 2, names);
  }
  EXPECT_EQ(Snapshot(store), before);
  EXPECT_FALSE(fs::exists(dir_.Join("x")));
}

TEST_F(CliTest, NoArgumentsPrintsUsageAndExits2HelpExits0) {
  CliRun r = Cli({});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("usage: ckptdb"), std::string::npos) << r.err;
  r = Cli({"help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("usage: ckptdb"), std::string::npos) << r.out;
  for (const std::string cmd : {"import", "export", "log", "show", "verify"})
    EXPECT_NE(r.out.find("  " + cmd + " "), std::string::npos) << cmd;
}

}  // namespace
}  // namespace ckptdb

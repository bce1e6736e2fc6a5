// Specifies `ckptdb log` and `ckptdb show`: the aligned table, the documented JSON, and chunk digests.
#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "ckptdb/ckptdb.h"
#include "tests/support/cli_fixture.h"
#include "tests/support/cli_output.h"
#include "tests/support/cli_runner.h"
#include "tests/support/existing_store.h"
#include "tests/support/safetensors_bytes.h"
#include "tools/json.h"

namespace ckptdb {
namespace {

using json::Value;
using namespace cli_tests;
using testing::OpenExisting;

// "2026-11-23 01:36:00" for a commit time, computed here (not with tools/format).
std::string Utc(int64_t ns, const char* fmt) {
  std::time_t t = static_cast<std::time_t>(ns / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, fmt, &tm);
  return buf;
}

// ---------------------------------------------------------------------------------------------
// log

class CliLogTest : public CliTest {
 protected:
  // Three checkpoints with sizes that print in B, KiB and MiB.
  void SetUp() override {
    store_ = dir_.Join("store");
    const Src big = Random("big", DType::kU8, {1536 * 1024}, 1);  // 1.50 MiB
    ImportOk(store_, 100, {big});
    ImportOk(store_, 2500, {big, Random("small", DType::kF32, {768}, 2)}, {"--tag", "bäst", "--tag", "v1", "--metric",
                                                                             "loss=0.25", "--metric", "acc=0.5"});
    ImportOk(store_, 7, {Random("tiny", DType::kU8, {512}, 3)}, {"--metric", "loss=1.5"});
    auto s = OpenExisting(store_);
    ASSERT_TRUE(s.ok());
    auto list = (*s)->List();
    ASSERT_TRUE(list.ok());
    list_ = *list;
    ASSERT_EQ(list_.size(), 3u);
  }
  std::string store_;
  std::vector<CheckpointInfo> list_;
};

TEST_F(CliLogTest, TableIsAlignedWithHumanSizes) {
  CliRun r = Cli({"log", store_});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;
  // Every cell, in order; "" for an empty one.
  const std::vector<std::vector<std::string>> cells = {
      {"ID", "STEP", "PARENT", "TIME (UTC)", "TENSORS", "SIZE", "NEW", "TAGS", "METRICS"},
      {"1", "100", "-", Utc(list_[0].commit_time_ns, "%Y-%m-%d %H:%M:%S"), "1", "1.50 MiB", "1.50 MiB", "", ""},
      {"2", "2500", "1", Utc(list_[1].commit_time_ns, "%Y-%m-%d %H:%M:%S"), "2", "1.50 MiB", "3.00 KiB", "bäst,v1",
       "acc=0.5 loss=0.25"},
      {"3", "7", "2", Utc(list_[2].commit_time_ns, "%Y-%m-%d %H:%M:%S"), "1", "512 B", "512 B", "", "loss=1.5"},
  };
  // Locate each cell: columns are separated by at least two spaces.
  std::vector<std::vector<std::pair<size_t, size_t>>> spans(cells[0].size());  // per column: [begin, end)
  for (size_t row = 0; row < lines.size(); ++row) {
    SCOPED_TRACE("line: '" + lines[row] + "'");
    size_t pos = 0;
    for (size_t col = 0; col < cells[row].size(); ++col) {
      const std::string& want = cells[row][col];
      if (want.empty()) continue;
      const size_t start = pos;
      while (pos < lines[row].size() && lines[row][pos] == ' ') ++pos;
      if (col > 0) {
        EXPECT_GE(pos - start, 2u) << "less than two spaces before '" << want << "'";
      }
      ASSERT_EQ(lines[row].compare(pos, want.size(), want), 0) << "expected '" << want << "' at column " << pos;
      // Offsets in characters, not bytes: a UTF-8 tag must not shift the columns after it.
      const auto chars = [&](size_t bytes) {
        return size_t(std::count_if(lines[row].begin(), lines[row].begin() + bytes,
                                    [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
      };
      spans[col].push_back({chars(pos), chars(pos + want.size())});
      pos += want.size();
    }
    EXPECT_EQ(lines[row].find_first_not_of(' ', pos), std::string::npos) << "unexpected text after the last cell";
  }
  // A column is aligned when all its cells start at one offset (left-aligned) or end at one
  // offset (right-aligned).
  for (size_t col = 0; col < spans.size(); ++col) {
    std::set<size_t> begins, ends;
    for (auto [b, e] : spans[col]) {
      begins.insert(b);
      ends.insert(e);
    }
    EXPECT_TRUE(begins.size() == 1 || ends.size() == 1) << "column " << cells[0][col] << " is not aligned:\n" << r.out;
  }
}

TEST_F(CliLogTest, JsonHasExactlyTheDocumentedKeysOldestFirst) {
  CliRun r = Cli({"log", store_, "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const Value v = ParseJson(r.out);
  ASSERT_TRUE(v.is_array());
  ASSERT_EQ(v.as_array().size(), 3u);
  const std::regex rfc3339(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z)");
  const std::vector<std::string> keys = {"id",        "step",          "parent",    "branch", "head", "time",
                                         "tensors",   "logical_bytes", "new_bytes", "tags",   "metrics"};
  for (size_t i = 0; i < 3; ++i) {
    const Value& c = v.as_array()[i];
    const CheckpointInfo& want = list_[i];
    SCOPED_TRACE("entry " + std::to_string(i));
    std::vector<std::string> got = Keys(c), sorted_keys = keys;
    std::sort(got.begin(), got.end());
    std::sort(sorted_keys.begin(), sorted_keys.end());
    EXPECT_EQ(got, sorted_keys);
    EXPECT_TRUE(c.find("id")->is_integer());
    EXPECT_EQ(c.find("id")->as_uint64(), i + 1);  // oldest first
    EXPECT_EQ(c.find("step")->as_int64(), want.step);
    if (i == 0) {
      EXPECT_TRUE(c.find("parent")->is_null());
    } else {
      EXPECT_EQ(c.find("parent")->as_uint64(), i);
    }
    EXPECT_EQ(c.find("branch")->as_uint64(), 0u);  // a linear history is all the current branch
    EXPECT_EQ(c.find("head")->as_bool(), i == 2);
    const std::string time = c.find("time")->as_string();
    EXPECT_TRUE(std::regex_match(time, rfc3339)) << time;
    EXPECT_EQ(time.substr(0, 19), Utc(want.commit_time_ns, "%Y-%m-%dT%H:%M:%S"));
    EXPECT_EQ(c.find("tensors")->as_uint64(), want.tensor_count);
    EXPECT_EQ(c.find("logical_bytes")->as_uint64(), want.logical_bytes);
    EXPECT_EQ(c.find("new_bytes")->as_uint64(), want.new_bytes);
    ASSERT_TRUE(c.find("tags")->is_array());
    std::vector<std::string> tags;
    for (const Value& t : c.find("tags")->as_array()) tags.push_back(t.as_string());
    EXPECT_EQ(tags, want.tags);
    ASSERT_TRUE(c.find("metrics")->is_object());
    std::map<std::string, double> metrics;
    for (const auto& [k, m] : c.find("metrics")->as_object()) {
      EXPECT_TRUE(m.is_number()) << k;
      metrics[k] = m.as_double();
    }
    EXPECT_EQ(metrics, want.metrics);
  }
  EXPECT_EQ(v.as_array()[1].find("tags")->as_array().size(), 2u);
  EXPECT_EQ(v.as_array()[0].find("logical_bytes")->as_uint64(), 1536u * 1024);
  EXPECT_EQ(v.as_array()[1].find("new_bytes")->as_uint64(), 3072u);
}

TEST_F(CliTest, LogOfAStoreWithoutCheckpoints) {
  const std::string store = dir_.Join("empty");
  {
    auto s = Store::Open(store);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
  }
  CliRun r = Cli({"log", store, "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const Value v = ParseJson(r.out);
  EXPECT_TRUE(v.is_array());
  EXPECT_TRUE(v.as_array().empty());
  r = Cli({"log", store});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Lines(r.out).size(), 1u) << r.out;  // just the header
}

// ---------------------------------------------------------------------------------------------
// show

class CliShowTest : public CliTest {
 protected:
  void SetUp() override {
    store_ = dir_.Join("store");
    first_ = {Random("w", DType::kF32, {10}, 1)};
    ImportOk(store_, 5, first_);
    second_ = {Random("model.embed", DType::kBF16, {300, 500}, 2),  // 300000 bytes: 5 chunks, the last short
               Random("model.bias", DType::kF16, {7}, 3), Random("flags", DType::kBool, {3}, 4),
               Random("q", DType::kF8_E5M2, {2, 2}, 5), Random("empty", DType::kI32, {0}, 6),
               Random("scalar", DType::kU64, {}, 7), Random("tied", DType::kU8, {65536 * 2}, 8)};
    second_.back().bytes.replace(0, 65536, second_[0].bytes.substr(0, 65536));  // a chunk shared with model.embed
    ImportOk(store_, 6, second_, {"--tag", "best", "--metric", "loss=0.125"}, {{"format", "pt"}, {"note", "hello"}});
  }
  std::string store_;
  std::vector<Src> first_, second_;
};

TEST_F(CliShowTest, JsonDescribesTheCheckpointWithChunkDigests) {
  for (const std::vector<std::string>& sel : {std::vector<std::string>{"--latest"}, {"--step", "6"}, {"--id", "2"}}) {
    std::vector<std::string> args = {"show", store_, "--json"};
    args.insert(args.end(), sel.begin(), sel.end());
    SCOPED_TRACE(Describe(args));
    CliRun r = Cli(args);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    const Value v = ParseJson(r.out);
    std::vector<std::string> keys = Keys(v);
    std::sort(keys.begin(), keys.end());
    EXPECT_EQ(keys, (std::vector<std::string>{"chunk_size", "id", "metadata", "metrics", "parent", "step", "tags", "tensors",
                                              "time"}));
    EXPECT_EQ(v.find("id")->as_uint64(), 2u);
    EXPECT_EQ(v.find("step")->as_int64(), 6);
    EXPECT_EQ(v.find("parent")->as_uint64(), 1u);
    EXPECT_TRUE(std::regex_match(v.find("time")->as_string(), std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z)")))
        << v.find("time")->as_string();
    EXPECT_EQ(v.find("chunk_size")->as_uint64(), kChunk);
    EXPECT_EQ(json::ToJson(*v.find("metadata")), R"({"format":"pt","note":"hello"})");
    ASSERT_NE(v.find("metrics")->find("loss"), nullptr);
    EXPECT_EQ(v.find("metrics")->find("loss")->as_double(), 0.125);
    ASSERT_EQ(v.find("tags")->as_array().size(), 1u);
    EXPECT_EQ(v.find("tags")->as_array()[0].as_string(), "best");
    const auto& tensors = v.find("tensors")->as_array();
    ASSERT_EQ(tensors.size(), second_.size());
    const std::regex hex64("[0-9a-f]{64}");
    for (size_t i = 0; i < second_.size(); ++i) {
      const Src& want = second_[i];
      const Value& t = tensors[i];
      SCOPED_TRACE(want.name);
      std::vector<std::string> tkeys = Keys(t);
      std::sort(tkeys.begin(), tkeys.end());
      EXPECT_EQ(tkeys, (std::vector<std::string>{"bytes", "chunks", "dtype", "name", "shape"}));
      EXPECT_EQ(t.find("name")->as_string(), want.name);
      EXPECT_EQ(t.find("dtype")->as_string(), DTypeName(want.dtype));
      std::vector<int64_t> shape;
      for (const Value& d : t.find("shape")->as_array()) shape.push_back(d.as_int64());
      EXPECT_EQ(shape, want.shape);
      EXPECT_EQ(t.find("bytes")->as_uint64(), want.bytes.size());
      const auto& chunks = t.find("chunks")->as_array();
      ASSERT_EQ(chunks.size(), (want.bytes.size() + kChunk - 1) / kChunk);
      for (size_t c = 0; c < chunks.size(); ++c) {
        const std::string& hex = chunks[c].as_string();
        EXPECT_TRUE(std::regex_match(hex, hex64)) << hex;
        const size_t off = c * kChunk, len = std::min<size_t>(kChunk, want.bytes.size() - off);
        EXPECT_EQ(hex, HashBytes(want.bytes.data() + off, len).ToHex()) << "chunk " << c;
      }
    }
    // The dtype spellings are safetensors'.
    EXPECT_EQ(tensors[0].find("dtype")->as_string(), "BF16");
    EXPECT_EQ(tensors[2].find("dtype")->as_string(), "BOOL");
    EXPECT_EQ(tensors[3].find("dtype")->as_string(), "F8_E5M2");
    EXPECT_EQ(tensors[6].find("chunks")->as_array()[0], tensors[0].find("chunks")->as_array()[0]);
  }
  // The first checkpoint has a null parent and empty objects.
  CliRun r = Cli({"show", store_, "--step", "5", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const Value v = ParseJson(r.out);
  EXPECT_TRUE(v.find("parent")->is_null());
  EXPECT_TRUE(v.find("metadata")->is_object() && v.find("metadata")->as_object().empty());
  EXPECT_TRUE(v.find("metrics")->is_object() && v.find("metrics")->as_object().empty());
  EXPECT_TRUE(v.find("tags")->is_array() && v.find("tags")->as_array().empty());
}

TEST_F(CliShowTest, TextNamesEveryTensor) {
  CliRun r = Cli({"show", store_, "--id", "2"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out.rfind("checkpoint 2", 0), 0u) << r.out;
  for (const std::string s : {"step 6", "parent 1", "best", "loss", "note", "hello", "[300, 500]", "BF16", "F8_E5M2", "BOOL",
                              "model.embed", "model.bias", "293 KiB", "128 KiB", "64.0 KiB"})
    EXPECT_NE(r.out.find(s), std::string::npos) << "show does not print '" << s << "':\n" << r.out;
  // Each tensor row names its tensor, dtype and chunk count.
  for (const Src& t : second_) {
    bool found = false;
    for (const std::string& line : Lines(r.out))
      if (line.rfind(t.name + " ", 0) == 0) {
        found = true;
        EXPECT_NE(line.find(std::string(DTypeName(t.dtype))), std::string::npos) << line;
        const std::string chunks = std::to_string((t.bytes.size() + kChunk - 1) / kChunk);
        EXPECT_EQ(line.substr(line.find_last_not_of(' ') + 1 - chunks.size()), chunks) << line;
      }
    EXPECT_TRUE(found) << "no row for " << t.name << ":\n" << r.out;
  }
}

TEST_F(CliShowTest, SelectorErrors) {
  const std::string before = Snapshot(store_);
  ExpectError(Cli({"show", store_, "--step", "99"}), 1, {"step 99", store_});
  ExpectError(Cli({"show", store_, "--id", "3", "--json"}), 1, {"3", store_});
  ExpectError(Cli({"show", store_}), 2, {"--step", "--id", "--latest"});
  ExpectError(Cli({"show", store_, "--latest", "--step", "5"}), 2, {"--step", "--latest"});
  ExpectError(Cli({"show", store_, "--step"}), 2, {"--step"});
  ExpectError(Cli({"show", store_, "--json=yes", "--latest"}), 2, {"--json"});
  ExpectError(Cli({"show", store_, store_, "--latest"}), 2, {"STORE"});
  EXPECT_EQ(Snapshot(store_), before);
}

}  // namespace
}  // namespace ckptdb

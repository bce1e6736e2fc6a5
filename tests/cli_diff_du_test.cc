// ckptdb diff and ckptdb du: exact JSON numbers, every way of naming A and B, --stats on each float
// format, the human output, and the error contract (exit code, one "ckptdb: error: " line).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <regex>
#include <sstream>
#include <vector>

#include "ckptdb/ckptdb.h"
#include "tests/support/cli_runner.h"
#include "tests/support/test_support.h"
#include "tools/cli.h"
#include "tools/format.h"
#include "tools/json.h"

namespace ckptdb {
namespace {

constexpr uint64_t K = 64 << 10;  // the stores' chunk size

using cli_tests::Cli;
using Ran = cli_tests::CliRun;

json::Value Json(const Ran& r) {
  EXPECT_EQ(r.code, 0) << r.err;
  auto v = json::Parse(r.out);
  EXPECT_TRUE(v.ok()) << v.status().ToString() << "\n" << r.out;
  return v.ok() ? *v : json::Value();
}

std::vector<std::string> Strings(const json::Value* v) {
  std::vector<std::string> out;
  if (v)
    for (const auto& s : v->as_array()) out.push_back(s.as_string());
  return out;
}

std::vector<std::string> Keys(const json::Value& v) {
  std::vector<std::string> keys;
  for (const auto& [k, unused] : v.as_object()) keys.push_back(k);
  return keys;
}

void ExpectError(const Ran& r, int code, const std::string& names) {
  EXPECT_EQ(r.code, code) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err.rfind("ckptdb: error: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(names), std::string::npos) << "does not name " << names << ": " << r.err;
}

template <typename E>
TensorRef Ref(std::string name, DType dtype, Shape shape, const std::vector<E>& v) {
  return {std::move(name), dtype, std::move(shape), v.data(), v.size() * sizeof(E)};
}

class CliDiffDuTest : public ::testing::Test {
 protected:
  // Checkpoint 1 (step 100, tag first, loss 0.9): F32 a (3 chunks) and b (one 40 KiB chunk).
  // Checkpoint 2 (step 200, loss 0.4): a with elements 20000 (+3) and 30000 (-4) changed, both in
  // its middle chunk; b unchanged; new c (96 KiB: a 64 KiB and a 32 KiB chunk).
  void SetUp() override {
    store_ = dir_.Join("store");
    std::vector<float> a(3 * K / 4), b(10 << 10), c(K * 3 / 8);
    for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i % 1000) * 0.25f;
    for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(i % 7);
    for (size_t i = 0; i < c.size(); ++i) c[i] = static_cast<float>(i) * 0.5f;
    std::vector<float> a2 = a;
    a2[20000] += 3;
    a2[30000] -= 4;
    auto store = OpenStore(store_);
    SaveOptions o;
    o.step = 100;
    o.tags = {"first"};
    o.metrics = {{"loss", 0.9}};
    const std::vector<TensorRef> one = {Ref("a", DType::kF32, {3 * K / 4}, a), Ref("b", DType::kF32, {10 << 10}, b)};
    auto info = store->Save(one, o);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    first_time_ = info->commit_time_ns;
    o = {};
    o.step = 200;
    o.metrics = {{"loss", 0.4}};
    const std::vector<TensorRef> two = {Ref("a", DType::kF32, {3 * K / 4}, a2), Ref("b", DType::kF32, {10 << 10}, b),
                                        Ref("c", DType::kF32, {static_cast<int64_t>(c.size())}, c)};
    ASSERT_TRUE(store->Save(two, o).ok());
  }  // the store closes: the commands below open it themselves

  static std::unique_ptr<Store> OpenStore(const std::string& path) {
    StoreOptions so;
    so.chunk_size = K;
    auto s = Store::Open(path, so);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  testing::ScratchDir dir_;
  std::string store_;
  int64_t first_time_ = 0;
};

TEST_F(CliDiffDuTest, DuJsonHasTheExactNumbers) {
  const json::Value v = Json(Cli({"du", store_, "--json"}));
  EXPECT_EQ(Keys(v), (std::vector<std::string>{"logical_bytes", "unique_bytes", "disk_bytes", "dedup_ratio", "checkpoints"}));
  EXPECT_EQ(v.find("logical_bytes")->as_uint64(), 573440u);  // (3K + 40K) + (3K + 40K + 96K)
  EXPECT_EQ(v.find("unique_bytes")->as_uint64(), 401408u);   // 4 chunks of a, b, c
  EXPECT_GE(v.find("disk_bytes")->as_uint64(), 401408u);
  EXPECT_DOUBLE_EQ(v.find("dedup_ratio")->as_double(), 10.0 / 7.0);
  const auto& cps = v.find("checkpoints")->as_array();
  ASSERT_EQ(cps.size(), 2u);
  EXPECT_EQ(Keys(cps[0]), (std::vector<std::string>{"id", "step", "reclaimable_bytes"}));
  EXPECT_EQ(cps[0].find("id")->as_uint64(), 1u);
  EXPECT_EQ(cps[0].find("step")->as_int64(), 100);
  EXPECT_EQ(cps[0].find("reclaimable_bytes")->as_uint64(), K);
  EXPECT_EQ(cps[1].find("id")->as_uint64(), 2u);
  EXPECT_EQ(cps[1].find("reclaimable_bytes")->as_uint64(), K + K + K / 2);
}

TEST_F(CliDiffDuTest, DuHumanOutput) {
  const Ran r = Cli({"du", store_});
  ASSERT_EQ(r.code, 0) << r.err;
  // The value column is as wide as its widest value, and the on-disk size varies with RocksDB's
  // files, so the figures are matched with any run of spaces before them.
  for (const std::string& s : std::vector<std::string>{"logical +560 KiB", "unique +392 KiB", "dedup +1\\.43x",
                                                       "on disk +[0-9.]+ [KMG]?i?B +allocated under " + store_})
    EXPECT_TRUE(std::regex_search(r.out, std::regex(s))) << "missing /" << s << "/ in\n" << r.out;
  EXPECT_NE(r.out.find("ID  STEP  RECLAIMABLE\n 1   100     64.0 KiB\n 2   200      160 KiB\n"), std::string::npos)
      << r.out;
}

TEST_F(CliDiffDuTest, DiffJsonClassifiesTensorsAndCountsChangedChunks) {
  const json::Value v = Json(Cli({"diff", store_, "100", "200", "--json"}));
  EXPECT_EQ(Keys(v), (std::vector<std::string>{"added", "removed", "unchanged", "changed"}));
  EXPECT_EQ(Strings(v.find("added")), std::vector<std::string>{"c"});
  EXPECT_EQ(Strings(v.find("removed")), std::vector<std::string>{});
  EXPECT_EQ(Strings(v.find("unchanged")), std::vector<std::string>{"b"});
  const auto& changed = v.find("changed")->as_array();
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(Keys(changed[0]), (std::vector<std::string>{"name", "chunks_changed", "bytes_changed"}));
  EXPECT_EQ(changed[0].find("name")->as_string(), "a");
  EXPECT_EQ(changed[0].find("chunks_changed")->as_uint64(), 1u);
  EXPECT_EQ(changed[0].find("bytes_changed")->as_uint64(), K);
  // Backwards, c is removed instead.
  const json::Value back = Json(Cli({"diff", store_, "200", "100", "--json"}));
  EXPECT_EQ(Strings(back.find("removed")), std::vector<std::string>{"c"});
  EXPECT_EQ(Strings(back.find("added")), std::vector<std::string>{});
}

TEST_F(CliDiffDuTest, EverySpecKindNamesACheckpoint) {
  const std::string at_first = "at:" + cli::Rfc3339(first_time_);
  for (const auto& [a, b] : std::vector<std::pair<std::string, std::string>>{
           {"100", "200"}, {"id:1", "id:2"}, {"tag:first", "latest"}, {at_first, "best:loss:min"},
           {"best:loss:max", "at:2999-01-01T00:00:00Z"}}) {
    const json::Value v = Json(Cli({"diff", store_, a, b, "--json"}));
    EXPECT_EQ(Strings(v.find("added")), std::vector<std::string>{"c"}) << a << " " << b;
  }
  const json::Value same = Json(Cli({"diff", store_, "latest", "id:2", "--json"}));
  EXPECT_EQ(Strings(same.find("unchanged")), (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(CliDiffDuTest, StatsOnF32GiveTheExactDifference) {
  const json::Value v = Json(Cli({"diff", store_, "100", "200", "--json", "--stats"}));
  const auto& a = v.find("changed")->as_array().at(0);
  EXPECT_EQ(a.find("max_abs_diff")->as_double(), 4.0);
  EXPECT_EQ(a.find("l2_diff")->as_double(), 5.0);  // sqrt(3^2 + 4^2)
}

TEST_F(CliDiffDuTest, DiffHumanOutput) {
  const Ran r = Cli({"diff", store_, "100", "200", "--stats"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "checkpoint 1 (step 100) -> checkpoint 2 (step 200)\n"
            "+ c  2 chunks  96.0 KiB                  F32 [24576]\n"
            "~ a   1 chunk  64.0 KiB  max|Δ| 4  L2 5\n"
            "1 added, 0 removed, 1 changed (1 chunk, 64.0 KiB), 1 unchanged\n");
}

TEST_F(CliDiffDuTest, StatsOnHalfBFloatAndFp8AndWhereTheyDoNotApply) {
  const std::string store = dir_.Join("small");
  {
    auto s = OpenStore(store);
    const std::vector<uint16_t> h1 = {0x3C00, 0x3C00, 0, 0}, h2 = {0x3E00, 0x3C00, 0x7BFF, 0};  // F16
    const std::vector<uint16_t> g1 = {0x3F80, 0x3F80}, g2 = {0x4000, 0xBF80};                     // BF16
    const std::vector<uint16_t> q1 = {0x3C00, 0x3C00}, q2 = {0x7E00, 0x3C00};                     // F16 NaN
    const std::vector<uint8_t> f1 = {0x38, 0x01}, f2 = {0x7E, 0x01};                              // E4M3
    const std::vector<float> e = {1, 2, 3, 4};
    const std::vector<int64_t> n1 = {7}, n2 = {8};
    SaveOptions o;
    ASSERT_TRUE(s->Save(std::vector<TensorRef>{Ref("h", DType::kF16, {4}, h1), Ref("g", DType::kBF16, {2}, g1),
                                               Ref("q", DType::kF16, {2}, q1), Ref("f", DType::kF8_E4M3, {2}, f1),
                                               Ref("e", DType::kF32, {4}, e), Ref("n", DType::kI64, {1}, n1)}, o).ok());
    ASSERT_TRUE(s->Save(std::vector<TensorRef>{Ref("h", DType::kF16, {4}, h2), Ref("g", DType::kBF16, {2}, g2),
                                               Ref("q", DType::kF16, {2}, q2), Ref("f", DType::kF8_E4M3, {2}, f2),
                                               Ref("e", DType::kF32, {2, 2}, e), Ref("n", DType::kI64, {1}, n2)}, o).ok());
  }
  const json::Value v = Json(Cli({"diff", store, "id:1", "id:2", "--stats", "--json"}));
  std::map<std::string, json::Value> by_name;
  for (const auto& c : v.find("changed")->as_array()) by_name[c.find("name")->as_string()] = c;
  ASSERT_EQ(by_name.size(), 6u);
  EXPECT_EQ(by_name["h"].find("max_abs_diff")->as_double(), 65504.0);
  EXPECT_EQ(by_name["h"].find("l2_diff")->as_double(), std::sqrt(0.25 + 65504.0 * 65504.0));
  EXPECT_EQ(by_name["g"].find("max_abs_diff")->as_double(), 2.0);
  EXPECT_EQ(by_name["g"].find("l2_diff")->as_double(), std::sqrt(5.0));
  EXPECT_EQ(by_name["f"].find("max_abs_diff")->as_double(), 447.0);
  EXPECT_TRUE(by_name["q"].find("max_abs_diff")->is_null());  // NaN
  EXPECT_TRUE(by_name["q"].find("l2_diff")->is_null());
  // A reshaped tensor (same bytes) and an integer one get no statistics.
  const std::vector<std::string> plain = {"name", "chunks_changed", "bytes_changed"};
  EXPECT_EQ(Keys(by_name["e"]), plain);
  EXPECT_EQ(by_name["e"].find("chunks_changed")->as_uint64(), 0u);
  EXPECT_EQ(Keys(by_name["n"]), plain);
  EXPECT_EQ(by_name["n"].find("bytes_changed")->as_uint64(), 8u);
  const Ran text = Cli({"diff", store, "id:1", "id:2"});
  EXPECT_NE(text.out.find("~ e  0 chunks  0 B  F32 [4] -> F32 [2, 2]\n"), std::string::npos) << text.out << text.err;
}

TEST_F(CliDiffDuTest, UnknownCheckpointsFailNamingThem) {
  ExpectError(Cli({"diff", store_, "100", "999"}), 1, "step 999");
  ExpectError(Cli({"diff", store_, "tag:nope", "100"}), 1, "'nope'");
  ExpectError(Cli({"diff", store_, "id:42", "100", "--stats"}), 1, "id 42");
  ExpectError(Cli({"diff", store_, "best:acc:max", "100"}), 1, "best acc");
}

TEST_F(CliDiffDuTest, MalformedSpecsAreUsageErrors) {
  for (const std::string spec : {"id:x", "id:-1", "tag:", "best:loss", "best::min", "best:loss:median", "at:yesterday",
                                 "step:3", "abc", "", "12x"}) {
    SCOPED_TRACE(spec);
    ExpectError(Cli({"diff", store_, "100", spec}), 2, "'" + spec + "'");
  }
  ExpectError(Cli({"diff", store_, "100"}), 2, "STORE A B");
  ExpectError(Cli({"diff", store_, "100", "200", "--bogus"}), 2, "--bogus");
  ExpectError(Cli({"du", store_, "--stats"}), 2, "--stats");
  ExpectError(Cli({"du"}), 2, "STORE");
}

TEST_F(CliDiffDuTest, MissingStoreFailsWithoutCreatingIt) {
  const std::string missing = dir_.Join("missing");
  ExpectError(Cli({"du", missing}), 1, missing);
  ExpectError(Cli({"diff", missing, "1", "2"}), 1, missing);
  EXPECT_FALSE(std::filesystem::exists(missing));
}

}  // namespace
}  // namespace ckptdb

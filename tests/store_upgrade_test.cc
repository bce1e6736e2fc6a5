// Specifies the format upgrade (store/upgrade.h, FORMAT.md "Evolution") on a version-1 store that
// the landed version-1 code produced and that is kept as test data (tests/data/v1_store: five
// saves with a fork, tags, metrics, a max_to_keep 2 policy that removed two, and a gc), and the
// codec byte of version-2 chunk index entries.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "ckptdb/ckptdb.h"
#include "schema/codec.h"
#include "store/keys.h"
#include "tests/support/killed_imports.h"
#include "tests/support/rocksdb_edit.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

namespace stdfs = std::filesystem;
using testing::ScratchDir;

// A fresh copy of the version-1 store, at `dir`/store.
std::string CopyV1Store(const ScratchDir& dir) {
  const std::string to = dir.Join("store");
  stdfs::copy(std::string(CKPTDB_SOURCE_DIR) + "/tests/data/v1_store/store", to, stdfs::copy_options::recursive);
  return to;
}

uint32_t FormatVersion(const std::string& store) {
  uint32_t version = 0;
  store_tests::EditRocksDb(store, [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
    std::string raw;
    ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), h[0], std::string(keys::kStoreMeta), &raw).ok());
    auto meta = schema::DecodeStoreMeta(raw);
    ASSERT_TRUE(meta.ok()) << meta.status().ToString();
    version = meta->format_version;
  });
  return version;
}

// "id step parent tags metrics" per checkpoint: what the version-1 code's `log` showed.
std::string History(Store& store) {
  auto list = store.List();
  EXPECT_TRUE(list.ok()) << list.status().ToString();
  if (!list.ok()) return "";
  std::string out;
  for (const auto& c : *list) {
    out += std::to_string(c.id) + " " + std::to_string(c.step) + " " +
           (c.parent ? std::to_string(*c.parent) : "-") + " [";
    for (const auto& t : c.tags) out += t + ",";
    out += "]";
    for (const auto& [k, v] : c.metrics) out += " " + k + "=" + std::to_string(v);
    out += "\n";
  }
  return out;
}

constexpr const char* kV1History =
    "1 100 - [first,] loss=0.900000\n"
    "4 300 1 [best,] loss=0.400000\n"
    "5 400 4 [] loss=0.300000\n";

// The exports of steps 100, 300, 400 hash to what the version-1 code's exports hashed to (b3sum
// output kept beside the store).
void ExpectExportsAsBefore(const std::string& store, const ScratchDir& dir) {
  const std::string expected = testing::ReadFileOrDie(std::string(CKPTDB_SOURCE_DIR) + "/tests/data/v1_store/exports.b3");
  for (const char* step : {"100", "300", "400"}) {
    const std::string out = dir.Join(std::string("e") + step + ".safetensors");
    std::string output;
    ASSERT_EQ(testing::RunProcess({testing::CliPath(), "export", store, "--step", step, "-o", out}, &output), 0) << output;
    const std::string bytes = testing::ReadFileOrDie(out);
    const std::string hex = HashBytes(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()).ToHex();
    EXPECT_NE(expected.find(hex + "  e" + step + ".safetensors"), std::string::npos) << "step " << step;
  }
}

TEST(StoreUpgrade, AReaderReadsAVersionOneStoreWithoutChangingIt) {
  ScratchDir dir;
  const std::string store = CopyV1Store(dir);
  {
    auto s = Store::OpenReadOnly(store);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(History(**s), kV1History);
    auto v = (*s)->Verify();
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_TRUE(v->ok());
  }
  ExpectExportsAsBefore(store, dir);  // export opens read-only too
  EXPECT_EQ(FormatVersion(store), 1u);
}

TEST(StoreUpgrade, TheFirstWriterUpgradesToVersionTwoKeepingEveryCheckpoint) {
  ScratchDir dir;
  const std::string store = CopyV1Store(dir);
  {
    StoreOptions o;
    o.create_if_missing = false;
    auto s = Store::Open(store, o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(History(**s), kV1History);
    ASSERT_TRUE((*s)->Tag(Selector::Step(400), "newest").ok());  // an edit of the summary only
    ASSERT_TRUE((*s)->Untag("first").ok());
  }
  EXPECT_EQ(FormatVersion(store), 2u);
  store_tests::EditRocksDb(store, [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
    ASSERT_EQ(h.size(), 4u);
    size_t summaries = 0, entries = 0;
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions(), h[3]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) ++summaries;
    EXPECT_EQ(summaries, 3u);
    it.reset(db.NewIterator(rocksdb::ReadOptions(), h[2]));
    for (it->SeekToFirst(); it->Valid(); it->Next(), ++entries)
      EXPECT_TRUE(it->value()[0] == 'Q' || it->value()[0] == 'W') << "entry " << entries << " not rewritten";
    EXPECT_GT(entries, 0u);
  });
  ExpectExportsAsBefore(store, dir);
  std::string output;
  EXPECT_EQ(testing::RunProcess({testing::CliPath(), "gc", store}, &output), 0) << output;
  EXPECT_EQ(testing::RunProcess({testing::CliPath(), "verify", store}, &output), 0) << output;
  auto s = Store::OpenReadOnly(store);
  ASSERT_TRUE(s.ok());
  // Untagged, checkpoint 1 was no longer protected: gc applied the stored max_to_keep 2.
  EXPECT_EQ(History(**s), "4 300 - [best,] loss=0.400000\n5 400 4 [newest,] loss=0.300000\n");
}

TEST(StoreUpgrade, AKillDuringTheUpgradeLeavesVersionOneOrTwoNeverNeither) {
  // Real `ckptdb gc` processes (a writer: it upgrades on open) killed with SIGKILL at random points.
  std::mt19937 rng(20261201);
  const int trials = testing::LongTests() ? 60 : 12;
  int saw_v1 = 0, saw_v2 = 0;
  for (int trial = 0; trial < trials; ++trial) {
    ScratchDir dir;
    const std::string store = CopyV1Store(dir);
    const pid_t pid = crash_tests::Spawn({testing::CliPath(), "gc", store});
    ASSERT_GT(pid, 0);
    std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 60000)(rng)));
    ::kill(pid, SIGKILL);
    crash_tests::WaitStatus(pid);
    const uint32_t version = FormatVersion(store);
    ASSERT_TRUE(version == 1 || version == 2) << "trial " << trial << ": version " << version;
    (version == 1 ? saw_v1 : saw_v2)++;
    auto reader = Store::OpenReadOnly(store);
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    EXPECT_EQ(History(**reader), kV1History) << "trial " << trial;
    reader->reset();
    StoreOptions o;
    o.create_if_missing = false;
    auto writer = Store::Open(store, o);  // finishes (or repeats) the upgrade
    ASSERT_TRUE(writer.ok()) << writer.status().ToString();
    EXPECT_EQ(History(**writer), kV1History);
    auto v = (*writer)->Verify();
    ASSERT_TRUE(v.ok());
    EXPECT_TRUE(v->ok()) << "trial " << trial;
  }
  std::printf("upgrade kills: %d left version 1, %d version 2\n", saw_v1, saw_v2);
}

TEST(StoreUpgrade, AChunkWithAnUnknownCodecIsNotSupportedNeverWrongBytes) {
  ScratchDir dir;
  const std::string store = dir.Join("s");
  std::vector<uint8_t> bytes = testing::RandomBytes(3, 200000);
  {
    StoreOptions o;
    o.chunk_size = 64 << 10;
    auto s = Store::Open(store, o);
    ASSERT_TRUE(s.ok());
    TensorRef t{"w", DType::kU8, {int64_t(bytes.size())}, bytes.data(), bytes.size()};
    ASSERT_TRUE((*s)->Save({&t, 1}, SaveOptions{}).ok());
  }
  store_tests::EditRocksDb(store, [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions(), h[2]));
    it->SeekToFirst();
    ASSERT_TRUE(it->Valid());
    std::string v = it->value().ToString();
    v[1] = 7;  // a codec this build does not know
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), h[2], it->key(), v).ok());
  });
  auto s = Store::Open(store, StoreOptions{});
  ASSERT_TRUE(s.ok());
  auto r = (*s)->Restore(Selector::Latest());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotSupported) << r.status().ToString();
  EXPECT_NE(r.status().message().find("codec 7"), std::string::npos) << r.status().ToString();
  auto gc = (*s)->CollectGarbage();
  ASSERT_FALSE(gc.ok());
  EXPECT_EQ(gc.status().code(), Code::kNotSupported) << gc.status().ToString();
  auto v = (*s)->Verify();
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->ok()) << "verify reports the chunk it cannot check";
}

}  // namespace
}  // namespace ckptdb

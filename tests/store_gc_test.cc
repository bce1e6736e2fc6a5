// Garbage collection: space really returns, live chunks always survive, damage is never copied.

#include <boost/filesystem.hpp>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "ckptdb/ckptdb.h"
#include "store/keys.h"
#include "tests/support/rocksdb_edit.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

namespace fs = boost::filesystem;
constexpr uint64_t kChunk = 64 << 10;

size_t PackCount(const std::string& store) {
  return std::distance(fs::directory_iterator(store + "/packs"), fs::directory_iterator());
}

class StoreGcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions o;
    o.chunk_size = kChunk;
    auto s = Store::Open(path_, o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  // A tensor of `chunks` full chunks of fresh random bytes.
  const std::vector<uint8_t>& Data(const std::string& name, uint64_t chunks) {
    return data_[name] = testing::RandomBytes(std::hash<std::string>()(name), chunks * kChunk);
  }
  CheckpointInfo Save(const std::vector<std::string>& names) {
    std::vector<TensorRef> refs;
    for (const auto& n : names)
      refs.push_back({n, DType::kU8, {int64_t(data_[n].size())}, data_[n].data(), data_[n].size()});
    auto info = store_->Save(refs, SaveOptions{});
    EXPECT_TRUE(info.ok()) << info.status().ToString();
    return info.ok() ? *info : CheckpointInfo{};
  }
  GcReport Gc() {
    auto r = store_->CollectGarbage();
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : GcReport{};
  }
  void ExpectRestores(CheckpointId id, const std::vector<std::string>& names) {
    auto back = store_->Restore(Selector::Id(id));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    ASSERT_EQ(back->size(), names.size());
    for (size_t i = 0; i < names.size(); ++i)
      EXPECT_EQ(std::memcmp((*back)[i].bytes.data(), data_[names[i]].data(), data_[names[i]].size()), 0) << names[i];
  }

  testing::ScratchDir dir_;
  const std::string path_ = dir_.Join("store");
  std::unique_ptr<Store> store_;
  std::map<std::string, std::vector<uint8_t>> data_;
};

TEST_F(StoreGcTest, NothingToCollectChangesNothing) {
  Data("a", 4);
  Save({"a"});
  const uint64_t before = testing::AllocatedBytes(path_ + "/packs");
  GcReport r = Gc();
  EXPECT_EQ(r.reclaimed_bytes, 0u);
  EXPECT_EQ(r.chunks_deleted, 0u);
  EXPECT_EQ(r.packs_deleted, 0u);
  EXPECT_EQ(r.live_bytes, 4 * kChunk);
  EXPECT_EQ(testing::AllocatedBytes(path_ + "/packs"), before);
  ExpectRestores(1, {"a"});
}

TEST_F(StoreGcTest, RemovingACheckpointThenCollectingReturnsItsSpace) {
  Data("a", 8);
  Data("b", 8);
  Save({"a"});
  Save({"b"});
  ASSERT_TRUE(store_->Remove(Selector::Id(1)).ok());
  GcReport r = Gc();
  EXPECT_EQ(r.chunks_deleted, 8u);
  EXPECT_EQ(r.packs_deleted, 1u);
  EXPECT_EQ(r.reclaimed_bytes, 8 * kChunk);
  EXPECT_EQ(testing::AllocatedBytes(path_ + "/packs"), 8 * kChunk);
  ExpectRestores(2, {"b"});
  EXPECT_TRUE(store_->Verify()->ok());
}

TEST_F(StoreGcTest, ChunksStillUsedByAnotherCheckpointSurvive) {
  Data("shared", 6);
  Data("only1", 2);
  Save({"shared", "only1"});
  Save({"shared"});
  ASSERT_TRUE(store_->Remove(Selector::Id(1)).ok());
  GcReport r = Gc();
  EXPECT_EQ(r.chunks_deleted, 2u);
  EXPECT_EQ(r.live_bytes, 6 * kChunk);
  ExpectRestores(2, {"shared"});
  EXPECT_TRUE(store_->Verify()->ok());
}

TEST_F(StoreGcTest, AMostlyDeadPackIsRewrittenSoDiskStaysNearTheLiveBytes) {
  // Pack 1 holds keep (2 chunks) and drop (14 chunks); checkpoint 2 reuses keep and adds pack 2.
  Data("keep", 2);
  Data("drop", 14);
  Data("new", 4);
  Save({"keep", "drop"});
  Save({"keep", "new"});
  ASSERT_TRUE(store_->Remove(Selector::Id(1)).ok());
  GcReport r = Gc();
  EXPECT_EQ(r.packs_rewritten, 1u);
  EXPECT_EQ(r.chunks_deleted, 14u);
  EXPECT_EQ(r.live_bytes, 6 * kChunk);
  EXPECT_EQ(testing::AllocatedBytes(path_ + "/packs"), 6 * kChunk);  // pack 2 (4 chunks) + the new pack (2 moved chunks)
  ExpectRestores(2, {"keep", "new"});
  EXPECT_TRUE(store_->Verify()->ok());
  // A store reopened after the move reads the moved chunks too.
  store_.reset();
  SetUp();
  ExpectRestores(2, {"keep", "new"});
}

TEST_F(StoreGcTest, AMostlyLivePackIsLeftInPlace) {
  Data("keep", 15);
  Data("drop", 1);
  Save({"keep", "drop"});
  Save({"keep"});
  ASSERT_TRUE(store_->Remove(Selector::Id(1)).ok());
  GcReport r = Gc();
  EXPECT_EQ(r.packs_rewritten, 0u);
  EXPECT_EQ(r.chunks_deleted, 1u);
  ExpectRestores(2, {"keep"});
}

TEST_F(StoreGcTest, DiskSizeAfterCollectionIsWithinTheBound) {
  // Ten checkpoints, each changing 3 of 16 chunks of one tensor; keep only the last two.
  std::vector<uint8_t>& w = data_["w"] = testing::RandomBytes(1, 16 * kChunk);
  for (int i = 0; i < 10; ++i) {
    testing::FillRandom(100 + i, w.data() + (i % 5) * 3 * kChunk, 3 * kChunk);
    Save({"w"});
  }
  for (CheckpointId id = 1; id <= 8; ++id) ASSERT_TRUE(store_->Remove(Selector::Id(id)).ok());
  GcReport r = Gc();
  auto space = store_->Space();
  ASSERT_TRUE(space.ok());
  EXPECT_EQ(r.live_bytes, space->unique_bytes);
  EXPECT_LE(testing::AllocatedBytes(path_ + "/packs"), 1.15 * space->unique_bytes) << "live " << space->unique_bytes;
  EXPECT_LE(space->disk_bytes, 1.15 * space->unique_bytes + (8 << 20));
  ExpectRestores(10, {"w"});
}

TEST_F(StoreGcTest, APackLeftByAFailedSaveIsDeleted) {
  Data("a", 2);
  Save({"a"});
  // What a save killed before its commit leaves: a pack file no index entry names.
  std::ofstream(path_ + "/packs/00000000000000000002.pack") << std::string(8192, 'x');
  GcReport r = Gc();
  EXPECT_EQ(r.packs_deleted, 1u);
  EXPECT_EQ(PackCount(path_), 1u);
  ExpectRestores(1, {"a"});
}

TEST_F(StoreGcTest, ADamagedLiveChunkIsNeverCopiedIntoANewPack) {
  Data("keep", 1);
  Data("drop", 15);
  Save({"keep", "drop"});
  Save({"keep"});
  ASSERT_TRUE(store_->Remove(Selector::Id(1)).ok());
  store_.reset();
  {  // flip a byte of "keep" wherever the parallel save put it in pack 1
    const std::string pack = path_ + "/packs/00000000000000000001.pack";
    std::string bytes = testing::ReadFileOrDie(pack);
    const auto at = bytes.find(std::string(data_["keep"].begin(), data_["keep"].begin() + 64));
    ASSERT_NE(at, std::string::npos);
    bytes[at + 100] ^= 1;
    testing::WriteFileOrDie(pack, bytes);
  }
  SetUp();
  auto r = store_->CollectGarbage();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find("does not match its digest"), std::string::npos) << r.status().ToString();
  // Nothing was moved or deleted: the damage is still there for verify to name.
  EXPECT_EQ(PackCount(path_), 1u);
  auto v = store_->Verify();
  ASSERT_TRUE(v.ok());
  ASSERT_FALSE(v->ok());
  EXPECT_EQ(v->damage[0].tensor, "keep");
}

}  // namespace
}  // namespace ckptdb

namespace ckptdb {
namespace {

TEST_F(StoreGcTest, AStrayPackFileWhoseIdDoesNotFit64BitsIsLeftAloneNotACrash) {
  // 20 digits, so it looks like a pack name, but 99999999999999999999 > 2^64: std::stoull threw here
  // and aborted `ckptdb gc` (and, from the background collector, the trainer).
  Data("a", 2);
  Save({"a"});
  const std::string stray = path_ + "/packs/99999999999999999999.pack";
  std::ofstream(stray) << "not ours";
  store_->Remove(Selector::Latest()).status().IgnoreError();
  const GcReport r = Gc();
  EXPECT_EQ(r.packs_deleted, 1u) << "the real, now dead pack is deleted";
  EXPECT_TRUE(fs::exists(stray)) << "a file that is no pack id of ours is never deleted";
}

TEST_F(StoreGcTest, AnIndexEntryWithAnImpossibleLengthIsCorruptionNotAHugeCopy) {
  // ReadChunk refuses such an entry; gc used to trust it and map or read whatever it claimed.
  Data("a", 4);
  Data("b", 4);
  Save({"a", "b"});
  Save({"b"});
  store_.reset();
  store_tests::EditRocksDb(path_, [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions(), h[2]));
    it->SeekToFirst();
    ASSERT_TRUE(it->Valid());
    auto ref = keys::DecodeChunkRef(it->value().ToStringView());
    ASSERT_TRUE(ref && !ref->is_inline);
    const std::string bad = keys::EncodePackedChunk(ref->pack, ref->offset, uint64_t{1} << 60);
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), h[2], it->key(), bad).ok());
  });
  auto s = Store::Open(path_, StoreOptions{});
  ASSERT_TRUE(s.ok());
  store_ = std::move(s).value();
  auto r = store_->CollectGarbage();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
  EXPECT_NE(r.status().message().find("malformed"), std::string::npos) << r.status().ToString();
}

}  // namespace
}  // namespace ckptdb

namespace ckptdb {
namespace {

// What the chunk index holds of a closed store: the bytes collections deleted since the index was
// last compacted (the index_garbage counter; 0 when absent) and the size of its files.
struct IndexState {
  uint64_t garbage = 0, sst_bytes = 0;
};
IndexState ReadIndexState(const std::string& path) {
  IndexState st;
  store_tests::EditRocksDb(path, [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& cf) {
    std::string v;
    if (db.Get(rocksdb::ReadOptions(), cf[0], std::string(keys::kIndexGarbage), &v).ok())
      st.garbage = keys::DecodeU64(v).value_or(0);
    EXPECT_TRUE(db.GetIntProperty(cf[2], "rocksdb.total-sst-files-size", &st.sst_bytes));
  });
  return st;
}

TEST(StoreGcIndexTest, TheIndexIsCompactedOnlyOnceItsDeletedEntriesExceedTheBudget) {
  testing::ScratchDir dir;
  const std::string path = dir.Join("store");
  constexpr uint64_t kSmall = 16 << 10;  // below kInlineChunkMax: the bytes live in the index
  static_assert(kSmall < keys::kInlineChunkMax);
  auto open = [&] {
    auto s = Store::Open(path);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return std::move(s).value();
  };
  {
    auto store = open();
    for (int i = 0; i < 40; ++i) {
      std::vector<std::vector<uint8_t>> bytes;
      std::vector<TensorRef> refs;
      for (int t = 0; t < 4; ++t) bytes.push_back(testing::RandomBytes(1000 * i + t, kSmall));
      for (int t = 0; t < 4; ++t) refs.push_back({"t" + std::to_string(t), DType::kU8, {int64_t(kSmall)}, bytes[t].data(), kSmall});
      ASSERT_TRUE(store->Save(refs, SaveOptions{}).ok());
    }
    ASSERT_TRUE(store->Remove(Selector::Id(1)).ok());  // 1/40 of the index: under the 1/8 budget
    auto r = store->CollectGarbage();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->chunks_deleted, 4u);
  }
  const IndexState small = ReadIndexState(path);
  EXPECT_GE(small.garbage, 4 * kSmall) << "the deletion is counted, not compacted away";
  EXPECT_GE(small.sst_bytes, 39 * 4 * kSmall);
  {
    auto store = open();
    for (CheckpointId id = 2; id <= 20; ++id) ASSERT_TRUE(store->Remove(Selector::Id(id)).ok());
    auto r = store->CollectGarbage();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->chunks_deleted, 19 * 4u);
    auto back = store->Restore(Selector::Id(40));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ((*back)[3].bytes.size(), kSmall);
  }
  const IndexState big = ReadIndexState(path);
  EXPECT_EQ(big.garbage, 0u) << "compacted: the counter starts again";
  EXPECT_LT(big.sst_bytes, 25 * 4 * kSmall) << "the deleted inline chunks gave their space back";
}

}  // namespace
}  // namespace ckptdb

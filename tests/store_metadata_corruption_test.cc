// Specifies that damaged store metadata (next_id, next_pack, head, manifests, StoreMeta) is Corruption.
#include "ckptdb/ckptdb.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "schema/codec.h"
#include "store/keys.h"
#include "tests/support/rocksdb_edit.h"
#include "tests/support/store_fixtures.h"
#include "tests/support/store_layout.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

using namespace store_tests;
using testing::RandomBytes;

// Whether `message` names checkpoint `id` ("checkpoint 2" or "id 2").
bool NamesCheckpoint(const std::string& message, CheckpointId id) {
  return Contains(message, "checkpoint " + std::to_string(id)) || Contains(message, "id " + std::to_string(id));
}

void ExpectCheckpointCorrupt(Store& store, CheckpointId bad, const std::string& what) {
  SCOPED_TRACE(what);
  // Listing reads the summary records only (format version 2): a damaged manifest body does not
  // hide the history, but every read of that checkpoint's contents reports it.
  auto list = store.List();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_EQ(list->size(), 2u);
  for (const Selector& which : {Selector::Id(bad), Selector::Latest(), Selector::Step(20)}) {
    SCOPED_TRACE(which.ToString());
    auto d = store.Describe(which);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.status().code(), Code::kCorruption) << d.status().ToString();
    EXPECT_TRUE(NamesCheckpoint(d.status().message(), bad)) << d.status().ToString();
    auto r = store.Restore(which);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
  }
  // Verify does not stop at the undecodable manifest: it reports it as damage to the whole
  // checkpoint (empty tensor, step 0) and still checks the other checkpoints' chunks.
  auto v = store.Verify();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_FALSE(v->ok());
  EXPECT_EQ(v->checkpoints, 2u);
  ASSERT_EQ(v->damage.size(), 1u);
  EXPECT_EQ(v->damage[0].id, bad);
  EXPECT_EQ(v->damage[0].step, 0);
  EXPECT_EQ(v->damage[0].tensor, "");
  EXPECT_FALSE(v->damage[0].problem.empty());
}

TEST(StoreCorruption, MalformedNextIdIsCorruptionAndSavesNothing) {
  TwoCheckpointStore s;
  EditRocksDb(s.dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), h[0], std::string(keys::kNextId), "xyz").ok());
  });
  auto store = MustOpen(s.dir.path());
  ASSERT_TRUE(store);
  auto r = store->Save(Refs(s.first), AtStep(30));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
  EXPECT_TRUE(Contains(r.status().message(), s.dir.path())) << r.status().ToString();
  EXPECT_EQ(MustList(*store).size(), 2u);
}

TEST(StoreCorruption, MalformedNextPackIsCorruptionAndSavesNothing) {
  TwoCheckpointStore s;
  EditRocksDb(s.dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
    std::string next_pack;
    ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), h[0], std::string(keys::kNextPack), &next_pack).ok());
    EXPECT_EQ(next_pack, keys::EncodeU64(2)) << "one save wrote a pack file, so the next pack is 2";
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), h[0], std::string(keys::kNextPack), "bad").ok());
  });
  const Packs packs_before = PackFiles(s.dir.path());
  auto store = MustOpen(s.dir.path());
  ASSERT_TRUE(store);
  auto r = store->Save(Refs({MakeBytes("new", 2 * kChunk, 40)}), AtStep(30));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
  EXPECT_TRUE(Contains(r.status().message(), s.dir.path())) << r.status().ToString();
  EXPECT_TRUE(Contains(r.status().message(), "next_pack")) << r.status().ToString();
  EXPECT_EQ(MustList(*store).size(), 2u);
  EXPECT_EQ(PackFiles(s.dir.path()), packs_before) << "no pack file was written or overwritten";
}

TEST(StoreCorruption, MalformedHeadIsAnErrorNotASilentlyMissingParent) {
  // `head` names the parent of the next checkpoint. If it cannot be decoded, saving must not go
  // ahead and record a checkpoint with no parent as if the store were empty.
  TwoCheckpointStore s;
  EditRocksDb(s.dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), h[0], std::string(keys::kHead), "bad").ok());
  });
  auto store = MustOpen(s.dir.path());
  ASSERT_TRUE(store);
  auto r = store->Save(Refs(s.first), AtStep(30));
  if (r.ok()) {
    ADD_FAILURE() << "saved checkpoint " << r->id << " with parent "
                  << (r->parent ? std::to_string(*r->parent) : std::string("none"))
                  << " although head is unreadable";
  } else {
    EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
    EXPECT_EQ(MustList(*store).size(), 2u);
  }
}

TEST(StoreCorruption, MalformedManifestsAreCorruptionNamingTheCheckpoint) {
  struct Case {
    const char* what;
    std::function<std::string(const std::string& m1, const std::string& m2)> value;
  };
  const Case cases[] = {
      {"garbage", [](const std::string&, const std::string&) { return std::string("this is not a manifest"); }},
      {"empty value", [](const std::string&, const std::string&) { return std::string(); }},
      {"truncated to half", [](const std::string&, const std::string& m2) { return m2.substr(0, m2.size() / 2); }},
      {"truncated by 9 bytes", [](const std::string&, const std::string& m2) { return m2.substr(0, m2.size() - 9); }},
      {"random bytes", [](const std::string&, const std::string& m2) {
         auto r = RandomBytes(99'000'000, m2.size());
         return std::string(r.begin(), r.end());
       }},
      {"checkpoint 1's manifest under id 2", [](const std::string& m1, const std::string&) { return m1; }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    TwoCheckpointStore s;
    std::string m1, m2;
    EditRocksDb(s.dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
      ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), h[1], keys::EncodeU64(1), &m1).ok());
      ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), h[1], keys::EncodeU64(2), &m2).ok());
      rocksdb::WriteOptions wo;
      wo.sync = true;
      ASSERT_TRUE(db.Put(wo, h[1], keys::EncodeU64(2), c.value(m1, m2)).ok());
    });
    auto store = MustOpen(s.dir.path());
    ASSERT_TRUE(store);
    ExpectCheckpointCorrupt(*store, 2, c.what);
    auto v = store->Verify();
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_EQ(v->chunks_checked, 2u) << "checkpoint 1's chunks are still checked";
    EXPECT_EQ(v->bytes_checked, kChunk + 3);
    // The sound checkpoint stays readable by id.
    auto m = store->Describe(Selector::Id(1));
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    ExpectRestores(*store, Selector::Id(1), s.first);
  }
}

TEST(StoreCorruption, AManifestWithAnImpossibleTensorSizeIsCorruption) {
  // A U8 tensor of shape [2^63 - 1, 2] claims 2^64 - 2 bytes and would need 2^48 chunks; this one
  // lists none. Accepting it would make Restore plan 2^48 chunk reads into a buffer whose padded
  // size wraps around. Describe (which every read of its contents goes through) must reject it.
  TwoCheckpointStore s;
  CheckpointManifest m;
  m.chunk_size = kChunk;
  m.info.id = 2;
  m.info.step = 20;
  m.info.parent = 1;
  TensorInfo t;
  t.name = "huge";
  t.dtype = DType::kU8;
  t.shape = {std::numeric_limits<int64_t>::max(), 2};
  t.size_bytes = std::numeric_limits<uint64_t>::max() - 1;
  m.tensors.push_back(t);
  m.info.logical_bytes = t.size_bytes;
  EditRocksDb(s.dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), h[1], keys::EncodeU64(2), schema::EncodeManifest(m)).ok());
  });
  auto store = MustOpen(s.dir.path());
  ASSERT_TRUE(store);
  auto d = store->Describe(Selector::Id(2));
  EXPECT_FALSE(d.ok()) << "described a checkpoint with a 16 EiB tensor and no chunks";
  if (!d.ok()) {
    EXPECT_EQ(d.status().code(), Code::kCorruption) << d.status().ToString();
  }
}

TEST(StoreCorruption, AManifestKeyThatIsNotAnIdIsCorruption) {
  TwoCheckpointStore s;
  EditRocksDb(s.dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), h[1], "abc", "x").ok());
  });
  auto store = MustOpen(s.dir.path());
  ASSERT_TRUE(store);
  auto verify = store->Verify();  // reads every manifest body
  ASSERT_FALSE(verify.ok());
  EXPECT_EQ(verify.status().code(), Code::kCorruption) << verify.status().ToString();
  EXPECT_TRUE(Contains(verify.status().message(), s.dir.path())) << verify.status().ToString();
}

TEST(StoreCorruption, ASummaryKeyThatIsNotAnIdIsCorruption) {
  TwoCheckpointStore s;
  EditRocksDb(s.dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
    ASSERT_EQ(h.size(), 4u) << "a version-2 store has a summaries column family";
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), h[3], "abc", "x").ok());
  });
  auto store = MustOpen(s.dir.path());
  ASSERT_TRUE(store);
  auto list = store->List();
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.status().code(), Code::kCorruption) << list.status().ToString();
  EXPECT_TRUE(Contains(list.status().message(), s.dir.path())) << list.status().ToString();
}

TEST(StoreCorruption, MalformedSummariesAreCorruptionNamingTheCheckpoint) {
  for (const char* what : {"garbage", "empty", "truncated"}) {
    SCOPED_TRACE(what);
    TwoCheckpointStore s;
    EditRocksDb(s.dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
      ASSERT_EQ(h.size(), 4u);
      std::string v;
      ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), h[3], keys::EncodeU64(2), &v).ok());
      const std::string bad = std::string(what) == "garbage" ? std::string("not a flatbuffer at all")
                              : std::string(what) == "empty" ? std::string() : v.substr(0, v.size() / 2);
      ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), h[3], keys::EncodeU64(2), bad).ok());
    });
    auto store = MustOpen(s.dir.path());
    ASSERT_TRUE(store);
    auto list = store->List();
    ASSERT_FALSE(list.ok());
    EXPECT_EQ(list.status().code(), Code::kCorruption) << list.status().ToString();
    EXPECT_TRUE(NamesCheckpoint(list.status().message(), 2)) << list.status().ToString();
    EXPECT_TRUE(Contains(list.status().message(), s.dir.path())) << list.status().ToString();
    auto d = store->Describe(Selector::Id(2));
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.status().code(), Code::kCorruption) << d.status().ToString();
    ExpectRestores(*store, Selector::Id(1), s.first);  // the sound checkpoint stays readable
  }
}

TEST(StoreCorruption, UnreadableStoreMetadataIsCorruptionNamingThePath) {
  const std::pair<const char*, std::string> cases[] = {
      {"garbage", "not a flatbuffer"},
      {"bad chunk size", [] {
         schema::StoreMeta meta;
         meta.chunk_size = 12345;
         return schema::EncodeStoreMeta(meta);
       }()},
      {"future version", [] {
         schema::StoreMeta meta;
         meta.chunk_size = kChunk;
         meta.format_version = 3;
         return schema::EncodeStoreMeta(meta);
       }()},
      {"unknown hash", [] {
         schema::StoreMeta meta;
         meta.chunk_size = kChunk;
         meta.hash = "sha256";
         return schema::EncodeStoreMeta(meta);
       }()},
  };
  for (const auto& [what, value] : cases) {
    SCOPED_TRACE(what);
    TwoCheckpointStore s;
    EditRocksDb(s.dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
      rocksdb::WriteOptions wo;
      wo.sync = true;
      ASSERT_TRUE(db.Put(wo, h[0], std::string(keys::kStoreMeta), value).ok());
    });
    auto r = Store::Open(s.dir.path(), SmallChunks());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
    EXPECT_TRUE(Contains(r.status().message(), s.dir.path())) << r.status().ToString();
  }
}

TEST(StoreCorruption, MissingStoreMetadataInAStoreWithCheckpointsIsCorruption) {
  // Without it the chunk size is unknown; recreating it from the options could cut differently.
  TwoCheckpointStore s;
  EditRocksDb(s.dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    ASSERT_TRUE(db.Delete(wo, h[0], std::string(keys::kStoreMeta)).ok());
  });
  StoreOptions o = SmallChunks();
  o.chunk_size = 1ull << 20;
  auto r = Store::Open(s.dir.path(), o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
  EXPECT_TRUE(Contains(r.status().message(), s.dir.path())) << r.status().ToString();
}

}  // namespace
}  // namespace ckptdb

// Specifies that damaged chunk-index entries (missing, wrong length, malformed, misplaced) are Corruption.
#include "ckptdb/ckptdb.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <boost/filesystem.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "store/keys.h"
#include "tests/support/rocksdb_edit.h"
#include "tests/support/store_fixtures.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

using namespace store_tests;
using testing::ScratchDir;

// Restoring either checkpoint fails with Corruption naming the store, the checkpoint, the tensor
// "victim", its chunk 0 and the chunk's digest, and saying `problem_contains`; Verify reports the
// chunk once per checkpoint, with that problem.
void ExpectVictimDamaged(Store& store, const Digest& victim, const std::string& problem_contains) {
  for (CheckpointId id : {1u, 2u}) {
    SCOPED_TRACE("checkpoint " + std::to_string(id));
    auto r = store.Restore(Selector::Id(id));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
    EXPECT_TRUE(Contains(r.status().message(), store.path())) << r.status().ToString();
    EXPECT_TRUE(Contains(r.status().message(), "'victim'")) << r.status().ToString();
    EXPECT_TRUE(Contains(r.status().message(), "checkpoint " + std::to_string(id))) << r.status().ToString();
    EXPECT_TRUE(Contains(r.status().message(), "chunk 0")) << r.status().ToString();
    EXPECT_TRUE(Contains(r.status().message(), victim.ToHex())) << r.status().ToString();
    EXPECT_TRUE(Contains(r.status().message(), problem_contains)) << r.status().ToString();
  }
  auto report = store.Verify();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(report->damage.size(), 2u);
  for (const Damage& d : report->damage) {
    EXPECT_EQ(d.tensor, "victim");
    EXPECT_EQ(d.chunk_index, 0u);
    EXPECT_EQ(d.chunk, victim);
    EXPECT_TRUE(Contains(d.problem, problem_contains)) << d.problem;
  }
  EXPECT_EQ(report->damage[0].id + report->damage[1].id, 3u) << "checkpoints 1 and 2";
}

TEST(StoreCorruption, AMissingChunkIsCorruptionAndVerifyReportsItMissing) {
  ScratchDir dir;
  std::vector<Owned> ts = {MakeBytes("victim", kChunk, 1), MakeBytes("bystander", 2 * kChunk, 2)};
  const Digest d = SaveTwoCheckpointsSharingAChunk(dir.path(), ts);
  EditRocksDb(dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
    std::string value;
    ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), h[2], keys::ChunkIndexKey(d), &value).ok()) << "no index entry";
    rocksdb::WriteOptions wo;
    wo.sync = true;
    ASSERT_TRUE(db.Delete(wo, h[2], keys::ChunkIndexKey(d)).ok());
  });
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  ExpectVictimDamaged(*store, d, "chunk " + d.ToHex() + " is missing");
  ReadOptions fast;
  fast.verify_chunks = false;
  auto r = store->Restore(Selector::Id(1), fast);
  ASSERT_FALSE(r.ok()) << "a missing chunk is an error even without digest checks";
  EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
}

TEST(StoreCorruption, AChunkOfTheWrongLengthIsCorruption) {
  // The index entry of the victim's 64 KiB chunk claims another length: a packed entry (same pack
  // and offset) claiming fewer or more bytes, or an inline entry holding 10 bytes.
  struct Case {
    const char* what;
    uint64_t length;
    std::function<std::string(const keys::ChunkRef&)> value;
  };
  const Case cases[] = {
      {"packed, 10 bytes", 10, [](const keys::ChunkRef& r) { return keys::EncodePackedChunk(r.pack, r.offset, 10); }},
      {"packed, one byte short", kChunk - 1,
       [](const keys::ChunkRef& r) { return keys::EncodePackedChunk(r.pack, r.offset, kChunk - 1); }},
      {"packed, 4 KiB over", kChunk + 4096,
       [](const keys::ChunkRef& r) { return keys::EncodePackedChunk(r.pack, r.offset, kChunk + 4096); }},
      {"inline, 10 bytes", 10, [](const keys::ChunkRef&) { return keys::EncodeInlineChunk("0123456789", 10); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    ScratchDir dir;
    std::vector<Owned> ts = {MakeBytes("victim", kChunk, 1), MakeBytes("bystander", 2 * kChunk, 2)};
    const Digest d = SaveTwoCheckpointsSharingAChunk(dir.path(), ts);
    EditRocksDb(dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
      std::string value;
      ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), h[2], keys::ChunkIndexKey(d), &value).ok());
      auto ref = keys::DecodeChunkRef(value);
      ASSERT_TRUE(ref.has_value());
      ASSERT_FALSE(ref->is_inline);
      rocksdb::WriteOptions wo;
      wo.sync = true;
      ASSERT_TRUE(db.Put(wo, h[2], keys::ChunkIndexKey(d), c.value(*ref)).ok());
    });
    auto store = MustOpen(dir.path());
    ASSERT_TRUE(store);
    ExpectVictimDamaged(*store, d, "holds " + std::to_string(c.length) + " bytes, expected " + std::to_string(kChunk));
    ReadOptions fast;
    fast.verify_chunks = false;
    auto r = store->Restore(Selector::Id(1), fast);
    ASSERT_FALSE(r.ok()) << "lengths are checked even without digest checks";
    EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
  }
}

TEST(StoreCorruption, AMalformedIndexEntryIsCorruption) {
  const std::pair<const char*, std::string> cases[] = {
      {"3 bytes", std::string("P\0\0", 3)},
      {"empty", ""},
      {"packed entry one byte short", "P" + std::string(23, '\0')},
      {"packed entry one byte long", "P" + std::string(25, '\0')},
      {"unknown kind", "X" + std::string(24, '\0')},
  };
  for (const auto& [what, value] : cases) {
    SCOPED_TRACE(what);
    ScratchDir dir;
    std::vector<Owned> ts = {MakeBytes("victim", kChunk, 1), MakeBytes("bystander", 2 * kChunk, 2)};
    const Digest d = SaveTwoCheckpointsSharingAChunk(dir.path(), ts);
    EditRocksDb(dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
      rocksdb::WriteOptions wo;
      wo.sync = true;
      ASSERT_TRUE(db.Put(wo, h[2], keys::ChunkIndexKey(d), value).ok());
    });
    auto store = MustOpen(dir.path());
    ASSERT_TRUE(store);
    ExpectVictimDamaged(*store, d, "index entry of chunk " + d.ToHex() + " is malformed");
    ReadOptions fast;
    fast.verify_chunks = false;
    auto r = store->Restore(Selector::Id(1), fast);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
    // The bystander's chunks are intact.
    std::vector<uint8_t> by(2 * kChunk);
    std::vector<TensorBuffer> only_bystander = {{"bystander", DType::kU8, {int64_t(2 * kChunk)}, by.data(), by.size()}};
    Status s = store->RestoreInto(Selector::Id(1), only_bystander);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(by, ts[1].bytes);
  }
}

TEST(StoreCorruption, AnIndexEntryPointingElsewhereIsCorruptionWithAndWithoutDirectIo) {
  // The victim's packed entry is rewritten to point at bytes that are not its chunk: one byte
  // further (an offset no save writes, since slots are 4 KiB-aligned), the next slot, past the end
  // of the pack, or a pack that does not exist. Damage in the index is Corruption like damage in the
  // pack, whatever the I/O mode.
  struct Case {
    const char* what;
    std::function<std::string(const keys::ChunkRef&)> value;
    std::string problem;
  };
  const Case cases[] = {
      {"offset + 1", [](const keys::ChunkRef& r) { return keys::EncodePackedChunk(r.pack, r.offset + 1, r.length); },
       ""},
      {"offset + 4096", [](const keys::ChunkRef& r) { return keys::EncodePackedChunk(r.pack, r.offset + 4096, r.length); },
       ""},
      {"past the end", [](const keys::ChunkRef& r) { return keys::EncodePackedChunk(r.pack, 1 << 30, r.length); },
       "ends before offset"},
      {"pack 99", [](const keys::ChunkRef& r) { return keys::EncodePackedChunk(99, r.offset, r.length); },
       "is missing"},
      {"offset 2^63", [](const keys::ChunkRef& r) { return keys::EncodePackedChunk(r.pack, 1ull << 63, r.length); },
       ""},
  };
  for (bool direct : {true, false}) {
    for (const Case& c : cases) {
      SCOPED_TRACE(std::string(c.what) + ", direct=" + std::to_string(direct));
      ScratchDir dir;
      std::vector<Owned> ts = {MakeBytes("victim", kChunk, 1), MakeBytes("bystander", 2 * kChunk, 2)};
      const Digest d = SaveTwoCheckpointsSharingAChunk(dir.path(), ts);
      EditRocksDb(dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
        std::string value;
        ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), h[2], keys::ChunkIndexKey(d), &value).ok());
        auto ref = keys::DecodeChunkRef(value);
        ASSERT_TRUE(ref.has_value());
        rocksdb::WriteOptions wo;
        wo.sync = true;
        ASSERT_TRUE(db.Put(wo, h[2], keys::ChunkIndexKey(d), c.value(*ref)).ok());
      });
      StoreOptions o = SmallChunks();
      o.use_direct_io = direct;
      auto store = MustOpen(dir.path(), o);
      ASSERT_TRUE(store);
      auto r = store->Restore(Selector::Id(2));
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
      EXPECT_TRUE(Contains(r.status().message(), "'victim'")) << r.status().ToString();
      EXPECT_TRUE(Contains(r.status().message(), "checkpoint 2")) << r.status().ToString();
      EXPECT_TRUE(Contains(r.status().message(), c.problem)) << r.status().ToString();
      auto report = store->Verify();
      ASSERT_TRUE(report.ok()) << report.status().ToString();
      ASSERT_EQ(report->damage.size(), 2u);
      for (const Damage& dm : report->damage) EXPECT_EQ(dm.tensor, "victim");
    }
  }
}

// Verify checks the catalog's own files, not only what the manifests reach: a byte flipped in a
// RocksDB table block nothing reads (the inline chunk of a removed, not yet collected checkpoint)
// is damage with id 0 whose problem names the table file.
TEST(StoreCorruption, AFlippedByteInACatalogTableIsDamageNamingTheFile) {
  ScratchDir dir;
  const Owned orphan = MakeBytes("orphan", 20000, 1);  // one chunk, kept inline in the index
  {
    auto store = MustOpen(dir.path());
    ASSERT_TRUE(store);
    MustSave(*store, {orphan});
  }
  {  // opening flushes the last log into tables: the orphan's table holds no other chunk
    auto store = MustOpen(dir.path());
    ASSERT_TRUE(store);
    MustSave(*store, {MakeBytes("live", 100, 2)});
    ASSERT_TRUE(store->Remove(Selector::Id(1)).ok());
  }
  MustOpen(dir.path()).reset();
  const std::string pattern(orphan.bytes.begin() + 8000, orphan.bytes.begin() + 8064);
  int hits = 0;
  for (boost::filesystem::directory_iterator it(dir.path() + "/db"), end; it != end; ++it) {
    if (it->path().extension() != ".sst") continue;
    std::string bytes = testing::ReadFileOrDie(it->path().string());
    for (size_t at = bytes.find(pattern); at != std::string::npos; at = bytes.find(pattern, at + 1), ++hits) {
      bytes[at + 10] ^= 0x20;
      testing::WriteFileOrDie(it->path().string(), bytes);
    }
  }
  ASSERT_EQ(hits, 1);
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  auto report = store->Verify();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(report->damage.size(), 1u);
  EXPECT_EQ(report->damage[0].id, 0u);
  EXPECT_EQ(report->damage[0].tensor, "");
  EXPECT_TRUE(Contains(report->damage[0].problem, ".sst")) << report->damage[0].problem;
  EXPECT_TRUE(Contains(report->damage[0].problem, "catalog")) << report->damage[0].problem;
  auto back = store->Restore(Selector::Id(2));  // the checkpoints themselves are sound
  EXPECT_TRUE(back.ok()) << back.status().ToString();
}

}  // namespace
}  // namespace ckptdb

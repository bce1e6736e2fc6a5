// Specifies pack files and the chunk index on disk: 4 KiB-aligned slots, inline short chunks, reused packs.
#include "ckptdb/ckptdb.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "store/keys.h"
#include "tests/support/rocksdb_edit.h"
#include "tests/support/store_fixtures.h"
#include "tests/support/store_layout.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

using namespace store_tests;
using testing::ScratchDir;

// The chunk index, read straight from the store's RocksDB: key -> value, in key order.
std::map<std::string, std::string> ReadChunkIndex(const std::string& store) {
  std::map<std::string, std::string> out;
  EditRocksDb(store, [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions(), h[2]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) out[it->key().ToString()] = it->value().ToString();
    ASSERT_TRUE(it->status().ok()) << it->status().ToString();
  });
  return out;
}

TEST(StorePacks, TheIndexNamesAlignedPackSlotsOrHoldsShortChunksInline) {
  ScratchDir dir;
  // big: two 64 KiB chunks and a 40000-byte tail (>= 32 KiB: packed, in a 40960-byte slot);
  // at_limit: exactly 32 KiB (packed); below: 32 KiB - 1 (inline); tiny: 1 byte (inline).
  const std::vector<Owned> ts = {MakeBytes("big", 2 * kChunk + 40000, 1), MakeBytes("at_limit", 32 << 10, 2),
                                 MakeBytes("below", (32 << 10) - 1, 3), MakeBytes("tiny", 1, 4)};
  ASSERT_EQ(keys::kInlineChunkMax, uint64_t{32} << 10);
  {
    auto store = MustOpen(dir.path());
    ASSERT_TRUE(store);
    CheckpointInfo info = MustSave(*store, ts);
    EXPECT_EQ(info.new_bytes, info.logical_bytes) << "inline bytes count as new bytes too";
  }
  const uint64_t packed_bytes = 2 * kChunk + 40960 + (32 << 10);
  ASSERT_EQ(PackFiles(dir.path()), (Packs{{PackName(1), packed_bytes}}));
  const std::string pack = testing::ReadFileOrDie(PackFile(dir.path(), 1));

  struct Want {
    const Owned* tensor;
    uint64_t offset, length;
  };
  const std::vector<Want> chunks = {{&ts[0], 0, kChunk}, {&ts[0], kChunk, kChunk}, {&ts[0], 2 * kChunk, 40000},
                                    {&ts[1], 0, 32 << 10}, {&ts[2], 0, (32 << 10) - 1}, {&ts[3], 0, 1}};
  const auto index = ReadChunkIndex(dir.path());
  EXPECT_EQ(index.size(), chunks.size()) << "one 'i' + digest entry per distinct chunk, nothing else";
  std::map<uint64_t, uint64_t> slots;  // offset -> length of each packed chunk
  for (const Want& w : chunks) {
    SCOPED_TRACE(w.tensor->name + " at " + std::to_string(w.offset));
    const uint8_t* bytes = w.tensor->bytes.data() + w.offset;
    const Digest d = HashBytes(bytes, w.length);
    const std::string key = keys::ChunkIndexKey(d);
    ASSERT_EQ(key.size(), 33u);
    EXPECT_EQ(key[0], 'i');
    EXPECT_EQ(0, std::memcmp(key.data() + 1, d.bytes.data(), 32));
    auto it = index.find(key);
    ASSERT_NE(it, index.end());
    const std::string& value = it->second;
    if (w.length < (32u << 10)) {
      // 'W' + codec 0 + raw length (8 bytes big-endian) + the chunk's bytes.
      ASSERT_EQ(value.size(), 10 + w.length);
      EXPECT_EQ(value[0], 'W');
      EXPECT_EQ(value[1], '\0');
      EXPECT_EQ(keys::DecodeU64(value.substr(2, 8)), std::optional<uint64_t>(w.length));
      EXPECT_EQ(0, std::memcmp(value.data() + 10, bytes, w.length));
      continue;
    }
    // 'Q' + codec 0 + pack id + offset + stored length + raw length, 8 bytes big-endian each.
    ASSERT_EQ(value.size(), 34u);
    EXPECT_EQ(value[0], 'Q');
    EXPECT_EQ(value[1], '\0');
    EXPECT_EQ(keys::DecodeU64(value.substr(2, 8)), std::optional<uint64_t>(1));
    const uint64_t offset = keys::DecodeU64(value.substr(10, 8)).value_or(~0ull);
    EXPECT_EQ(keys::DecodeU64(value.substr(18, 8)), std::optional<uint64_t>(w.length));
    EXPECT_EQ(keys::DecodeU64(value.substr(26, 8)), std::optional<uint64_t>(w.length));
    EXPECT_EQ(offset % 4096, 0u);
    const uint64_t slot = (w.length + 4095) / 4096 * 4096;
    ASSERT_LE(offset + slot, pack.size());
    EXPECT_EQ(0, std::memcmp(pack.data() + offset, bytes, w.length)) << "the pack holds the chunk's bytes";
    EXPECT_EQ(pack.substr(offset + w.length, slot - w.length), std::string(slot - w.length, '\0'))
        << "the slot is zero-padded to 4 KiB";
    slots[offset] = slot;
  }
  // The slots tile the pack file: no overlap, no gap.
  uint64_t end = 0;
  for (const auto& [offset, slot] : slots) {
    EXPECT_EQ(offset, end);
    end = offset + slot;
  }
  EXPECT_EQ(end, pack.size());
  // The next save that writes chunks uses pack 2.
  EditRocksDb(dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
    std::string next_pack;
    ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), h[0], std::string(keys::kNextPack), &next_pack).ok());
    EXPECT_EQ(next_pack, keys::EncodeU64(2));
  });
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  ExpectRestores(*store, Selector::Latest(), ts);
  ExpectRestoresInto(*store, Selector::Latest(), ts);
}

// Every packed chunk's slot padding, in every pack, is zero. Returns how many slots it checked.
size_t ExpectZeroPadding(const std::string& store) {
  size_t checked = 0;
  std::map<uint64_t, std::string> packs;
  for (const auto& [key, value] : ReadChunkIndex(store)) {
    if (value.empty() || value[0] != 'Q') continue;
    const uint64_t pack = keys::DecodeU64(value.substr(2, 8)).value_or(0);
    const uint64_t offset = keys::DecodeU64(value.substr(10, 8)).value_or(0);
    const uint64_t length = keys::DecodeU64(value.substr(18, 8)).value_or(0);
    if (!packs.count(pack)) packs[pack] = testing::ReadFileOrDie(PackFile(store, pack));
    const uint64_t slot = (length + 4095) / 4096 * 4096;
    EXPECT_LE(offset + slot, packs[pack].size());
    EXPECT_EQ(packs[pack].substr(offset + length, slot - length), std::string(slot - length, '\0'))
        << "pack " << pack << " offset " << offset;
    ++checked;
  }
  return checked;
}

TEST(StorePacks, AnAsynchronousSaveZeroesThePaddingItsStagingMemoryDidNotHave) {
  // Staging is one 64 MiB block, reused: the first state fills it with random bytes, the second's
  // 40000-byte chunks are staged 40960 bytes apart over them and written from it in place.
  ScratchDir dir;
  StoreOptions o = SmallChunks();
  o.staging_bytes = 64ull << 20;
  auto store = MustOpen(dir.path(), o);
  ASSERT_TRUE(store);
  const std::vector<Owned> first = {MakeBytes("noise", 8ull << 20, 1)};
  EXPECT_EQ(MustSaveAsync(*store, first, AtStep(1)).step, 1);
  std::vector<Owned> second;
  for (int i = 0; i < 64; ++i) second.push_back(MakeBytes("t" + std::to_string(i), 40000, 10 + i));
  EXPECT_EQ(MustSaveAsync(*store, second, AtStep(2)).step, 2);
  store.reset();  // the index is read straight from RocksDB
  EXPECT_EQ(ExpectZeroPadding(dir.path()), 8ull * 16 + 64) << "the noise's 64 KiB chunks and the 64 slots";
  store = MustOpen(dir.path(), o);
  ASSERT_TRUE(store);
  ExpectRestores(*store, Selector::Step(2), second);
  ExpectRestores(*store, Selector::Step(1), first);
}

TEST(StorePacks, TensorsOfOnlyShortChunksCreateNoPackFile) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  std::vector<Owned> ts = {MakeBytes("one", 1, 1), MakeTensor("f32", DType::kF32, {7, 11}, 2),
                           MakeBytes("below_limit", (32 << 10) - 1, 3), MakeTensor("scalar", DType::kF64, {}, 4),
                           MakeTensor("empty", DType::kF32, {0}, 5)};
  CheckpointInfo first = MustSave(*store, ts, AtStep(1));
  EXPECT_EQ(first.new_bytes, first.logical_bytes);
  EXPECT_TRUE(PackFiles(dir.path()).empty()) << "chunks under 32 KiB live inline in the index";
  ExpectRestores(*store, Selector::Latest(), ts);
  ExpectRestoresInto(*store, Selector::Latest(), ts);
  // Inline chunks dedup like packed ones.
  EXPECT_EQ(MustSave(*store, ts, AtStep(2)).new_bytes, 0u);
  ts[1].bytes[5] ^= 1;
  EXPECT_EQ(MustSave(*store, ts, AtStep(3)).new_bytes, 7u * 11 * 4);
  EXPECT_TRUE(PackFiles(dir.path()).empty());
  // They survive a reopen, and Verify checks them.
  store.reset();
  store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  ExpectRestores(*store, Selector::Step(3), ts);
  auto report = store->Verify();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->ok());
  EXPECT_EQ(report->chunks_checked, 5u);
  EXPECT_TRUE(PackFiles(dir.path()).empty());
}

TEST(StorePacks, AFailedSaveDeletesThePackItWroteAndTheNextSaveReusesItsId) {
  // A save that fails after writing its pack file (here: next_id is unreadable, which the save
  // finds only when it is about to commit) commits nothing and deletes the pack it wrote (a full
  // disk gets its space back at once), so next_pack does not advance; the next save that writes
  // chunks reuses that pack id instead of leaking a file or an id per failure.
  TwoCheckpointStore s;  // checkpoint 1 wrote pack 1; checkpoint 2 is all inline
  ASSERT_EQ(PackFiles(s.dir.path()), (Packs{{PackName(1), kChunk}}));
  EditRocksDb(s.dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), h[0], std::string(keys::kNextId), "xyz").ok());
  });
  const std::string pack1 = testing::ReadFileOrDie(PackFile(s.dir.path(), 1));
  const std::vector<Owned> failed = {MakeBytes("failed", 3 * kChunk, 60)};
  {
    auto store = MustOpen(s.dir.path());
    ASSERT_TRUE(store);
    auto r = store->Save(Refs(failed), AtStep(30));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
    EXPECT_EQ(MustList(*store).size(), 2u);
  }
  EXPECT_EQ(PackFiles(s.dir.path()), (Packs{{PackName(1), kChunk}})) << "the failed save's pack 2 is gone";

  EditRocksDb(s.dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), h[0], std::string(keys::kNextId), keys::EncodeU64(3)).ok());
  });
  auto store = MustOpen(s.dir.path());
  ASSERT_TRUE(store);
  // A save of one new chunk reuses pack 2's id.
  const std::vector<Owned> third = {MakeBytes("third", kChunk, 61)};
  CheckpointInfo info3 = MustSave(*store, third, AtStep(30));
  EXPECT_EQ(info3.id, 3u);
  EXPECT_EQ(info3.new_bytes, kChunk);
  EXPECT_EQ(PackFiles(s.dir.path()), (Packs{{PackName(1), kChunk}, {PackName(2), kChunk}}));
  EXPECT_EQ(testing::ReadFileOrDie(PackFile(s.dir.path(), 1)), pack1);
  // Nothing of the failed save counts as stored: saving its state again writes all of it, to pack 3.
  CheckpointInfo info4 = MustSave(*store, failed, AtStep(40));
  EXPECT_EQ(info4.new_bytes, 3 * kChunk);
  EXPECT_EQ(PackFiles(s.dir.path()),
            (Packs{{PackName(1), kChunk}, {PackName(2), kChunk}, {PackName(3), 3 * kChunk}}));
  ExpectRestores(*store, Selector::Id(1), s.first);
  ExpectRestores(*store, Selector::Id(2), s.second);
  ExpectRestores(*store, Selector::Id(3), third);
  ExpectRestores(*store, Selector::Id(4), failed);
  auto report = store->Verify();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->ok());
}

}  // namespace
}  // namespace ckptdb

// Specifies content-addressed dedup in Store: unchanged, changed, tied and repeated chunks are stored once.
#include "ckptdb/ckptdb.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "tests/support/store_fixtures.h"
#include "tests/support/store_layout.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

using namespace store_tests;
using testing::DirectoryBytes;
using testing::RandomBytes;
using testing::ScratchDir;

TEST(StoreDedup, SavingTheSameStateTwiceAddsNoChunkBytes) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  std::vector<Owned> ts = {MakeBytes("a", 6 * kChunk + 5, 1), MakeTensor("b", DType::kF32, {50000}, 2),
                           MakeTensor("c", DType::kI8, {3}, 3)};
  CheckpointInfo first = MustSave(*store, ts, AtStep(1));
  const uint64_t logical = 6 * kChunk + 5 + 200000 + 3;
  EXPECT_EQ(first.logical_bytes, logical);
  EXPECT_EQ(first.new_bytes, logical);

  // Chunks of 32 KiB and more go to the save's pack file, each in its own 4 KiB-aligned slot:
  // here a's 6 full chunks and b's 3 (b's 3392-byte tail, a's 5-byte tail and c stay inline in
  // the index), all 64 KiB, so the one pack file holds exactly 9 chunks.
  const Packs packs_before = PackFiles(dir.path());
  EXPECT_EQ(packs_before, (Packs{{PackName(1), 9 * kChunk}}));
  const std::string pack_bytes_before = testing::ReadFileOrDie(PackFile(dir.path(), 1));
  const uint64_t ssts_before = BytesOfFilesEndingWith(DbDir(dir.path()), ".sst");
  const uint64_t dir_before = DirectoryBytes(dir.path());

  CheckpointInfo second = MustSave(*store, ts, AtStep(2));
  EXPECT_EQ(second.new_bytes, 0u);
  EXPECT_EQ(second.logical_bytes, logical);
  // Nothing new is written: no new pack file, the existing one is unchanged byte for byte, and no
  // SST is written. The directory as a whole grows only by the synced WAL record of the manifest,
  // next_id and head (well under a KiB here) and possibly a few RocksDB LOG lines; the 16 KiB
  // slack is a quarter of one chunk, so a single rewritten chunk would exceed it.
  EXPECT_EQ(PackFiles(dir.path()), packs_before);
  EXPECT_EQ(testing::ReadFileOrDie(PackFile(dir.path(), 1)), pack_bytes_before);
  EXPECT_EQ(BytesOfFilesEndingWith(DbDir(dir.path()), ".sst"), ssts_before);
  EXPECT_LE(DirectoryBytes(dir.path()), dir_before + 16 * 1024);

  // The index survives a reopen: the same state still adds nothing.
  store.reset();
  store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  CheckpointInfo third = MustSave(*store, ts, AtStep(3));
  EXPECT_EQ(third.new_bytes, 0u);
  EXPECT_EQ(PackFiles(dir.path()), packs_before);
  ExpectRestores(*store, Selector::Id(first.id), ts);
  ExpectRestores(*store, Selector::Id(third.id), ts);
}

TEST(StoreDedup, ChangingOneChunkOfOneTensorAddsExactlyThatChunk) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  std::vector<Owned> ts = {MakeBytes("big", 4 * kChunk, 1), MakeBytes("other", 2 * kChunk, 2),
                           MakeTensor("small", DType::kF16, {10}, 3)};
  CheckpointInfo first = MustSave(*store, ts);
  auto before = store->Describe(Selector::Id(first.id));
  ASSERT_TRUE(before.ok());
  // big's 4 and other's 2 chunks are packed; small's 20 bytes are inline.
  ASSERT_EQ(PackFiles(dir.path()), (Packs{{PackName(1), 6 * kChunk}}));
  const std::string pack1 = testing::ReadFileOrDie(PackFile(dir.path(), 1));

  std::vector<Owned> changed = ts;
  changed[0].bytes[2 * kChunk + 12345] ^= 0x5A;  // inside chunk 2 of "big"
  CheckpointInfo second = MustSave(*store, changed);
  EXPECT_EQ(second.new_bytes, kChunk);
  EXPECT_EQ(second.logical_bytes, first.logical_bytes);

  auto after = store->Describe(Selector::Id(second.id));
  ASSERT_TRUE(after.ok());
  for (size_t k = 0; k < 4; ++k) {
    if (k == 2) EXPECT_NE(after->tensors[0].chunks[k], before->tensors[0].chunks[k]);
    else EXPECT_EQ(after->tensors[0].chunks[k], before->tensors[0].chunks[k]) << "chunk " << k;
  }
  EXPECT_EQ(after->tensors[1].chunks, before->tensors[1].chunks);
  EXPECT_EQ(after->tensors[2].chunks, before->tensors[2].chunks);
  // On disk: one new pack file holding exactly the one 64 KiB chunk (a 4 KiB-aligned slot, so no
  // padding), and the first pack untouched: packs are append-only and never rewritten.
  EXPECT_EQ(PackFiles(dir.path()),
            (Packs{{PackName(1), 6 * kChunk}, {PackName(2), kChunk}}));
  EXPECT_EQ(testing::ReadFileOrDie(PackFile(dir.path(), 1)), pack1);
  const std::string pack2 = testing::ReadFileOrDie(PackFile(dir.path(), 2));
  EXPECT_TRUE(pack2.size() == kChunk && std::memcmp(pack2.data(), changed[0].bytes.data() + 2 * kChunk, kChunk) == 0)
      << "the new pack holds the changed chunk's bytes";

  ExpectRestores(*store, Selector::Id(first.id), ts);
  ExpectRestores(*store, Selector::Id(second.id), changed);
}

TEST(StoreDedup, ChangingTheShortLastChunkAddsOnlyItsBytes) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  std::vector<Owned> ts = {MakeBytes("w", 3 * kChunk + 100, 1)};
  MustSave(*store, ts);
  ts[0].bytes.back() ^= 1;
  EXPECT_EQ(MustSave(*store, ts).new_bytes, 100u);
  ExpectRestores(*store, Selector::Latest(), ts);
}

TEST(StoreDedup, TiedWeightsInOneCheckpointAreStoredOnce) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  Owned embed = MakeBytes("embed.weight", 3 * kChunk + 7, 1);
  Owned head = embed;
  head.name = "lm_head.weight";
  Owned as_f32 = embed;  // the same bytes under another dtype and shape are the same chunks
  as_f32.name = "as_f32";
  as_f32.bytes.resize(3 * kChunk);
  as_f32.dtype = DType::kF32;
  as_f32.shape = {3, int64_t(kChunk) / 4};
  std::vector<Owned> ts = {embed, head, as_f32};
  CheckpointInfo info = MustSave(*store, ts);
  EXPECT_EQ(info.logical_bytes, 2 * (3 * kChunk + 7) + 3 * kChunk);
  EXPECT_EQ(info.new_bytes, 3 * kChunk + 7) << "one copy of the tied weights";
  ExpectRestores(*store, Selector::Latest(), ts);
}

TEST(StoreDedup, IdenticalChunksInsideOneTensorAreStoredOnce) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  Owned zeros{"zeros", DType::kF32, {int64_t(8 * kChunk / 4)}, std::vector<uint8_t>(8 * kChunk, 0)};
  CheckpointInfo info = MustSave(*store, {zeros});
  EXPECT_EQ(info.logical_bytes, 8 * kChunk);
  EXPECT_EQ(info.new_bytes, kChunk);

  // A B A B A: two distinct chunks plus a distinct short tail.
  Owned pattern = MakeBytes("abab", 4 * kChunk + 10, 0);
  auto a = RandomBytes(11'000'000, kChunk), b = RandomBytes(12'000'000, kChunk);
  for (int k = 0; k < 4; ++k) std::memcpy(pattern.bytes.data() + k * kChunk, (k % 2 ? b : a).data(), kChunk);
  std::memcpy(pattern.bytes.data() + 4 * kChunk, a.data(), 10);
  CheckpointInfo second = MustSave(*store, {pattern});
  EXPECT_EQ(second.new_bytes, 2 * kChunk + 10);
  ExpectRestores(*store, Selector::Id(info.id), {zeros});
  ExpectRestores(*store, Selector::Id(second.id), {pattern});
}

}  // namespace
}  // namespace ckptdb

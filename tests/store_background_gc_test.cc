// Background garbage collection after rotation (StoreOptions::background_gc): a trainer that only
// saves, with max_to_keep set, keeps its disk usage bounded without ever calling CollectGarbage.

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "ckptdb/ckptdb.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

constexpr uint64_t kChunk = 64 << 10;
constexpr uint64_t kBytes = 64 * kChunk;  // 4 MiB per checkpoint, all of it new each time

class BackgroundGcTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> Open(bool background) {
    StoreOptions o;
    o.chunk_size = kChunk;
    o.background_gc = background;
    auto s = Store::Open(path_, o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }
  // Saves `n` checkpoints of entirely fresh bytes (steps from `first`), as a trainer whose weights
  // all change would; returns the last one's bytes.
  std::vector<uint8_t> SaveFresh(Store& store, int n, int first = 1) {
    std::vector<uint8_t> w(kBytes);
    for (int i = 0; i < n; ++i) {
      testing::FillRandom(1000 + first + i, w.data(), w.size());
      TensorRef t{"w", DType::kU8, {int64_t(w.size())}, w.data(), w.size()};
      SaveOptions so;
      so.step = first + i;
      EXPECT_TRUE(store.Save({&t, 1}, so).ok());
    }
    return w;
  }
  uint64_t PackBytes() { return testing::AllocatedBytes(path_ + "/packs"); }

  testing::ScratchDir dir_;
  const std::string path_ = dir_.Join("store");
};

TEST_F(BackgroundGcTest, RotationReclaimsDiskWithoutAnExplicitCollection) {
  auto store = Open(true);
  RetentionPolicy p;
  p.max_to_keep = 2;
  ASSERT_TRUE(store->SetRetention(p).ok());
  const auto last = SaveFresh(*store, 10);
  ASSERT_TRUE(store->WaitForBackgroundWork().ok());
  ASSERT_EQ(store->List()->size(), 2u);
  // Two live checkpoints of 4 MiB each; ten were written.
  EXPECT_LE(PackBytes(), 1.15 * 2 * kBytes);
  // Nothing is left for an explicit collection to do.
  auto gc = store->CollectGarbage();
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->reclaimed_bytes, 0u);
  EXPECT_EQ(gc->live_bytes, 2 * kBytes);
  auto back = store->Restore(Selector::Latest());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(std::memcmp((*back)[0].bytes.data(), last.data(), kBytes), 0);
}

// Each save changes ~10% of the chunks, so every collection sees only a little fresh garbage per
// pack. Garbage an earlier collection dropped from the index must still count, or it piles up
// below any per-collection threshold where no later collection sees it (the retention benchmark
// caught 1.6x). The background keeps within 1.5x live; an explicit collection compacts to 1.15x.
TEST_F(BackgroundGcTest, DiskStaysNearLiveBytesAfterEveryCollectionWhenFewChunksChange) {
  auto store = Open(true);
  RetentionPolicy p;
  p.max_to_keep = 3;
  ASSERT_TRUE(store->SetRetention(p).ok());
  std::vector<uint8_t> w = testing::RandomBytes(7, kBytes);
  std::mt19937 rng(11);
  for (int i = 1; i <= 30; ++i) {
    for (int k = 0; k < 6; ++k)
      testing::FillRandom(100 * i + k, w.data() + (rng() % (kBytes / kChunk)) * kChunk, kChunk);
    TensorRef t{"w", DType::kU8, {int64_t(w.size())}, w.data(), w.size()};
    SaveOptions so;
    so.step = i;
    ASSERT_TRUE(store->Save({&t, 1}, so).ok());
    ASSERT_TRUE(store->WaitForBackgroundWork().ok());
    auto space = store->Space();
    ASSERT_TRUE(space.ok()) << space.status().ToString();
    if (i > 3) {
      EXPECT_LE(PackBytes(), 1.5 * space->unique_bytes) << "after save " << i;
    }
  }
  auto gc = store->CollectGarbage();
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_LE(PackBytes(), 1.15 * store->Space()->unique_bytes);
  auto back = store->Restore(Selector::Latest());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(std::memcmp((*back)[0].bytes.data(), w.data(), kBytes), 0);
  EXPECT_TRUE(store->Verify()->ok());
}

TEST_F(BackgroundGcTest, WithoutItRotatedChunksStayUntilCollectGarbage) {
  auto store = Open(false);
  RetentionPolicy p;
  p.max_to_keep = 2;
  ASSERT_TRUE(store->SetRetention(p).ok());
  SaveFresh(*store, 10);
  ASSERT_TRUE(store->WaitForBackgroundWork().ok());
  ASSERT_EQ(store->List()->size(), 2u);
  EXPECT_GE(PackBytes(), 10 * kBytes);
  auto gc = store->CollectGarbage();
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_GE(gc->reclaimed_bytes, 8 * kBytes);
  EXPECT_TRUE(gc->checkpoints_removed.empty());  // the saves had already retired them
  EXPECT_LE(PackBytes(), 1.15 * 2 * kBytes);
}

TEST_F(BackgroundGcTest, ClosingTheStoreFinishesARequestedCollection) {
  {
    auto store = Open(true);
    RetentionPolicy p;
    p.max_to_keep = 1;
    ASSERT_TRUE(store->SetRetention(p).ok());
    SaveFresh(*store, 4);
  }  // closed at once, with the last rotation's collection requested or running
  EXPECT_LE(PackBytes(), 1.15 * kBytes);
  auto store = Open(false);
  EXPECT_EQ(store->List()->size(), 1u);
  EXPECT_TRUE(store->Verify()->ok());
}

TEST_F(BackgroundGcTest, SavesWithoutRotationStartNoCollection) {
  auto store = Open(true);
  SaveFresh(*store, 3);  // no policy: nothing retired, nothing to collect
  ASSERT_TRUE(store->WaitForBackgroundWork().ok());
  EXPECT_GE(PackBytes(), 3 * kBytes);
  ASSERT_TRUE(store->Remove(Selector::Id(1)).ok());  // an explicit rm leaves collection to the caller
  ASSERT_TRUE(store->WaitForBackgroundWork().ok());
  EXPECT_GE(PackBytes(), 3 * kBytes);
}

}  // namespace
}  // namespace ckptdb

// Specifies StagingLayout and StagingBlocksFor: where a capture puts each chunk in staging memory,
// and the block count ReserveStaging takes from it.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "store/staging_layout.h"

namespace ckptdb {
namespace {

constexpr uint64_t kBlock = 64 << 10;

TEST(StagingLayout, PutsChunksPageAlignedInOrderAndOpensABlockWhenOneDoesNotFit) {
  StagingLayout layout(kBlock);
  EXPECT_EQ(layout.blocks(), 0u);
  StagingLayout::Place a = layout.Next(100);
  EXPECT_TRUE(a.new_block);
  EXPECT_EQ(a.offset, 0u);
  StagingLayout::Place b = layout.Next(4096);
  EXPECT_FALSE(b.new_block);
  EXPECT_EQ(b.offset, 4096u) << "the 100-byte chunk takes a whole page";
  StagingLayout::Place c = layout.Next(kBlock - 2 * 4096);
  EXPECT_FALSE(c.new_block) << "fills the block exactly";
  EXPECT_EQ(c.offset, 2 * 4096u);
  StagingLayout::Place d = layout.Next(1);
  EXPECT_TRUE(d.new_block);
  EXPECT_EQ(d.offset, 0u);
  EXPECT_EQ(layout.blocks(), 2u);
  StagingLayout::Place e = layout.Next(kBlock);
  EXPECT_TRUE(e.new_block) << "a whole block does not fit after one byte";
  EXPECT_EQ(layout.blocks(), 3u);
}

TEST(StagingBlocksFor, ChunksEachTensorAsTheStoreDoesAndCountsTails) {
  // A 40 KiB chunk size: a 100 KiB tensor is chunks of 40, 40 and 20 KiB; the second 40 does not
  // fit after the first in a 64 KiB block.
  const std::vector<uint64_t> one = {100 << 10};
  EXPECT_EQ(StagingBlocksFor(one, 40 << 10, kBlock, 100), 2u);
  const std::vector<uint64_t> none = {0, 0};
  EXPECT_EQ(StagingBlocksFor(none, 40 << 10, kBlock, 100), 0u) << "empty tensors stage nothing";
  std::vector<uint64_t> small(16, 4097);  // 8 KiB each once aligned: 2 blocks, not 1
  EXPECT_EQ(StagingBlocksFor(small, 40 << 10, kBlock, 100), 2u);
}

TEST(StagingBlocksFor, StopsCountingAtTheCap) {
  const std::vector<uint64_t> huge = {UINT64_MAX, UINT64_MAX};
  EXPECT_EQ(StagingBlocksFor(huge, 4096, kBlock, 7), 7u) << "returns at once, not after 2^52 chunks";
}

}  // namespace
}  // namespace ckptdb

#include "store/staging_layout.h"

#include "store/pack_file.h"
#include "store/store_impl.h"

namespace ckptdb {

StagingLayout::Place StagingLayout::Next(uint64_t length) {
  const uint64_t need = PackPadded(length);
  if (blocks_ == 0 || used_ + need > block_bytes_) {
    ++blocks_;
    used_ = need;
    return {true, 0};
  }
  const uint64_t at = used_;
  used_ += need;
  return {false, at};
}

uint64_t StagingBlocksFor(std::span<const uint64_t> tensor_bytes, uint64_t chunk_size, uint64_t block_bytes,
                          uint64_t max_blocks) {
  StagingLayout layout(block_bytes);
  for (uint64_t bytes : tensor_bytes)
    for (uint64_t i = 0, n = ChunkCount(bytes, chunk_size); i < n; ++i) {  // as PlanChunks cuts them
      layout.Next(ChunkLength(bytes, i, chunk_size));
      if (layout.blocks() > max_blocks) return max_blocks;
    }
  return layout.blocks();
}

}  // namespace ckptdb

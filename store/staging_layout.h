// Where an asynchronous save's capture puts each chunk it copies in staging memory. One place
// decides it so that ReserveStaging takes exactly the blocks the first capture of a state will use:
// counting the state's bytes alone fell short by the alignment and the unused block tails (on the
// benchmark's 2.2 GB state, two 64 MiB blocks faulted in during the capture, +0.13 s of stall).
#pragma once

#include <cstdint>
#include <span>

namespace ckptdb {

// Chunks laid out in the order they come, each taking what its pack slot takes (PackPadded: whole
// pages, so that it starts page-aligned and an O_DIRECT write takes it in place), in the current
// block, or at the start of a new block when it does not fit in what is left.
// REQUIRES: every length <= block_bytes (a block holds at least one chunk of the store's size).
class StagingLayout {
 public:
  explicit StagingLayout(uint64_t block_bytes) : block_bytes_(block_bytes) {}

  struct Place {
    bool new_block;   // the chunk opens a block (the first chunk always does)
    uint64_t offset;  // within its block
  };
  Place Next(uint64_t length);

  uint64_t blocks() const { return blocks_; }

 private:
  uint64_t block_bytes_;
  uint64_t blocks_ = 0;
  uint64_t used_ = 0;  // bytes of the current block laid out
};

// How many blocks a capture of tensors of these sizes (in bytes, in save order) takes, chunked
// as the store chunks them, or `max_blocks` if more (counting stops there: a pool never holds
// more, and a size near 2^64 is not walked chunk by chunk).
uint64_t StagingBlocksFor(std::span<const uint64_t> tensor_bytes, uint64_t chunk_size, uint64_t block_bytes,
                          uint64_t max_blocks);

}  // namespace ckptdb

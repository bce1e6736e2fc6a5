// StagingPool: the staging memory of a store's asynchronous saves, as equal blocks taken from a
// StagingAllocator when first needed and then kept and reused until the store closes, never more
// than a cap in all. A capture fills blocks with chunk copies and hands each filled block to the
// persist, which gives it back once its chunks are written.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "ckptdb/status.h"
#include "store/save_stages.h"

namespace ckptdb {

class StagingPool {
 public:
  // Blocks of `block_bytes` (a multiple of 4 KiB), at most `cap_bytes` in all (at least one block).
  StagingPool(std::unique_ptr<StagingAllocator> allocator, uint64_t block_bytes, uint64_t cap_bytes);
  ~StagingPool();  // frees every block; REQUIRES: all given back
  StagingPool(const StagingPool&) = delete;
  StagingPool& operator=(const StagingPool&) = delete;

  // A free block, or a new one while the cap allows (allocated and touched outside the pool's
  // lock); nullopt when every block is in use. ResourceExhausted if allocation fails.
  Result<std::optional<uint8_t*>> TryTake();
  // As TryTake, but waits for a block to be given back while every block is in use.
  Result<uint8_t*> Take();
  void Give(uint8_t* block);
  // Allocates blocks until at least `bytes` (at most the cap) are allocated, counting blocks in use;
  // ResourceExhausted if allocation fails (the blocks allocated so far stay).
  Status Reserve(uint64_t bytes);

  uint64_t block_bytes() const { return block_bytes_; }
  uint64_t cap_bytes() const { return max_blocks_ * block_bytes_; }
  uint64_t allocated_bytes() const;

 private:
  const std::unique_ptr<StagingAllocator> allocator_;
  const uint64_t block_bytes_;
  const uint64_t max_blocks_;
  mutable std::mutex mu_;
  std::condition_variable given_;  // Give put a block back
  std::vector<uint8_t*> all_;   // every block allocated
  std::vector<uint8_t*> free_;  // those not in use
  uint64_t reserved_ = 0;       // blocks allocated or being allocated
};

// The default cap on a store's staging memory (StoreOptions::staging_bytes = 0): a quarter of the
// machine's physical memory, at most 4 GiB.
uint64_t DefaultStagingBytes();

}  // namespace ckptdb

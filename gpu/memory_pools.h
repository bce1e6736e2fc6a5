// The memory the GPU path keeps between saves (internal to gpu/): pinned one-chunk buffers through
// which a persist copies new chunks to the host, and regions of device or pinned memory that
// asynchronous captures fill. Pinning and device allocation cost far more than the copies they
// serve (cudaHostAlloc pins at a few GB/s), so both are allocated when first needed and reused.
// Thread safety: every method may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "ckptdb/status.h"

namespace ckptdb::gpu {

// At most `limit` pinned host buffers of `bytes` each, made when first needed and reused.
class PinnedBuffers {
 public:
  PinnedBuffers(uint64_t bytes, size_t limit) : bytes_(bytes), limit_(limit) {}
  ~PinnedBuffers();
  PinnedBuffers(const PinnedBuffers&) = delete;
  PinnedBuffers& operator=(const PinnedBuffers&) = delete;
  // Waits while all `limit` buffers are taken. Internal naming cudaHostAlloc when pinning fails.
  Result<void*> Take();
  void Give(void* p);
  uint64_t bytes() const { return bytes_; }

 private:
  const uint64_t bytes_;
  const size_t limit_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<void*> all_, free_;
};

enum class MemoryKind { kDevice, kPinnedHost };

// Regions of device memory (cudaMalloc) or pinned host memory (cudaHostAlloc), one per capture in
// flight, kept and reused. A request takes the smallest free region that holds it; otherwise a new
// region is allocated if the budget allows it (freeing free regions that are too small first).
class RegionPool {
 public:
  // `budget`: the most bytes all regions may hold together; kAutoBudget: for device memory, any
  // request while the device's free memory is at least twice what it asks (training keeps as much
  // again as a capture takes); for pinned memory, DefaultStagingBytes().
  static constexpr uint64_t kAutoBudget = ~0ull;
  RegionPool(MemoryKind kind, int device, uint64_t budget);
  ~RegionPool();
  RegionPool(const RegionPool&) = delete;
  RegionPool& operator=(const RegionPool&) = delete;
  // A region of at least `bytes`, or nullopt when the budget (or the device) cannot give one.
  std::optional<uint8_t*> Take(uint64_t bytes);
  void Give(uint8_t* region);
  uint64_t held_bytes() const;

 private:
  bool Allows(uint64_t bytes) const;  // REQUIRES: mu_ held
  struct Region {
    uint8_t* p;
    uint64_t bytes;
    bool in_use;
  };
  const MemoryKind kind_;
  const int device_;
  const uint64_t budget_;
  mutable std::mutex mu_;
  std::vector<Region> regions_;
  uint64_t held_ = 0;
};

}  // namespace ckptdb::gpu

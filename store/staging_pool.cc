#include "store/staging_pool.h"

#include <unistd.h>

#include <algorithm>

namespace ckptdb {

StagingPool::StagingPool(std::unique_ptr<StagingAllocator> allocator, uint64_t block_bytes, uint64_t cap_bytes)
    : allocator_(std::move(allocator)),
      block_bytes_(block_bytes),
      max_blocks_(std::max<uint64_t>(1, cap_bytes / block_bytes)) {}

StagingPool::~StagingPool() {
  for (uint8_t* b : all_) allocator_->Free(b, block_bytes_);
}

Result<std::optional<uint8_t*>> StagingPool::TryTake() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!free_.empty()) {
      uint8_t* b = free_.back();
      free_.pop_back();
      return std::optional<uint8_t*>(b);
    }
    if (reserved_ == max_blocks_) return std::optional<uint8_t*>();
    ++reserved_;
  }
  Result<uint8_t*> b = allocator_->Allocate(block_bytes_);
  std::lock_guard<std::mutex> l(mu_);
  if (!b.ok()) {
    --reserved_;
    return b.status();
  }
  all_.push_back(*b);
  return std::optional<uint8_t*>(*b);
}

Result<uint8_t*> StagingPool::Take() {
  for (;;) {
    Result<std::optional<uint8_t*>> b = TryTake();
    if (!b.ok()) return b.status();
    if (*b) return **b;
    std::unique_lock<std::mutex> l(mu_);
    given_.wait(l, [&] { return !free_.empty() || reserved_ < max_blocks_; });
  }
}

void StagingPool::Give(uint8_t* block) {
  {
    std::lock_guard<std::mutex> l(mu_);
    free_.push_back(block);
  }
  given_.notify_one();
}

Status StagingPool::Reserve(uint64_t bytes) {
  const uint64_t want = std::min<uint64_t>(bytes / block_bytes_ + (bytes % block_bytes_ != 0), max_blocks_);
  // Taking blocks until enough exist allocates the missing ones through TryTake's own path; the
  // free ones taken on the way go back with them.
  std::vector<uint8_t*> taken;
  Status failed;
  while (allocated_bytes() < want * block_bytes_) {
    Result<std::optional<uint8_t*>> b = TryTake();
    if (!b.ok()) {
      failed = b.status();
      break;
    }
    if (!*b) break;  // every block is reserved (and so counted) already
    taken.push_back(**b);
  }
  for (uint8_t* b : taken) Give(b);
  return failed;
}

uint64_t StagingPool::allocated_bytes() const {
  std::lock_guard<std::mutex> l(mu_);
  return all_.size() * block_bytes_;
}

uint64_t DefaultStagingBytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page = ::sysconf(_SC_PAGESIZE);
  const uint64_t physical = pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : (16ull << 30);
  return std::min<uint64_t>(physical / 4, 4ull << 30);
}

}  // namespace ckptdb

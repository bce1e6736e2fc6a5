#include "gpu/memory_pools.h"

#include <cuda_runtime.h>

#include <algorithm>

#include "gpu/cuda_status.h"
#include "store/staging_pool.h"

namespace ckptdb::gpu {

PinnedBuffers::~PinnedBuffers() {
  for (void* p : all_) cudaFreeHost(p);
}

Result<void*> PinnedBuffers::Take() {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] { return !free_.empty() || all_.size() < limit_; });
  if (!free_.empty()) {
    void* p = free_.back();
    free_.pop_back();
    return p;
  }
  void* p = nullptr;
  if (Status s = CudaStatus(cudaHostAlloc(&p, bytes_, cudaHostAllocDefault), "pinning a staging buffer (cudaHostAlloc)");
      !s.ok())
    return s;
  all_.push_back(p);
  return p;
}

void PinnedBuffers::Give(void* p) {
  {
    std::lock_guard<std::mutex> l(mu_);
    free_.push_back(p);
  }
  cv_.notify_one();
}

RegionPool::RegionPool(MemoryKind kind, int device, uint64_t budget)
    : kind_(kind),
      device_(device),
      budget_(budget == kAutoBudget && kind == MemoryKind::kPinnedHost ? DefaultStagingBytes() : budget) {}

RegionPool::~RegionPool() {
  for (const Region& r : regions_) {
    if (kind_ == MemoryKind::kDevice) cudaFree(r.p);
    else cudaFreeHost(r.p);
  }
}

bool RegionPool::Allows(uint64_t bytes) const {
  if (budget_ != kAutoBudget) return held_ + bytes <= budget_;
  size_t free = 0, total = 0;
  if (cudaSetDevice(device_) != cudaSuccess || cudaMemGetInfo(&free, &total) != cudaSuccess) return false;
  return free >= 2 * bytes;
}

std::optional<uint8_t*> RegionPool::Take(uint64_t bytes) {
  constexpr uint64_t kGrain = 64ull << 20;  // rounded up, so a slightly larger next state still fits
  bytes = std::max<uint64_t>(kGrain, (bytes + kGrain - 1) / kGrain * kGrain);
  std::lock_guard<std::mutex> l(mu_);
  Region* best = nullptr;
  for (Region& r : regions_)
    if (!r.in_use && r.bytes >= bytes && (!best || r.bytes < best->bytes)) best = &r;
  if (best) {
    best->in_use = true;
    return best->p;
  }
  // Free regions too small for this request go first: keeping them would only fragment the budget.
  for (auto it = regions_.begin(); it != regions_.end();) {
    if (it->in_use) {
      ++it;
      continue;
    }
    if (kind_ == MemoryKind::kDevice) cudaFree(it->p);
    else cudaFreeHost(it->p);
    held_ -= it->bytes;
    it = regions_.erase(it);
  }
  if (!Allows(bytes)) return std::nullopt;
  void* p = nullptr;
  cudaError_t e = cudaSetDevice(device_);
  if (e == cudaSuccess)
    e = kind_ == MemoryKind::kDevice ? cudaMalloc(&p, bytes) : cudaHostAlloc(&p, bytes, cudaHostAllocDefault);
  if (e != cudaSuccess) {
    cudaGetLastError();  // an allocation failure is not sticky; clear it so later calls do not see it
    return std::nullopt;
  }
  regions_.push_back({static_cast<uint8_t*>(p), bytes, true});
  held_ += bytes;
  return static_cast<uint8_t*>(p);
}

void RegionPool::Give(uint8_t* region) {
  std::lock_guard<std::mutex> l(mu_);
  for (Region& r : regions_)
    if (r.p == region) r.in_use = false;
}

uint64_t RegionPool::held_bytes() const {
  std::lock_guard<std::mutex> l(mu_);
  return held_;
}

}  // namespace ckptdb::gpu

#include "store/save_stages.h"

#include <string>

#include "store/host_memory.h"
#include "store/store_impl.h"

namespace ckptdb {

Status CpuChunkHasher::Hash(std::span<const ChunkView> chunks, std::span<Digest> digests) const {
  for (size_t i = 0; i < chunks.size(); ++i) digests[i] = HashBytes(chunks[i].data, chunks[i].length);
  return Status::OK();
}

ChunkView CallerChunks::View(size_t task) const {
  const ChunkTask& t = tasks_[task];
  return {static_cast<const uint8_t*>(tensors_[t.tensor].data) + t.offset, t.length};
}

// The capture zeroes each staged chunk's padding (SaveQueue::Capture).
ChunkView StagedChunks::View(size_t task) const { return {at_[task], tasks_[task].length, true}; }

Result<uint8_t*> HostStagingAllocator::Allocate(uint64_t bytes) {
  uint8_t* p = MapHostMemory(bytes);
  if (p == nullptr)
    return Status::ResourceExhausted("cannot allocate " + std::to_string(bytes) + " bytes of staging memory");
  return p;
}

void HostStagingAllocator::Free(uint8_t* p, uint64_t bytes) { UnmapHostMemory(p, bytes); }

}  // namespace ckptdb

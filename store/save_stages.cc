#include "store/save_stages.h"

#include <sys/mman.h>

#include <string>

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

ChunkView StagedChunks::View(size_t task) const { return {at_[task], tasks_[task].length}; }

Result<uint8_t*> HostStagingAllocator::Allocate(uint64_t bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED)
    return Status::ResourceExhausted("cannot allocate " + std::to_string(bytes) + " bytes of staging memory");
  return static_cast<uint8_t*>(p);
}

void HostStagingAllocator::Free(uint8_t* p, uint64_t bytes) { ::munmap(p, bytes); }

}  // namespace ckptdb

#include "gpu/device_chunk_hasher.h"

#include <vector>

#include "gpu/device_hasher.h"

namespace ckptdb::gpu {

Status DeviceChunkHasher::Hash(std::span<const ChunkView> chunks, std::span<Digest> digests) const {
  std::vector<DeviceChunk> device(chunks.size());
  for (size_t i = 0; i < chunks.size(); ++i) device[i] = {chunks[i].data, chunks[i].length};
  return HashDeviceChunks(device, digests, stream_);
}

}  // namespace ckptdb::gpu

#include "gpu/device_chunk_hasher.h"

#include <cuda_runtime.h>

#include <vector>

#include "gpu/cuda_status.h"
#include "gpu/device_hasher.h"

namespace ckptdb::gpu {

Status DeviceChunkHasher::Hash(std::span<const ChunkView> chunks, std::span<Digest> digests) const {
  if (Status s = CudaStatus(cudaSetDevice(device_), "hashing chunks: cudaSetDevice"); !s.ok()) return s;
  std::vector<DeviceChunk> device;
  std::vector<size_t> where;  // digests index of each device chunk
  for (size_t i = 0; i < chunks.size(); ++i) {
    cudaPointerAttributes a{};
    if (Status s = CudaStatus(cudaPointerGetAttributes(&a, chunks[i].data), "hashing chunks: cudaPointerGetAttributes");
        !s.ok())
      return s;
    if (a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged) {
      device.push_back({chunks[i].data, chunks[i].length});
      where.push_back(i);
    } else {
      digests[i] = HashBytes(chunks[i].data, chunks[i].length);
    }
  }
  if (device.empty()) return Status::OK();
  std::vector<Digest> out(device.size());
  // The persist's workers hash on their own per-thread streams unless told otherwise: the legacy
  // default stream would serialize the hashing with training's kernels on it.
  if (Status s = HashDeviceChunks(device, out, stream_ ? stream_ : cudaStreamPerThread); !s.ok()) return s;
  for (size_t j = 0; j < where.size(); ++j) digests[where[j]] = out[j];
  return Status::OK();
}

}  // namespace ckptdb::gpu

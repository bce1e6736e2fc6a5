// The save pipeline's ChunkHasher (store/save_stages.h) for the GPU path: views into device memory
// are hashed on the GPU, all of a batch in one launch (HashDeviceChunks); views into host memory
// (the host tensors of a mixed state, pinned copies) on the CPU. batch_chunks is large, so a
// piece's device chunks go to the device together rather than one per worker thread.
// Thread safety: Hash may be called from several threads at once (each call has its own buffers).
#pragma once

#include "store/save_stages.h"

namespace ckptdb::gpu {

class DeviceChunkHasher final : public ChunkHasher {
 public:
  // `device`: the CUDA device the views' device memory belongs to; `stream`: a cudaStream_t the
  // hashing runs on (null: the calling thread's per-thread stream).
  explicit DeviceChunkHasher(int device = 0, void* stream = nullptr) : device_(device), stream_(stream) {}
  // Errors: as HashDeviceChunks; Internal naming cudaPointerGetAttributes if a view cannot be
  // classified.
  Status Hash(std::span<const ChunkView> chunks, std::span<Digest> digests) const override;
  // 256 chunks: 1 GiB of 4 MiB chunks per launch, enough to fill an H100 many times over.
  size_t batch_chunks() const override { return 256; }

 private:
  int device_;
  void* stream_;
};

}  // namespace ckptdb::gpu

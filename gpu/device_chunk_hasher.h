// The save pipeline's ChunkHasher (store/save_stages.h) on the GPU: each batch's chunks, whose views
// point into device memory, are hashed in one launch by HashDeviceChunks. batch_chunks is large, so
// a piece's chunks go to the device together rather than one per worker thread.
// Thread safety: Hash may be called from several threads at once (each call has its own buffers).
#pragma once

#include "store/save_stages.h"

namespace ckptdb::gpu {

class DeviceChunkHasher final : public ChunkHasher {
 public:
  // `stream`: a cudaStream_t the hashing runs on (null: the default stream).
  explicit DeviceChunkHasher(void* stream = nullptr) : stream_(stream) {}
  // REQUIRES: every view's data is device memory. Errors: as HashDeviceChunks.
  Status Hash(std::span<const ChunkView> chunks, std::span<Digest> digests) const override;
  // 256 chunks: 1 GiB of 4 MiB chunks per launch, enough to fill an H100 many times over.
  size_t batch_chunks() const override { return 256; }

 private:
  void* stream_;
};

}  // namespace ckptdb::gpu

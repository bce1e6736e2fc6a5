#include "gpu/device_restore.h"

#include <cuda_runtime.h>

#include <map>
#include <string>
#include <vector>

#include "gpu/cuda_status.h"
#include "gpu/device_hasher.h"
#include "store/stream_read.h"

namespace ckptdb::gpu {

Status RestoreIntoDevice(Store& store, const Selector& which, std::span<const TensorBuffer> buffers,
                         const ReadOptions& options, uint64_t window_bytes) {
  std::string why;
  if (!DeviceAvailable(&why)) return Status::FailedPrecondition(why);
  // Where each tensor's bytes go, in manifest order (null: read and dropped).
  std::vector<uint8_t*> dest;
  std::vector<uint64_t> sizes;
  auto begin = [&](const CheckpointManifest& m) -> Status {
    std::map<std::string, const TensorBuffer*> by_name;
    for (const TensorBuffer& b : buffers) by_name[b.name] = &b;
    for (const TensorInfo& t : m.tensors) {
      auto it = by_name.find(t.name);
      if (it == by_name.end()) {
        dest.push_back(nullptr);
      } else {
        const TensorBuffer& b = *it->second;
        if (b.dtype != t.dtype || b.shape != t.shape || b.size_bytes != t.size_bytes)
          return Status::InvalidArgument("tensor '" + t.name + "': the device buffer's dtype, shape or size differ from "
                                         "what checkpoint " + std::to_string(m.info.id) + " saved");
        dest.push_back(static_cast<uint8_t*>(b.data));
        by_name.erase(it);
      }
      sizes.push_back(t.size_bytes);
    }
    if (!by_name.empty())
      return Status::NotFound("checkpoint " + std::to_string(m.info.id) + " has no tensor '" + by_name.begin()->first + "'");
    return Status::OK();
  };
  size_t tensor = 0;
  uint64_t offset = 0;  // within `tensor`
  auto write = [&](std::span<const uint8_t> piece) -> Status {
    while (!piece.empty()) {
      while (tensor < sizes.size() && offset == sizes[tensor]) ++tensor, offset = 0;
      if (tensor == sizes.size()) return Status::Internal("device restore: more bytes than the tensors hold");
      const uint64_t n = std::min<uint64_t>(piece.size(), sizes[tensor] - offset);
      if (dest[tensor])
        if (Status s = CudaStatus(cudaMemcpy(dest[tensor] + offset, piece.data(), n, cudaMemcpyHostToDevice),
                                  "device restore: copying to the device");
            !s.ok())
          return s;
      offset += n;
      piece = piece.subspan(n);
    }
    return Status::OK();
  };
  return StreamCheckpoint(store, which, window_bytes, options, begin, write);
}

}  // namespace ckptdb::gpu

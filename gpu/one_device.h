// The one CUDA device a save's tensors or a restore's buffers are on (internal to gpu/): the GPU
// path serves one device per call, and items in host memory (kHostMemory) take no part.
#pragma once

#include <span>
#include <string>

#include "ckptdb/status.h"
#include "ckptdb/tensor.h"

namespace ckptdb::gpu {

// The device of `items` (TensorRef or TensorBuffer), or kHostMemory when none is on one.
// InvalidArgument for two devices, naming the first item on the second: "<what> 'NAME' is on CUDA
// device 1 but others are on device 0: <why>".
template <typename T>
Result<int> OneDevice(std::span<const T> items, const std::string& what, const std::string& why) {
  int device = kHostMemory;
  for (const T& t : items) {
    if (t.cuda_device == kHostMemory) continue;
    if (device != kHostMemory && t.cuda_device != device)
      return Status::InvalidArgument(what + " '" + t.name + "' is on CUDA device " + std::to_string(t.cuda_device) +
                                     " but others are on device " + std::to_string(device) + ": " + why);
    device = t.cuda_device;
  }
  return device;
}

}  // namespace ckptdb::gpu

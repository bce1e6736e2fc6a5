// A CUDA runtime error as a Status naming the call (internal to gpu/, included by .cu files only).
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "ckptdb/status.h"

namespace ckptdb::gpu {

inline Status CudaStatus(cudaError_t e, const std::string& what) {
  if (e == cudaSuccess) return Status::OK();
  return Status::Internal(what + ": " + cudaGetErrorString(e));
}

}  // namespace ckptdb::gpu

#include "gpu/device_buffer.h"

#include <cuda_runtime.h>

#include <string>

#include "gpu/cuda_status.h"
#include "gpu/device_hasher.h"

namespace ckptdb::gpu {

DeviceBuffer::DeviceBuffer(uint64_t bytes) : size_(bytes) {
  std::string why;
  if (!DeviceAvailable(&why)) {
    status_ = Status::FailedPrecondition(why);
    return;
  }
  status_ = CudaStatus(cudaMalloc(&data_, bytes ? bytes : 1), "cudaMalloc");
  if (!status_.ok()) data_ = nullptr;
}

DeviceBuffer::~DeviceBuffer() {
  if (data_) cudaFree(data_);
}

Status DeviceBuffer::CopyIn(uint64_t at, const void* src, uint64_t bytes) {
  if (!ok()) return status_;
  if (at > size_ || bytes > size_ - at) return Status::InvalidArgument("DeviceBuffer::CopyIn past the end");
  return CudaStatus(cudaMemcpy(static_cast<uint8_t*>(data_) + at, src, bytes, cudaMemcpyHostToDevice), "cudaMemcpy");
}

Status DeviceBuffer::CopyOut(uint64_t at, void* dst, uint64_t bytes) const {
  if (!ok()) return status_;
  if (at > size_ || bytes > size_ - at) return Status::InvalidArgument("DeviceBuffer::CopyOut past the end");
  return CudaStatus(cudaMemcpy(dst, static_cast<const uint8_t*>(data_) + at, bytes, cudaMemcpyDeviceToHost),
                    "cudaMemcpy");
}

Status DeviceBuffer::CopyFrom(const DeviceBuffer& src, uint64_t bytes) {
  if (!ok()) return status_;
  if (!src.ok()) return src.status();
  if (bytes > size_ || bytes > src.size_) return Status::InvalidArgument("DeviceBuffer::CopyFrom past the end");
  return CudaStatus(cudaMemcpy(data_, src.data_, bytes, cudaMemcpyDeviceToDevice), "cudaMemcpy device to device");
}

}  // namespace ckptdb::gpu

#include "gpu/device_buffer.h"

#include <cuda_runtime.h>

#include <string>

#include "gpu/cuda_status.h"
#include "gpu/device_hasher.h"

namespace ckptdb::gpu {
namespace {

// splitmix64 of the word's index and the seed: each thread writes one 8-byte word.
__global__ void FillWords(uint8_t* p, uint64_t words, uint64_t seed) {
  const uint64_t i = blockIdx.x * static_cast<uint64_t>(blockDim.x) + threadIdx.x;
  if (i >= words) return;
  uint64_t z = i + seed * 0x9E3779B97F4A7C15ull + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  for (int b = 0; b < 8; ++b) p[i * 8 + b] = static_cast<uint8_t>(z >> (8 * b));  // any alignment
}

}  // namespace

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

namespace ckptdb::gpu {

Status DeviceBuffer::Fill(uint64_t at, uint64_t bytes, uint64_t seed) {
  uint8_t* p = static_cast<uint8_t*>(data_) + at;
  const uint64_t words = bytes / 8;
  if (words > 0) {
    const unsigned threads = 256;
    FillWords<<<static_cast<unsigned>((words + threads - 1) / threads), threads>>>(p, words, seed);
    if (Status s = CudaStatus(cudaGetLastError(), "filling device memory"); !s.ok()) return s;
  }
  if (const uint64_t tail = bytes % 8) {  // the last few bytes from the host
    uint8_t last[8];
    for (uint64_t b = 0; b < tail; ++b) last[b] = static_cast<uint8_t>(seed * 31 + b);
    if (Status s = CudaStatus(cudaMemcpy(p + words * 8, last, tail, cudaMemcpyHostToDevice), "filling device memory");
        !s.ok())
      return s;
  }
  return CudaStatus(cudaDeviceSynchronize(), "filling device memory");
}

PinnedBuffer::PinnedBuffer(uint64_t bytes) : size_(bytes) {
  void* p = nullptr;
  status_ = CudaStatus(cudaHostAlloc(&p, bytes ? bytes : 1, cudaHostAllocDefault), "cudaHostAlloc");
  if (status_.ok()) data_ = static_cast<uint8_t*>(p);
}

PinnedBuffer::~PinnedBuffer() {
  if (data_) cudaFreeHost(data_);
}

Result<DeviceInfo> CurrentDeviceInfo() {
  int device = 0;
  if (Status s = CudaStatus(cudaGetDevice(&device), "cudaGetDevice"); !s.ok()) return s;
  cudaDeviceProp prop{};
  if (Status s = CudaStatus(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties"); !s.ok()) return s;
  DeviceInfo info{prop.name, prop.multiProcessorCount, 0};
  if (Status s = CudaStatus(cudaDeviceGetAttribute(&info.clock_khz, cudaDevAttrClockRate, device), "clock rate");
      !s.ok())
    return s;
  return info;
}

}  // namespace ckptdb::gpu

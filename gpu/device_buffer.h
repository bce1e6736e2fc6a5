// Device memory that code outside gpu/ (tests, benchmarks) can hold without including CUDA
// headers. Thread safety: one buffer per thread, or external locking.
#pragma once

#include <cstdint>

#include "ckptdb/status.h"

namespace ckptdb::gpu {

// Device memory for tests and benchmarks, which must not include CUDA headers themselves.
class DeviceBuffer {
 public:
  // `bytes` of device memory (cudaMalloc); ok() is false, and status() says why, when that fails.
  explicit DeviceBuffer(uint64_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  void* data() const { return data_; }
  uint64_t size() const { return size_; }
  // Copies `bytes` from host memory `src` to offset `at`. REQUIRES: at + bytes <= size().
  Status CopyIn(uint64_t at, const void* src, uint64_t bytes);
  // Copies `bytes` at offset `at` to host memory `dst`. REQUIRES: at + bytes <= size().
  Status CopyOut(uint64_t at, void* dst, uint64_t bytes) const;
  // Copies the first `bytes` of `src` (device to device) here and waits. REQUIRES: bytes <= both sizes.
  Status CopyFrom(const DeviceBuffer& src, uint64_t bytes);

 private:
  void* data_ = nullptr;
  uint64_t size_ = 0;
  Status status_;
};

}  // namespace ckptdb::gpu

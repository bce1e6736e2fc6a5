// Device memory that code outside gpu/ (tests, benchmarks) can hold without including CUDA
// headers. Thread safety: one buffer per thread, or external locking.
#pragma once

#include <cstdint>
#include <string>

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
  // Fills `bytes` at offset `at` with pseudo-random bytes determined by `seed` and the position
  // (a kernel: benchmarks fill gigabytes at device speed), and waits. REQUIRES: at + bytes <= size().
  Status Fill(uint64_t at, uint64_t bytes, uint64_t seed);

 private:
  void* data_ = nullptr;
  uint64_t size_ = 0;
  Status status_;
};

// Pinned (page-locked) host memory, for benchmarks' baseline copies at full PCIe speed.
class PinnedBuffer {
 public:
  explicit PinnedBuffer(uint64_t bytes);  // cudaHostAlloc; ok() is false, and status() says why, if that fails
  ~PinnedBuffer();
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
  Status status_;
};

// The current device's name, multiprocessor count and SM clock (kHz), for benchmark reports.
struct DeviceInfo {
  std::string name;
  int multiprocessors = 0;
  int clock_khz = 0;
};
Result<DeviceInfo> CurrentDeviceInfo();

}  // namespace ckptdb::gpu

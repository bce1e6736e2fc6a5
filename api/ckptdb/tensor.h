// Tensor views and owned tensors: how bytes cross the API.
//
// A tensor is a name, a dtype, a shape and its bytes in row-major (C) order, little-endian, exactly
// as safetensors lays them out. ckptdb never interprets the bytes; it stores and returns them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ckptdb/digest.h"
#include "ckptdb/dtype.h"
#include "ckptdb/status.h"

namespace ckptdb {

using Shape = std::vector<int64_t>;

// The number of elements of `shape` (1 for a 0-d tensor), or nullopt if a dimension is negative or
// the product overflows 64 bits.
std::optional<uint64_t> NumElements(const Shape& shape);
// The byte length that `shape` of `dtype` needs, or nullopt on a negative dimension or overflow.
std::optional<uint64_t> ExpectedBytes(DType dtype, const Shape& shape);
// "[2, 3]"
std::string ShapeToString(const Shape& shape);

// TensorRef::cuda_device and TensorBuffer::cuda_device of memory the CPU reads directly.
inline constexpr int kHostMemory = -1;

// A read-only view of a tensor to be saved. The caller keeps `data` alive and unchanged until the
// call that takes the view returns.
struct TensorRef {
  std::string name;  // non-empty UTF-8, unique within a checkpoint
  DType dtype = DType::kU8;
  Shape shape;
  const void* data = nullptr;  // may be null only when size_bytes == 0 or known_chunks is given
  uint64_t size_bytes = 0;     // must equal ExpectedBytes(dtype, shape)
  // The tensor's chunk digests, as a previous save of the same store returned them
  // (SavedCheckpoint::chunks), when the caller knows the bytes have not changed since. When
  // non-empty, Save neither reads `data` nor hashes: it records these digests, after checking that
  // the store still holds each chunk with the length this tensor's chunk needs (FailedPrecondition
  // naming the tensor otherwise, e.g. after a collection reclaimed them; retry without the hint).
  // It must hold ceil(size_bytes / chunk_size) digests (InvalidArgument otherwise). The caller
  // vouches for the bytes: a stale list saves the old bytes under this name. Empty: read and hash.
  std::span<const Digest> known_chunks = {};
  // Where `data` points: kHostMemory, or N >= 0 for the memory of CUDA device N, which only the
  // GPU path reads (gpu/device_saver.h, built with CUDA): Store::Save and Store::SaveAsync refuse
  // such a tensor with InvalidArgument naming it, and never read its pointer.
  int cuda_device = kHostMemory;
};

// A caller-owned destination for a restore. Its dtype, shape and size must match the stored tensor.
struct TensorBuffer {
  std::string name;
  DType dtype = DType::kU8;
  Shape shape;
  void* data = nullptr;
  uint64_t size_bytes = 0;
  // As TensorRef::cuda_device: Store::RestoreInto refuses a device buffer (InvalidArgument naming
  // it) and writes nothing; gpu::RestoreIntoDevice (gpu/device_restore.h) fills host and device ones.
  int cuda_device = kHostMemory;
};

// Owned, uninitialised bytes, 64-byte aligned; 4 KiB (page) aligned from 1 MiB up, so that the
// store can read into them with O_DIRECT. Move-only.
class Buffer {
 public:
  Buffer() = default;
  // Allocates `size` bytes; their content is unspecified. Aborts on out-of-memory like `new`.
  static Buffer Allocate(uint64_t size);
  uint8_t* data() { return data_.get(); }
  const uint8_t* data() const { return data_.get(); }
  uint64_t size() const { return size_; }

 private:
  struct Free {
    Free() noexcept : mapped(0) {}
    explicit Free(uint64_t m) noexcept : mapped(m) {}
    uint64_t mapped;  // bytes asked of MapHostMemory, or 0 for heap memory
    void operator()(uint8_t* p) const;
  };
  std::unique_ptr<uint8_t, Free> data_;
  uint64_t size_ = 0;
};

// A tensor that owns its bytes, as returned by Store::Restore.
struct Tensor {
  std::string name;
  DType dtype = DType::kU8;
  Shape shape;
  Buffer bytes;

  TensorRef ref() const { return {name, dtype, shape, bytes.data(), bytes.size()}; }
};

// Checks that `t` is well formed: non-empty valid UTF-8 name, known dtype, non-negative shape,
// size_bytes equal to what dtype and shape need, data non-null when size_bytes > 0 (unless
// known_chunks is given), cuda_device kHostMemory or a device number.
// Returns InvalidArgument naming the tensor otherwise.
Status ValidateTensorRef(const TensorRef& t);
// True if `s` is well-formed UTF-8.
bool IsValidUtf8(std::string_view s);

}  // namespace ckptdb

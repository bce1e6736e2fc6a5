// Tensor bytes across the DLPack protocol (`__dlpack__`), in both directions, without copies.
//
// Only flat byte views cross: the Python package hands over `t.reshape(-1).view(uint8)` of a
// contiguous tensor and re-types what comes back, so every dtype torch has (bfloat16, float8, bool,
// the unsigned ones) crosses the same way, whatever DLPack version the two sides speak.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>

#include "ckptdb/tensor.h"

namespace ckptdb::python {

// The bytes of a 1-D, contiguous uint8 array offered by `obj.__dlpack__()`, in CPU memory (pinned
// CUDA host memory included) or in CUDA device memory (cuda_device() then names the device).
// Holds the producer's DLManagedTensor until destroyed (its deleter runs then). Raises ValueError
// (naming `what`) for anything else. REQUIRES: the GIL (construction and destruction).
class ImportedBytes {
 public:
  ImportedBytes(const pybind11::handle& obj, const std::string& what);
  ImportedBytes() = default;  // no bytes: a tensor save() takes by its known chunks
  ~ImportedBytes();
  ImportedBytes(ImportedBytes&& other) noexcept;
  ImportedBytes(const ImportedBytes&) = delete;
  ImportedBytes& operator=(const ImportedBytes&) = delete;
  ImportedBytes& operator=(ImportedBytes&&) = delete;

  const uint8_t* data() const { return data_; }
  // The same bytes for writing (restore_into): DLPack memory is the producer's own, writable.
  uint8_t* writable() const { return const_cast<uint8_t*>(data_); }
  uint64_t size() const { return size_; }
  // kHostMemory, or the CUDA device the bytes are on.
  int cuda_device() const { return cuda_device_; }

 private:
  void* managed_ = nullptr;  // DLManagedTensor*
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
  int cuda_device_ = kHostMemory;
};

// A Python object with `__dlpack__` and `__dlpack_device__` that gives `bytes` to whoever imports
// it, once, as a 1-D uint8 CPU array (torch.from_dlpack, numpy.from_dlpack). The importer then owns
// the memory; it is freed when its tensor is.
pybind11::object ExportBytes(Buffer bytes);

void BindDlpack(pybind11::module_& m);

}  // namespace ckptdb::python

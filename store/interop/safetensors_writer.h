// Writing safetensors files atomically, whole (WriteSafetensors) or as a stream (SafetensorsWriter):
// to a temporary PATH.tmp-XXXXXX beside PATH, fsync, rename over PATH, fsync the directory. A crash
// leaves either the old file or the new one, never a torn one, and a failed write removes the
// temporary. The layout is the reference's (safetensors_header.h, EncodeSafetensorsHeader).
//
// Errors are one line starting with the file path: InvalidArgument for bad tensors or metadata
// (nothing is created), IOError when the filesystem fails (naming the call, and the tensor being
// written if any).
#pragma once

#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ckptdb/status.h"
#include "ckptdb/tensor.h"

namespace ckptdb {

// Writes all of [p, p + n) to `fd`, retrying short writes and EINTR. On failure returns false and
// errno tells why (EIO for a write that wrote nothing).
bool WriteAllToFd(int fd, const void* p, uint64_t n);

// Writes `tensors` (in the order given, contiguously) and `metadata` to `path`. InvalidArgument
// also if a tensor fails ValidateTensorRef.
Status WriteSafetensors(const std::string& path, const std::vector<TensorRef>& tensors,
                        const std::map<std::string, std::string>& metadata);

// A file being written: the header first, then the data section in pieces of any size.
// Move-only; destroying it before Finish succeeded removes the temporary (PATH is untouched).
// Thread safety: one thread at a time.
class SafetensorsWriter {
 public:
  // Creates the temporary and writes the header of `tensors` (only their names, dtypes, shapes and
  // sizes are read, never `data`) and `metadata`.
  static Result<SafetensorsWriter> Create(const std::string& path, std::span<const TensorRef> tensors,
                                          const std::map<std::string, std::string>& metadata);
  SafetensorsWriter(SafetensorsWriter&&) noexcept;
  SafetensorsWriter& operator=(SafetensorsWriter&&) noexcept;
  ~SafetensorsWriter();

  // Appends the next `n` bytes of the data section (the tensors' bytes in header order).
  // REQUIRES: no more in all than the tensors' sizes summed.
  Status Append(const void* data, uint64_t n);
  // Makes the file durable and renames it over PATH. REQUIRES: every byte was appended.
  Status Finish();

 private:
  struct Temp;
  explicit SafetensorsWriter(std::unique_ptr<Temp> t);
  std::unique_ptr<Temp> t_;
};

}  // namespace ckptdb

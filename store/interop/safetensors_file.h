// Reading a whole safetensors file into memory, validated (layout and checks: safetensors_header.h).
//
// Reading never hangs and never dies of a signal: a path that is not a regular file (a FIFO, a
// directory, a device, a socket) is refused before it is opened for reading, and the bytes are
// read with pread into memory this object owns, never mapped, so a file truncated while it is
// read is an error naming it instead of a SIGBUS.
//
// Errors are one line starting with the file path: NotFound for a missing file, InvalidArgument
// for a path that is not a regular file, Corruption for malformed content, IOError for a failing
// read or a file that shrank while it was read ("truncated while being read").
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "ckptdb/status.h"
#include "ckptdb/tensor.h"
#include "store/interop/safetensors_header.h"

namespace ckptdb {

// A validated safetensors file held in memory. Move-only.
// Thread safety: const methods may be called from several threads at once.
class SafetensorsFile {
 public:
  // Reads and fully validates `path`. Memory: the data section (file size - 8 - N bytes) in one
  // buffer, plus the parsed header.
  static Result<SafetensorsFile> Open(const std::string& path);
  // Open, calling `before_data` after the header is read and validated and before the data
  // section is: the seam through which tests change the file in the middle of a read.
  static Result<SafetensorsFile> OpenWithHook(const std::string& path, const std::function<void()>& before_data);

  const std::string& path() const { return path_; }
  // The tensors in data-offset order (ties, which only zero-byte tensors can have, in header order).
  const std::vector<SafetensorsEntry>& tensors() const { return header_.tensors; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  // N, the header length; the data section starts at file byte 8 + N.
  uint64_t header_length() const { return header_length_; }
  // The tensor called `name`, or nullptr. Linear in the number of tensors.
  const SafetensorsEntry* find(std::string_view name) const;

  // REQUIRES: `e` is one of tensors(). Valid while this object lives; 8-aligned where the file
  // places the tensor at an 8-byte multiple (the data section itself is 64-byte aligned).
  const uint8_t* data(const SafetensorsEntry& e) const { return data_.data() + e.begin; }
  TensorRef ref(const SafetensorsEntry& e) const;

 private:
  SafetensorsFile() = default;

  std::string path_;
  uint64_t header_length_ = 0;
  SafetensorsHeader header_;
  Buffer data_;  // the data section
};

}  // namespace ckptdb

// Reading and writing safetensors files, the interchange format of ckptdb's import and export.
//
// Layout: an 8-byte little-endian u64 N, N bytes of UTF-8 JSON header, then the data section.
// The header is an object mapping each tensor name to {"dtype", "shape", "data_offsets": [b, e]}
// (offsets relative to the data section, which starts at byte 8 + N), plus an optional
// "__metadata__" object of string -> string. Tensor bytes are row-major and little-endian.
//
// The reader mirrors the validation of the reference implementation (huggingface/safetensors,
// safetensors/src/tensor.rs, SafeTensors::read_metadata and Metadata::validate) and is stricter
// where the reference is lenient, so every file Open accepts, the reference accepts too:
//   - N <= 100,000,000 and 8 + N <= file size; the header is valid UTF-8 JSON whose first byte is
//     '{' (trailing whitespace, e.g. the writer's space padding, is allowed);
//   - sorted by data_offsets, the tensors tile the data section exactly: the first begins at 0,
//     each begins where the previous ended, the last ends at the end of the file;
//   - each tensor's byte length equals numel(shape) * dtype size, computed without overflow;
//   - metadata values are strings.
// Stricter than the reference: duplicate keys, unknown or missing tensor fields, an empty tensor
// name, a non-object "__metadata__" (even null), and shape entries above INT64_MAX are errors.
//
// Errors are one line starting with the file path. Malformed content is Corruption, a missing
// file NotFound, a failing read or write IOError, and bad arguments to the writer InvalidArgument.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "ckptdb/dtype.h"
#include "ckptdb/status.h"
#include "ckptdb/tensor.h"

namespace ckptdb {

// Reference implementation's limit on the header length N.
inline constexpr uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;

struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::kU8;
  Shape shape;
  uint64_t begin = 0;  // byte offsets relative to the start of the data section; end - begin is
  uint64_t end = 0;    // exactly ExpectedBytes(dtype, shape)
};

// A validated, read-only view of a whole safetensors file, memory-mapped read-only.
// Move-only; unmaps on destruction. The file must not be truncated while a view is open (the
// mapping would fault), which is why writers here always replace files by rename.
// Thread safety: const methods may be called from several threads at once.
class SafetensorsFile {
 public:
  // Maps and fully validates `path` before returning: a returned file is safe to read anywhere.
  static Result<SafetensorsFile> Open(const std::string& path);

  SafetensorsFile(SafetensorsFile&& other) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&& other) noexcept;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;
  ~SafetensorsFile();

  const std::string& path() const { return path_; }
  // The tensors in data-offset order (ties, which only zero-byte tensors can have, in header order).
  const std::vector<SafetensorsEntry>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // N, the header length; the data section starts at file byte 8 + N.
  uint64_t header_length() const { return header_length_; }
  // The tensor called `name`, or nullptr. Linear in the number of tensors.
  const SafetensorsEntry* find(std::string_view name) const;

  // REQUIRES: `e` is one of tensors(). Valid while this object lives.
  const uint8_t* data(const SafetensorsEntry& e) const { return data_ + e.begin; }
  TensorRef ref(const SafetensorsEntry& e) const;

 private:
  SafetensorsFile() = default;
  void Unmap();

  std::string path_;
  void* map_ = nullptr;
  uint64_t map_size_ = 0;
  const uint8_t* data_ = nullptr;  // start of the data section inside the mapping
  uint64_t header_length_ = 0;
  std::vector<SafetensorsEntry> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Writes `tensors` (in the order given, contiguously) and `metadata` to `path` atomically: to a
// temporary PATH.tmp-XXXXXX beside it, fsync, rename over PATH, fsync the directory. A crash
// leaves either the old file or the new one, never a torn one. The header is padded with spaces
// to a multiple of 8 bytes so the data section, and each 8-byte-multiple tensor, is 8-aligned.
// Returns InvalidArgument (naming the path and tensor) if a tensor fails ValidateTensorRef, a
// name repeats or is "__metadata__", metadata is not valid UTF-8, or the header would exceed
// kSafetensorsMaxHeaderBytes; IOError if the filesystem fails (the temporary is removed).
Status WriteSafetensors(const std::string& path, const std::vector<TensorRef>& tensors,
                        const std::map<std::string, std::string>& metadata);

}  // namespace ckptdb

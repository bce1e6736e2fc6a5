// The safetensors header codec: validating a header read from a file and encoding one to write.
// Pure functions, no I/O; messages do not name the file (the caller prefixes its path).
//
// Layout: an 8-byte little-endian u64 N, N bytes of UTF-8 JSON header, then the data section.
// The header is an object mapping each tensor name to {"dtype", "shape", "data_offsets": [b, e]}
// (offsets relative to the data section, which starts at byte 8 + N), plus an optional
// "__metadata__" object of string -> string. Tensor bytes are row-major and little-endian.
//
// The parser mirrors the validation of the reference implementation (huggingface/safetensors,
// safetensors/src/tensor.rs, SafeTensors::read_metadata and Metadata::validate) and is stricter
// where the reference is lenient, so every header it accepts, the reference accepts too:
//   - N <= 100,000,000 and 8 + N <= file size; the header is valid UTF-8 JSON whose first byte is
//     '{' (trailing whitespace, e.g. the writer's space padding, is allowed);
//   - sorted by data_offsets, the tensors tile the data section exactly: the first begins at 0,
//     each begins where the previous ended, the last ends at the end of the file;
//   - each tensor's byte length equals numel(shape) * dtype size, computed without overflow;
//   - metadata values are strings.
// Stricter than the reference: duplicate keys, unknown or missing tensor fields, an empty tensor
// name, a non-object "__metadata__" (even null), and shape entries above INT64_MAX are errors.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ckptdb/dtype.h"
#include "ckptdb/status.h"
#include "ckptdb/tensor.h"

namespace ckptdb {

// The header key of the metadata map; no tensor may be called this.
inline constexpr std::string_view kSafetensorsMetadataKey = "__metadata__";
// Reference implementation's limit on the header length N.
inline constexpr uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;

struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::kU8;
  Shape shape;
  uint64_t begin = 0;  // byte offsets relative to the start of the data section; end - begin is
  uint64_t end = 0;    // exactly ExpectedBytes(dtype, shape)
};

struct SafetensorsHeader {
  // In data-offset order (ties, which only zero-byte tensors can have, in header order).
  std::vector<SafetensorsEntry> tensors;
  std::map<std::string, std::string> metadata;
};

// The header length N of the 8-byte prefix at `prefix`. Corruption if N exceeds
// kSafetensorsMaxHeaderBytes or runs past the end of a `file_size`-byte file (>= 8).
Result<uint64_t> ParseSafetensorsPrefix(const uint8_t prefix[8], uint64_t file_size);

// Validates the N-byte header `text` of a file whose data section is `data_size` bytes. Corruption.
Result<SafetensorsHeader> ParseSafetensorsHeader(std::string_view text, uint64_t data_size);

// The 8-byte prefix and the header of a file holding `tensors` contiguously in the order given,
// with `metadata`, padded with spaces to a multiple of 8 bytes so the data section, and each
// 8-byte-multiple tensor, is 8-aligned. Reads names, dtypes, shapes and sizes only, never `data`.
// InvalidArgument naming the tensor if a name is empty, repeats or is "__metadata__", a size
// disagrees with dtype and shape, metadata is not valid UTF-8, or the header would exceed
// kSafetensorsMaxHeaderBytes.
Result<std::string> EncodeSafetensorsHeader(std::span<const TensorRef> tensors,
                                            const std::map<std::string, std::string>& metadata);

}  // namespace ckptdb

// Element types of stored tensors: every dtype that safetensors knows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace ckptdb {

// The numeric values are written to disk in manifests: never renumber, only append.
enum class DType : uint8_t {
  kF64 = 1,
  kF32 = 2,
  kF16 = 3,
  kBF16 = 4,
  kF8_E4M3 = 5,
  kF8_E5M2 = 6,
  kI64 = 7,
  kI32 = 8,
  kI16 = 9,
  kI8 = 10,
  kU64 = 11,
  kU32 = 12,
  kU16 = 13,
  kU8 = 14,
  kBool = 15,
};

// Bytes per element (BOOL and the F8 types take one byte). REQUIRES: IsValidDType(d).
size_t DTypeSize(DType d);
// The safetensors spelling: "F32", "BF16", "F8_E4M3", "BOOL", ...
std::string_view DTypeName(DType d);
// Parses a safetensors spelling (exact, case-sensitive); nullopt if unknown.
std::optional<DType> ParseDType(std::string_view name);
// True for the values listed above; false for anything read from disk that is not one of them.
bool IsValidDType(uint8_t raw);
// True for F64, F32, F16, BF16 and the F8 types.
bool IsFloatDType(DType d);

}  // namespace ckptdb

#include "ckptdb/dtype.h"

#include <array>

namespace ckptdb {
namespace {

struct DTypeRow {
  DType dtype;
  std::string_view name;
  size_t size;
  bool is_float;
};

constexpr std::array<DTypeRow, 15> kRows = {{
    {DType::kF64, "F64", 8, true},          {DType::kF32, "F32", 4, true},
    {DType::kF16, "F16", 2, true},          {DType::kBF16, "BF16", 2, true},
    {DType::kF8_E4M3, "F8_E4M3", 1, true},  {DType::kF8_E5M2, "F8_E5M2", 1, true},
    {DType::kI64, "I64", 8, false},         {DType::kI32, "I32", 4, false},
    {DType::kI16, "I16", 2, false},         {DType::kI8, "I8", 1, false},
    {DType::kU64, "U64", 8, false},         {DType::kU32, "U32", 4, false},
    {DType::kU16, "U16", 2, false},         {DType::kU8, "U8", 1, false},
    {DType::kBool, "BOOL", 1, false},
}};

const DTypeRow* Find(DType d) {
  for (const auto& row : kRows)
    if (row.dtype == d) return &row;
  return nullptr;
}

}  // namespace

size_t DTypeSize(DType d) {
  const DTypeRow* row = Find(d);
  return row ? row->size : 0;
}

std::string_view DTypeName(DType d) {
  const DTypeRow* row = Find(d);
  return row ? row->name : std::string_view("INVALID");
}

std::optional<DType> ParseDType(std::string_view name) {
  for (const auto& row : kRows)
    if (row.name == name) return row.dtype;
  return std::nullopt;
}

bool IsValidDType(uint8_t raw) { return Find(static_cast<DType>(raw)) != nullptr; }

bool IsFloatDType(DType d) {
  const DTypeRow* row = Find(d);
  return row && row->is_float;
}

}  // namespace ckptdb

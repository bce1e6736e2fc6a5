// Safetensors files written byte by byte for the CLI suites, without the code under test, so that
// malformed files can be made on purpose: random tensors, framing, JSON headers, whole files.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ckptdb/ckptdb.h"
#include "tests/support/test_support.h"

namespace ckptdb::cli_tests {

struct Src {
  std::string name;
  DType dtype;
  Shape shape;
  std::string bytes;
};

std::string RandomString(uint64_t seed, size_t n);
// A tensor of random bytes (0 or 1 for BOOL).
Src Random(std::string name, DType dtype, Shape shape, uint64_t seed);

std::string Le64(uint64_t v);
// 8-byte little-endian length of `header`, the header, then `data`.
std::string Framed(const std::string& header, const std::string& data);
// A JSON string literal: quotes, backslashes and control characters escaped, UTF-8 kept as is.
std::string Quote(const std::string& s);
// The JSON header describing `tensors` back to back, with `metadata` as __metadata__ when non-empty.
std::string HeaderJson(const std::vector<Src>& tensors, const std::map<std::string, std::string>& metadata);
// A whole safetensors file: framed header padded to a multiple of 8, then the tensors' bytes.
std::string Safetensors(const std::vector<Src>& tensors, const std::map<std::string, std::string>& metadata = {});
// Writes `bytes` to dir/name and returns that path.
std::string WriteFile(const testing::ScratchDir& dir, const std::string& name, const std::string& bytes);

}  // namespace ckptdb::cli_tests

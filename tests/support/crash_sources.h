// What the crash suite imports: checkpoints' tensors kept in memory to compare restores with, and the
// safetensors files holding them, written by hand (header-only: GoogleTest macros).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ckptdb/ckptdb.h"
#include "tests/support/test_support.h"

namespace ckptdb::crash_tests {

inline constexpr uint64_t kMiB = 1ull << 20;
inline constexpr uint64_t kChunkSize = 256ull << 10;  // a 64 MiB import is ~256 chunks

struct SrcTensor {
  std::string name;
  DType dtype;
  Shape shape;
  std::vector<uint8_t> bytes;
};

struct Source {
  int64_t step = 0;
  std::vector<SrcTensor> tensors;
  std::map<std::string, std::string> metadata;
  std::string file;  // the safetensors file holding exactly these tensors

  uint64_t logical_bytes() const {
    uint64_t n = 0;
    for (const auto& t : tensors) n += t.bytes.size();
    return n;
  }
};

inline SrcTensor Random(std::string name, DType dtype, Shape shape, uint64_t seed) {
  SrcTensor t{std::move(name), dtype, std::move(shape), {}};
  t.bytes = testing::RandomBytes(seed, *ExpectedBytes(dtype, t.shape));
  return t;
}

// A copy of `t` whose chunks with index % every == phase get fresh bytes (so they stop deduplicating).
inline SrcTensor Mutate(const SrcTensor& t, uint64_t every, uint64_t phase, uint64_t seed) {
  SrcTensor out = t;
  for (uint64_t off = 0, i = 0; off < out.bytes.size(); off += kChunkSize, ++i)
    if (i % every == phase) testing::FillRandom(seed + i, out.bytes.data() + off, std::min<uint64_t>(64, out.bytes.size() - off));
  return out;
}

// Writes `src` as a safetensors file by hand (not with the code under test): 8-byte LE header
// length, JSON header padded with spaces to a multiple of 8, then the tensors back to back.
inline void WriteRawSafetensors(const std::string& path, const Source& src) {
  std::string h = "{";
  if (!src.metadata.empty()) {
    h += "\"__metadata__\":{";
    for (const auto& [k, v] : src.metadata) h += "\"" + k + "\":\"" + v + "\",";
    h.back() = '}';
    h += ",";
  }
  uint64_t off = 0;
  for (const auto& t : src.tensors) {
    h += "\"" + t.name + "\":{\"dtype\":\"" + std::string(DTypeName(t.dtype)) + "\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i) h += (i ? "," : "") + std::to_string(t.shape[i]);
    h += "],\"data_offsets\":[" + std::to_string(off) + "," + std::to_string(off + t.bytes.size()) + "]},";
    off += t.bytes.size();
  }
  h.back() = '}';
  h.append((8 - h.size() % 8) % 8, ' ');
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(h.size()) >> (8 * i));
  bool ok = std::fwrite(len, 1, 8, f) == 8 && std::fwrite(h.data(), 1, h.size(), f) == h.size();
  for (const auto& t : src.tensors)
    ok = ok && std::fwrite(t.bytes.data(), 1, t.bytes.size(), f) == t.bytes.size();
  ok = std::fclose(f) == 0 && ok;
  ASSERT_TRUE(ok) << "cannot write " << path;
}

}  // namespace ckptdb::crash_tests

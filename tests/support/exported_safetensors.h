// Checks of a safetensors file that ckptdb exported: the reference library's byte layout, and exactly the
// tensors and metadata that went in (header-only: GoogleTest macros).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "ckptdb/ckptdb.h"
#include "tests/support/cli_output.h"
#include "tests/support/safetensors_bytes.h"
#include "tests/support/test_support.h"
#include "tools/json.h"
#include "tools/safetensors.h"

namespace ckptdb::cli_tests {

// Checks the byte-level layout of a safetensors file as the reference library writes it, without
// the code under test: 8-byte LE header length, a JSON object padded to a multiple of 8 bytes,
// data_offsets that tile the data section from 0 in header order. Returns the parsed header.
inline json::Value CheckReferenceLayout(const std::string& bytes) {
  EXPECT_GE(bytes.size(), 8u);
  if (bytes.size() < 8) return json::Value();
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(bytes[i]);
  EXPECT_LE(8 + n, bytes.size()) << "header length " << n;
  if (8 + n > bytes.size()) return json::Value();
  EXPECT_EQ(n % 8, 0u) << "header length " << n << " is not a multiple of 8";
  const std::string header = bytes.substr(8, n);
  EXPECT_EQ(header.front(), '{');
  json::Value h = ParseJson(header);
  EXPECT_TRUE(h.is_object());
  uint64_t expect_begin = 0;
  for (const auto& [name, entry] : h.as_object()) {
    if (name == "__metadata__") {
      EXPECT_TRUE(entry.is_object());
      for (const auto& [k, v] : entry.as_object()) EXPECT_TRUE(v.is_string()) << "metadata " << k;
      continue;
    }
    EXPECT_EQ(Keys(entry), (std::vector<std::string>{"dtype", "shape", "data_offsets"})) << name;
    const json::Value* off = entry.find("data_offsets");
    if (!off || off->as_array().size() != 2) {
      ADD_FAILURE() << name << " has no [begin, end]";
      continue;
    }
    EXPECT_EQ(off->as_array()[0].as_uint64(), expect_begin) << name << " does not start where the previous ended";
    EXPECT_GE(off->as_array()[1].as_uint64(), off->as_array()[0].as_uint64()) << name;
    expect_begin = off->as_array()[1].as_uint64();
  }
  EXPECT_EQ(8 + n + expect_begin, bytes.size()) << "the tensors do not cover the data section exactly";
  return h;
}

// Compares an exported file with the tensors and metadata that went in.
inline void ExpectExported(const std::string& path, const std::vector<Src>& want, const std::map<std::string, std::string>& metadata) {
  SCOPED_TRACE(path);
  const std::string bytes = testing::ReadFileOrDie(path);
  const json::Value header = CheckReferenceLayout(bytes);
  const json::Value* meta = header.find("__metadata__");
  EXPECT_EQ(meta != nullptr, !metadata.empty());
  auto f = SafetensorsFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->metadata(), metadata);
  ASSERT_EQ(f->tensors().size(), want.size());
  for (const Src& t : want) {
    const SafetensorsEntry* e = f->find(t.name);
    ASSERT_NE(e, nullptr) << t.name;
    EXPECT_EQ(e->dtype, t.dtype) << t.name;
    EXPECT_EQ(e->shape, t.shape) << t.name;
    ASSERT_EQ(e->end - e->begin, t.bytes.size()) << t.name;
    EXPECT_TRUE(t.bytes.empty() || std::memcmp(f->data(*e), t.bytes.data(), t.bytes.size()) == 0)
        << t.name << " exported with different bytes";
    // And the header entry as text: the safetensors dtype spelling and the shape.
    const json::Value* entry = header.find(t.name);
    ASSERT_NE(entry, nullptr) << t.name;
    EXPECT_EQ(entry->find("dtype")->as_string(), DTypeName(t.dtype)) << t.name;
    std::vector<int64_t> shape;
    for (const json::Value& d : entry->find("shape")->as_array()) shape.push_back(d.as_int64());
    EXPECT_EQ(shape, t.shape) << t.name;
  }
  // Exported in the saved order.
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(f->tensors()[i].name, want[i].name);
}

}  // namespace ckptdb::cli_tests

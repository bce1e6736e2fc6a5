// Manifests shared by the codec suites: random digests, a manifest that uses every field, and the
// expectations that a decode returned exactly it or failed with Corruption (header-only: GoogleTest).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "ckptdb/digest.h"
#include "schema/codec.h"
#include "tests/support/test_support.h"

namespace ckptdb::schema::codec_tests {

inline constexpr uint64_t kChunk = 64ull << 10;

inline Digest RandomDigest(uint64_t seed) {
  Digest d;
  auto bytes = testing::RandomBytes(seed, 32);
  std::memcpy(d.bytes.data(), bytes.data(), 32);
  return d;
}

inline TensorInfo MakeTensorInfo(std::string name, DType dtype, Shape shape, uint64_t chunk_size, uint64_t seed) {
  TensorInfo t;
  t.name = std::move(name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.size_bytes = *ExpectedBytes(t.dtype, t.shape);
  const uint64_t n = (t.size_bytes + chunk_size - 1) / chunk_size;
  for (uint64_t i = 0; i < n; ++i) t.chunks.push_back(RandomDigest(seed * 1000 + i));
  return t;
}

// A manifest that uses every field: several dtypes, a 0-d tensor, empty tensors, multi-chunk
// tensors, non-ASCII names, metadata, metrics, a parent.
inline CheckpointManifest RichManifest() {
  CheckpointManifest m;
  m.chunk_size = kChunk;
  m.info.id = 42;
  m.info.step = -7;  // steps are signed; nothing forbids a negative one
  m.info.parent = 41;
  m.info.commit_time_ns = 1'700'000'000'123'456'789;
  m.info.new_bytes = 123456;
  m.tensors.push_back(MakeTensorInfo("model.embed.weight", DType::kBF16, {1000, 100}, kChunk, 1));
  m.tensors.push_back(MakeTensorInfo("scalar", DType::kF64, {}, kChunk, 2));
  m.tensors.push_back(MakeTensorInfo("empty", DType::kF32, {0}, kChunk, 3));
  m.tensors.push_back(MakeTensorInfo("empty2d", DType::kI64, {3, 0}, kChunk, 4));
  m.tensors.push_back(MakeTensorInfo("exactly_one_chunk", DType::kU8, {int64_t(kChunk)}, kChunk, 5));
  m.tensors.push_back(MakeTensorInfo("one_over", DType::kU8, {int64_t(kChunk) + 1}, kChunk, 6));
  m.tensors.push_back(MakeTensorInfo("权重/层.0 ñ 🚀", DType::kF8_E4M3, {7, 11, 13}, kChunk, 7));
  m.tensors.push_back(MakeTensorInfo("mask", DType::kBool, {5}, kChunk, 8));
  for (const auto& t : m.tensors) m.info.logical_bytes += t.size_bytes;
  m.info.tensor_count = m.tensors.size();
  m.metadata = {{"format", "pt"}, {"seed", "1234"}, {"empty_value", ""}, {"ключ", "значение"}};
  m.info.metrics = {{"loss", 0.125}, {"accuracy", 0.99}, {"neg", -1e300}, {"tiny", 5e-324}};
  return m;
}

inline void ExpectSameManifest(const CheckpointManifest& got, const CheckpointManifest& want) {
  EXPECT_EQ(got.chunk_size, want.chunk_size);
  EXPECT_EQ(got.info.id, want.info.id);
  EXPECT_EQ(got.info.step, want.info.step);
  EXPECT_EQ(got.info.parent, want.info.parent);
  EXPECT_EQ(got.info.commit_time_ns, want.info.commit_time_ns);
  EXPECT_EQ(got.info.tensor_count, want.tensors.size());
  EXPECT_EQ(got.info.logical_bytes, want.info.logical_bytes);
  EXPECT_EQ(got.info.new_bytes, want.info.new_bytes);
  EXPECT_EQ(got.info.metrics, want.info.metrics);
  EXPECT_TRUE(got.info.tags.empty()) << "tags are store state, not part of a manifest";
  EXPECT_EQ(got.metadata, want.metadata);
  EXPECT_EQ(got.structure, want.structure);
  ASSERT_EQ(got.tensors.size(), want.tensors.size());
  for (size_t i = 0; i < want.tensors.size(); ++i) {
    SCOPED_TRACE("tensor " + std::to_string(i));
    EXPECT_EQ(got.tensors[i].name, want.tensors[i].name);
    EXPECT_EQ(got.tensors[i].dtype, want.tensors[i].dtype);
    EXPECT_EQ(got.tensors[i].shape, want.tensors[i].shape);
    EXPECT_EQ(got.tensors[i].size_bytes, want.tensors[i].size_bytes);
    EXPECT_EQ(got.tensors[i].chunks, want.tensors[i].chunks);
  }
}

// Decoding must fail with Corruption; `what` says which malformation this is.
inline void ExpectManifestCorruption(std::string_view bytes, const std::string& what) {
  auto r = DecodeManifest(bytes);
  ASSERT_FALSE(r.ok()) << what << ": decoded a malformed manifest";
  EXPECT_EQ(r.status().code(), Code::kCorruption) << what << ": " << r.status().ToString();
  EXPECT_FALSE(r.status().message().empty()) << what;
}

}  // namespace ckptdb::schema::codec_tests

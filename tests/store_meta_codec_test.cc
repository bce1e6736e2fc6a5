// Specifies store metadata encoding and valid chunk sizes: exact round trips; bad metadata is Corruption.
#include "schema/codec.h"

#include <flatbuffers/flatbuffers.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "schema/store_meta_generated.h"
#include "tests/support/manifest_fixtures.h"
#include "tests/support/test_support.h"

namespace ckptdb::schema {
namespace {

using namespace codec_tests;
using ckptdb::testing::RandomBytes;

void ExpectStoreMetaCorruption(std::string_view bytes, const std::string& what) {
  auto r = DecodeStoreMeta(bytes);
  ASSERT_FALSE(r.ok()) << what << ": decoded malformed store metadata";
  EXPECT_EQ(r.status().code(), Code::kCorruption) << what << ": " << r.status().ToString();
}

std::string BuildStoreMeta(uint32_t version, const char* hash, uint64_t chunk_size, int64_t created,
                           const char* identifier = "CKSM") {
  flatbuffers::FlatBufferBuilder b;
  flatbuffers::Offset<flatbuffers::String> h = 0;
  if (hash) h = b.CreateString(hash);
  auto root = fb::CreateStoreMeta(b, version, h, chunk_size, created);
  if (identifier) b.Finish(root, identifier);
  else b.Finish(root);
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

TEST(StoreMetaCodec, RoundTripsExactly) {
  for (uint64_t c : {kMinChunkSize, uint64_t{1} << 20, uint64_t{4} << 20, kMaxChunkSize}) {
    StoreMeta meta;
    meta.chunk_size = c;
    meta.created_ns = 1'700'000'000'000'000'001 + static_cast<int64_t>(c);
    auto decoded = DecodeStoreMeta(EncodeStoreMeta(meta));
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(decoded->format_version, kFormatVersion);
    EXPECT_EQ(decoded->hash, kHashName);
    EXPECT_EQ(decoded->chunk_size, c);
    EXPECT_EQ(decoded->created_ns, meta.created_ns);
  }
}

TEST(StoreMetaCodec, EncodedStoreMetaCarriesTheFileIdentifier) {
  StoreMeta meta;
  meta.chunk_size = kChunk;
  const std::string bytes = EncodeStoreMeta(meta);
  ASSERT_GE(bytes.size(), 8u);
  EXPECT_EQ(bytes.substr(4, 4), "CKSM");
}

TEST(StoreMetaCodec, GarbageIsCorruption) {
  ExpectStoreMetaCorruption("", "empty");
  for (uint64_t seed = 0; seed < 200; ++seed) {
    auto bytes = RandomBytes(seed, 1 + seed % 200);
    ExpectStoreMetaCorruption(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                              "random bytes, seed " + std::to_string(seed));
  }
  StoreMeta meta;
  meta.chunk_size = kChunk;
  const std::string good = EncodeStoreMeta(meta);
  for (size_t len = 0; len < good.size(); ++len) {
    // As for manifests, only trailing alignment padding may be cut without losing anything.
    auto r = DecodeStoreMeta(std::string_view(good).substr(0, len));
    if (r.ok()) {
      EXPECT_GE(len + 8, good.size()) << "truncated to " << len;
      for (size_t i = len; i < good.size(); ++i) EXPECT_EQ(good[i], '\0') << "cut byte " << i << " was data";
      EXPECT_EQ(r->chunk_size, kChunk);
    } else {
      EXPECT_EQ(r.status().code(), Code::kCorruption) << "truncated to " << len;
    }
  }
  ExpectStoreMetaCorruption(std::string_view(good).substr(0, good.size() - 8), "truncated by 8 bytes");
  for (size_t i = 0; i < good.size(); ++i) {
    std::string flipped = good;
    flipped[i] ^= 0xFF;
    auto r = DecodeStoreMeta(flipped);
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Code::kCorruption) << "byte " << i;
    }
  }
}

TEST(StoreMetaCodec, AManifestIsNotStoreMeta) {
  ExpectStoreMetaCorruption(EncodeManifest(RichManifest()), "a manifest buffer");
}

TEST(StoreMetaCodec, WrongFileIdentifierIsCorruption) {
  ExpectStoreMetaCorruption(BuildStoreMeta(1, "blake3-256", kChunk, 1, "CKMF"), "identifier CKMF");
  ExpectStoreMetaCorruption(BuildStoreMeta(1, "blake3-256", kChunk, 1, nullptr), "no identifier");
  ASSERT_TRUE(DecodeStoreMeta(BuildStoreMeta(1, "blake3-256", kChunk, 1)).ok());
}

TEST(StoreMetaCodec, UnknownHashIsCorruptionNamingIt) {
  for (const char* hash : {"sha256", "BLAKE3-256", "blake3", "blake3-256 ", ""}) {
    auto r = DecodeStoreMeta(BuildStoreMeta(1, hash, kChunk, 1));
    ASSERT_FALSE(r.ok()) << "hash '" << hash << "'";
    EXPECT_EQ(r.status().code(), Code::kCorruption);
    if (*hash) {
      EXPECT_NE(r.status().message().find(hash), std::string::npos) << r.status().ToString();
    }
  }
  ExpectStoreMetaCorruption(BuildStoreMeta(1, nullptr, kChunk, 1), "no hash field");
}

TEST(StoreMetaCodec, BadChunkSizeIsCorruption) {
  for (uint64_t c : {uint64_t{0}, kMinChunkSize - 1, kMinChunkSize / 2, kMinChunkSize + 1, 3 * kMinChunkSize,
                     kMaxChunkSize * 2, std::numeric_limits<uint64_t>::max()})
    ExpectStoreMetaCorruption(BuildStoreMeta(1, "blake3-256", c, 1), "chunk size " + std::to_string(c));
}

TEST(StoreMetaCodec, FutureOrZeroFormatVersionIsCorruption) {
  for (uint32_t v : {0u, 3u, std::numeric_limits<uint32_t>::max()}) {
    auto r = DecodeStoreMeta(BuildStoreMeta(v, "blake3-256", kChunk, 1));
    ASSERT_FALSE(r.ok()) << "version " << v;
    EXPECT_EQ(r.status().code(), Code::kCorruption);
    EXPECT_NE(r.status().message().find(std::to_string(v)), std::string::npos) << r.status().ToString();
  }
}

TEST(StoreMetaCodec, VersionsOneAndTwoDecode) {
  // Version 1 stores are opened and upgraded to 2 (store/upgrade.h); both must decode.
  for (uint32_t v : {1u, 2u}) {
    auto r = DecodeStoreMeta(BuildStoreMeta(v, "blake3-256", kChunk, 1));
    ASSERT_TRUE(r.ok()) << "version " << v << ": " << r.status().ToString();
    EXPECT_EQ(r->format_version, v);
  }
}

TEST(ChunkSize, ValidChunkSizesArePowersOfTwoBetween64KiBAnd64MiB) {
  for (uint64_t c = kMinChunkSize; c <= kMaxChunkSize; c *= 2) EXPECT_TRUE(IsValidChunkSize(c)) << c;
  for (uint64_t c : {uint64_t{0}, uint64_t{1}, kMinChunkSize / 2, kMinChunkSize - 1, kMinChunkSize + 1,
                     kMaxChunkSize - 1, kMaxChunkSize + 1, kMaxChunkSize * 2, 3 * kMinChunkSize,
                     uint64_t{1} << 63, std::numeric_limits<uint64_t>::max()})
    EXPECT_FALSE(IsValidChunkSize(c)) << c;
}

}  // namespace
}  // namespace ckptdb::schema

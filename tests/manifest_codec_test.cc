// Specifies manifest encoding: exact round trips; random, cut, flipped or foreign bytes are Corruption.
#include "schema/codec.h"

#include <flatbuffers/flatbuffers.h>
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "schema/manifest_generated.h"
#include "tests/support/manifest_fixtures.h"
#include "tests/support/test_support.h"

namespace ckptdb::schema {
namespace {

using namespace codec_tests;
using ckptdb::testing::RandomBytes;

// ---------------------------------------------------------------------------------------------
// Round trips.

TEST(ManifestCodec, RichManifestRoundTripsExactly) {
  const CheckpointManifest m = RichManifest();
  auto decoded = DecodeManifest(EncodeManifest(m));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ExpectSameManifest(*decoded, m);
}

TEST(ManifestCodec, ManifestWithoutParentDecodesWithNoParent) {
  CheckpointManifest m = RichManifest();
  m.info.parent.reset();
  auto decoded = DecodeManifest(EncodeManifest(m));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_FALSE(decoded->info.parent.has_value());
  ExpectSameManifest(*decoded, m);
}

TEST(ManifestCodec, ParentZeroIsDistinctFromNoParent) {
  CheckpointManifest m = RichManifest();
  m.info.parent = 0;
  auto decoded = DecodeManifest(EncodeManifest(m));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ASSERT_TRUE(decoded->info.parent.has_value());
  EXPECT_EQ(*decoded->info.parent, 0u);
}

TEST(ManifestCodec, ManifestWithNoTensorsMetadataOrMetricsRoundTrips) {
  CheckpointManifest m;
  m.chunk_size = kMaxChunkSize;
  m.info.id = 1;
  auto decoded = DecodeManifest(EncodeManifest(m));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ExpectSameManifest(*decoded, m);
}

TEST(ManifestCodec, StructureBytesRoundTripAndAreAbsentWhenEmpty) {
  CheckpointManifest m = RichManifest();
  m.structure = std::string("\0\x01 state tree \xff", 16);
  auto decoded = DecodeManifest(EncodeManifest(m));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->structure, m.structure);
  m.structure.clear();
  const std::string bytes = EncodeManifest(m);
  EXPECT_EQ(fb::GetManifest(bytes.data())->structure(), nullptr) << "no field written for none";
  decoded = DecodeManifest(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_TRUE(decoded->structure.empty());
}

TEST(ManifestCodec, EveryDTypeRoundTrips) {
  CheckpointManifest m;
  m.chunk_size = kChunk;
  m.info.id = 3;
  for (uint8_t raw = 1; raw <= 15; ++raw) {
    ASSERT_TRUE(IsValidDType(raw));
    m.tensors.push_back(MakeTensorInfo("t" + std::to_string(raw), static_cast<DType>(raw), {3, 5}, kChunk, raw));
    m.info.logical_bytes += m.tensors.back().size_bytes;
  }
  auto decoded = DecodeManifest(EncodeManifest(m));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ExpectSameManifest(*decoded, m);
}

TEST(ManifestCodec, ExtremeIntegerFieldsRoundTrip) {
  CheckpointManifest m = RichManifest();
  m.info.id = std::numeric_limits<uint64_t>::max();
  m.info.parent = std::numeric_limits<uint64_t>::max() - 1;
  m.info.step = std::numeric_limits<int64_t>::min();
  m.info.commit_time_ns = std::numeric_limits<int64_t>::max();
  m.info.new_bytes = std::numeric_limits<uint64_t>::max();
  auto decoded = DecodeManifest(EncodeManifest(m));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ExpectSameManifest(*decoded, m);
}

TEST(ManifestCodec, TagsRoundTripSorted) {
  CheckpointManifest m = RichManifest();
  m.info.tags = {"release", "best"};
  auto decoded = DecodeManifest(EncodeManifest(m));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->info.tags, (std::vector<std::string>{"best", "release"}));
}

TEST(ManifestCodec, UnsortedOrRepeatedTagsAreCorruption) {
  for (const std::vector<std::string>& tags : {std::vector<std::string>{"b", "a"}, {"a", "a"}, {""}}) {
    flatbuffers::FlatBufferBuilder b;
    auto tag_vec = b.CreateVectorOfStrings(tags);
    auto root = ckptdb::fb::CreateManifest(b, ckptdb::schema::kManifestVersion, 1, 0, false, 0, 0, 65536, 0, 0, 0,
                                           0, 0, tag_vec);
    ckptdb::fb::FinishManifestBuffer(b, root);
    auto decoded = DecodeManifest(std::string_view(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize()));
    ASSERT_FALSE(decoded.ok());
    EXPECT_EQ(decoded.status().code(), ckptdb::Code::kCorruption) << decoded.status().ToString();
  }
}

TEST(ManifestCodec, EncodedManifestCarriesTheFileIdentifier) {
  const std::string bytes = EncodeManifest(RichManifest());
  ASSERT_GE(bytes.size(), 8u);
  EXPECT_EQ(bytes.substr(4, 4), "CKMF");
}

TEST(ManifestCodec, DecodesFromAnUnalignedBuffer) {
  // RocksDB values come with no alignment promise: the decoder must copy before verifying.
  const std::string bytes = EncodeManifest(RichManifest());
  std::string shifted = "x" + bytes;
  auto decoded = DecodeManifest(std::string_view(shifted).substr(1));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ExpectSameManifest(*decoded, RichManifest());
}

TEST(ManifestCodec, AHundredThousandTensorManifestRoundTrips) {
  CheckpointManifest m;
  m.chunk_size = kChunk;
  m.info.id = 9;
  m.tensors.reserve(100'000);
  for (int i = 0; i < 100'000; ++i) {
    TensorInfo t;
    t.name = "layers." + std::to_string(i) + ".weight";
    t.dtype = DType::kF16;
    t.shape = {i % 3 == 0 ? 0 : 8, 4};
    t.size_bytes = *ExpectedBytes(t.dtype, t.shape);
    if (t.size_bytes > 0) t.chunks.push_back(RandomDigest(i));
    m.info.logical_bytes += t.size_bytes;
    m.tensors.push_back(std::move(t));
  }
  const std::string bytes = EncodeManifest(m);
  auto decoded = DecodeManifest(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ASSERT_EQ(decoded->tensors.size(), 100'000u);
  EXPECT_EQ(decoded->info.tensor_count, 100'000u);
  ExpectSameManifest(*decoded, m);
}

// ---------------------------------------------------------------------------------------------
// Garbage in: never a crash, always Corruption.

TEST(ManifestCodec, EmptyBufferIsCorruption) { ExpectManifestCorruption("", "empty buffer"); }

TEST(ManifestCodec, RandomBytesAreCorruption) {
  for (uint64_t seed = 0; seed < 500; ++seed) {
    const size_t n = 1 + seed * 7 % 3000;
    auto bytes = RandomBytes(seed, n);
    ExpectManifestCorruption(std::string_view(reinterpret_cast<const char*>(bytes.data()), n),
                             "random bytes, seed " + std::to_string(seed));
  }
}

TEST(ManifestCodec, RandomBytesBehindAValidHeaderAreCorruption) {
  // A plausible root offset and the right identifier, then noise: gets past the cheapest checks.
  for (uint64_t seed = 0; seed < 500; ++seed) {
    auto noise = RandomBytes(seed, 64 + seed % 512);
    std::string bytes(reinterpret_cast<const char*>(noise.data()), noise.size());
    const uint32_t root = 8 + static_cast<uint32_t>(seed % 32) * 4;
    std::memcpy(bytes.data(), &root, 4);
    std::memcpy(bytes.data() + 4, "CKMF", 4);
    auto r = DecodeManifest(bytes);
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
    }
  }
}

TEST(ManifestCodec, EveryTruncationOfAValidManifestIsCorruptionOrLosesOnlyPadding) {
  // The builder writes back to front, so the buffer can end in alignment padding after the first
  // string's terminator; cutting only that padding loses no data. Any other cut must be Corruption.
  const CheckpointManifest m = RichManifest();
  const std::string bytes = EncodeManifest(m);
  for (size_t len = 0; len < bytes.size(); ++len) {
    auto r = DecodeManifest(std::string_view(bytes).substr(0, len));
    if (r.ok()) {
      EXPECT_GE(len + 8, bytes.size()) << "truncated to " << len << " of " << bytes.size() << " decoded";
      for (size_t i = len; i < bytes.size(); ++i) EXPECT_EQ(bytes[i], '\0') << "cut byte " << i << " was data";
      ExpectSameManifest(*r, m);
    } else {
      EXPECT_EQ(r.status().code(), Code::kCorruption) << "truncated to " << len << ": " << r.status().ToString();
    }
  }
  // Cutting into the last string's terminator or anything before it always fails.
  ExpectManifestCorruption(std::string_view(bytes).substr(0, bytes.size() - 8), "truncated by 8 bytes");
}

TEST(ManifestCodec, FlippedBytesAreCorruptionOrDecodeCleanly) {
  // A flip in a digest, a name or a number still yields a well-formed manifest; a flip in an
  // offset or vtable must be caught. Either way: no crash, and any failure is Corruption.
  const std::string bytes = EncodeManifest(RichManifest());
  size_t rejected = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (uint8_t mask : {0x01, 0x80, 0xFF}) {
      std::string flipped = bytes;
      flipped[i] = static_cast<char>(flipped[i] ^ mask);
      auto r = DecodeManifest(flipped);
      if (r.ok()) continue;
      ++rejected;
      EXPECT_EQ(r.status().code(), Code::kCorruption)
          << "byte " << i << " ^ " << int(mask) << ": " << r.status().ToString();
    }
  }
  EXPECT_GT(rejected, 0u);
  // The identifier bytes are always checked.
  for (size_t i = 4; i < 8; ++i) {
    std::string flipped = bytes;
    flipped[i] ^= 0x20;
    ExpectManifestCorruption(flipped, "identifier byte " + std::to_string(i) + " flipped");
  }
}

TEST(ManifestCodec, StoreMetaBytesAreNotAManifest) {
  StoreMeta meta;
  meta.chunk_size = kChunk;
  ExpectManifestCorruption(EncodeStoreMeta(meta), "a StoreMeta buffer");
}

}  // namespace
}  // namespace ckptdb::schema

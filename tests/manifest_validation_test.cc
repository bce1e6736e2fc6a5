// Specifies that well-formed manifests whose fields disagree (dtype, shape, chunks, sizes) are Corruption.
#include "schema/codec.h"

#include <flatbuffers/flatbuffers.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "ckptdb/digest.h"
#include "schema/manifest_generated.h"
#include "tests/support/manifest_fixtures.h"

namespace ckptdb::schema {
namespace {

using namespace codec_tests;

// ---------------------------------------------------------------------------------------------
// Raw manifests built with the generated FlatBuffers API, so each test can break exactly one field
// of an otherwise valid buffer.

struct RawTensor {
  std::optional<std::string> name = "t";
  uint8_t dtype = static_cast<uint8_t>(DType::kF32);
  std::optional<std::vector<int64_t>> shape = std::vector<int64_t>{4};
  uint64_t size_bytes = 16;
  std::optional<uint64_t> chunk_count = 1;  // nullopt: no chunks vector at all
  // Write `shape` 4-byte aligned but not 8-byte aligned, as only a hand-made buffer would.
  bool misaligned_shape = false;
};

// A [long] vector whose elements start at an address that is 4 but not 8 modulo 8 in the finished
// buffer (the builder aligns to 8 and grows downward, so the position follows from the size built).
// FlatBuffers 2.0.8's verifier accepts it: it checks only the alignment of the length word.
flatbuffers::Offset<flatbuffers::Vector<int64_t>> MisalignedLongs(flatbuffers::FlatBufferBuilder& b,
                                                                  const std::vector<int64_t>& v) {
  b.StartVector(v.size() * 2, sizeof(uint32_t));
  if (b.GetSize() % 8 == 0) b.PushElement<uint32_t>(0);  // unnamed padding, legal in a buffer
  for (size_t i = v.size(); i-- > 0;) {
    const uint64_t u = static_cast<uint64_t>(v[i]);
    b.PushElement<uint32_t>(static_cast<uint32_t>(u >> 32));  // little-endian: high word above
    b.PushElement<uint32_t>(static_cast<uint32_t>(u));
  }
  return flatbuffers::Offset<flatbuffers::Vector<int64_t>>(b.EndVector(v.size()));
}

struct RawMetadata {
  std::string key, value;
};
struct RawMetric {
  std::string name;
  double value;
};

struct RawManifest {
  uint32_t format_version = kManifestVersion;
  uint64_t id = 1;
  int64_t step = 10;
  bool has_parent = false;
  uint64_t parent = 0;
  int64_t commit_time_ns = 1;
  uint64_t chunk_size = kChunk;
  std::vector<RawTensor> tensors = {RawTensor{}};
  std::vector<RawMetadata> metadata;
  std::vector<RawMetric> metrics;
  std::optional<uint64_t> logical_bytes;  // nullopt: the true sum of size_bytes
  uint64_t new_bytes = 0;
  const char* identifier = "CKMF";  // nullptr: finish without a file identifier
};

std::string Build(const RawManifest& r) {
  flatbuffers::FlatBufferBuilder b;
  std::vector<flatbuffers::Offset<fb::Tensor>> tensors;
  uint64_t logical = 0;
  for (size_t k = 0; k < r.tensors.size(); ++k) {
    const RawTensor& t = r.tensors[k];
    logical += t.size_bytes;
    auto name = b.CreateString(t.name.value_or(""));
    flatbuffers::Offset<flatbuffers::Vector<int64_t>> shape = 0;
    if (t.shape) shape = t.misaligned_shape ? MisalignedLongs(b, *t.shape) : b.CreateVector(*t.shape);
    flatbuffers::Offset<flatbuffers::Vector<const fb::Digest*>> chunks = 0;
    if (t.chunk_count) {
      std::vector<fb::Digest> digests;
      for (uint64_t i = 0; i < *t.chunk_count; ++i) {
        Digest d = RandomDigest(k * 100 + i);
        digests.emplace_back(flatbuffers::span<const uint8_t, 32>(d.bytes));
      }
      chunks = b.CreateVectorOfStructs(digests);
    }
    tensors.push_back(fb::CreateTensor(b, name, t.dtype, shape, t.size_bytes, chunks));
  }
  std::vector<flatbuffers::Offset<fb::StringPair>> metadata;
  for (const auto& p : r.metadata)
    metadata.push_back(fb::CreateStringPair(b, b.CreateString(p.key), b.CreateString(p.value)));
  std::vector<flatbuffers::Offset<fb::Metric>> metrics;
  for (const auto& p : r.metrics) metrics.push_back(fb::CreateMetric(b, b.CreateString(p.name), p.value));
  auto root = fb::CreateManifest(b, r.format_version, r.id, r.step, r.has_parent, r.parent, r.commit_time_ns,
                                 r.chunk_size, b.CreateVector(tensors), b.CreateVector(metadata),
                                 b.CreateVector(metrics), r.logical_bytes.value_or(logical), r.new_bytes);
  if (r.identifier) b.Finish(root, r.identifier);
  else b.Finish(root);
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

TEST(ManifestCodec, TheRawBuilderMakesAValidManifest) {
  // Guards the tests below: each changes exactly one thing about this buffer.
  RawManifest r;
  r.tensors = {RawTensor{}, RawTensor{.name = "u", .dtype = 14, .shape = std::vector<int64_t>{static_cast<int64_t>(kChunk + 1)},
                                      .size_bytes = kChunk + 1, .chunk_count = 2}};
  r.metadata = {{"a", "1"}, {"b", "2"}};
  r.metrics = {{"loss", 1.5}};
  r.has_parent = true;
  r.parent = 0;
  auto m = DecodeManifest(Build(r));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->tensors.size(), 2u);
  EXPECT_EQ(m->info.logical_bytes, 16 + kChunk + 1);
  EXPECT_EQ(m->metadata.size(), 2u);
  EXPECT_EQ(m->info.parent, std::optional<uint64_t>(0));
}

TEST(ManifestCodec, WrongFileIdentifierIsCorruption) {
  RawManifest r;
  r.identifier = "CKSM";
  ExpectManifestCorruption(Build(r), "identifier CKSM");
  r.identifier = "XXXX";
  ExpectManifestCorruption(Build(r), "identifier XXXX");
  r.identifier = nullptr;
  ExpectManifestCorruption(Build(r), "no identifier");
}

TEST(ManifestCodec, UnknownFormatVersionIsCorruption) {
  for (uint32_t v : {0u, 2u, 100u, std::numeric_limits<uint32_t>::max()}) {
    RawManifest r;
    r.format_version = v;
    auto res = DecodeManifest(Build(r));
    ASSERT_FALSE(res.ok()) << "format version " << v;
    EXPECT_EQ(res.status().code(), Code::kCorruption);
    EXPECT_NE(res.status().message().find(std::to_string(v)), std::string::npos) << res.status().ToString();
  }
}

TEST(ManifestCodec, InvalidDTypeIsCorruptionNamingTheTensor) {
  for (uint8_t dtype : {uint8_t{0}, uint8_t{16}, uint8_t{200}, uint8_t{255}}) {
    RawManifest r;
    r.tensors[0].name = "bad_dtype";
    r.tensors[0].dtype = dtype;
    r.tensors[0].shape = std::vector<int64_t>{16};
    r.tensors[0].size_bytes = 16;
    auto res = DecodeManifest(Build(r));
    ASSERT_FALSE(res.ok()) << "dtype " << int(dtype);
    EXPECT_EQ(res.status().code(), Code::kCorruption);
    EXPECT_NE(res.status().message().find("bad_dtype"), std::string::npos) << res.status().ToString();
  }
}

TEST(ManifestCodec, ShapeThatDisagreesWithSizeBytesIsCorruption) {
  struct Case {
    std::optional<std::vector<int64_t>> shape;
    uint64_t size;
    uint64_t chunks;
    const char* what;
  };
  const Case cases[] = {
      {std::vector<int64_t>{4}, 15, 1, "one byte short"},
      {std::vector<int64_t>{4}, 17, 1, "one byte over"},
      {std::vector<int64_t>{2, 3}, 16, 1, "wrong product"},
      {std::vector<int64_t>{}, 0, 0, "0-d tensor with no bytes"},
      {std::nullopt, 0, 0, "no shape (0-d) with no bytes"},
      {std::vector<int64_t>{0}, 4, 1, "zero elements with bytes"},
      {std::vector<int64_t>{-4}, 16, 1, "negative dimension"},
      {std::vector<int64_t>{-2, -2}, 16, 1, "two negative dimensions"},
      {std::vector<int64_t>{std::numeric_limits<int64_t>::max(), 4}, 0, 0, "element count overflows"},
  };
  for (const Case& c : cases) {
    RawManifest r;
    r.tensors[0].name = "w";
    r.tensors[0].dtype = static_cast<uint8_t>(DType::kF32);
    r.tensors[0].shape = c.shape;
    r.tensors[0].size_bytes = c.size;
    r.tensors[0].chunk_count = c.chunks;
    auto res = DecodeManifest(Build(r));
    ASSERT_FALSE(res.ok()) << c.what;
    EXPECT_EQ(res.status().code(), Code::kCorruption) << c.what;
    EXPECT_NE(res.status().message().find("'w'"), std::string::npos) << c.what << ": " << res.status().ToString();
  }
}

TEST(ManifestCodec, MissingShapeMeansAZeroDimensionalTensor) {
  RawManifest r;
  r.tensors[0].shape = std::nullopt;
  r.tensors[0].dtype = static_cast<uint8_t>(DType::kF64);
  r.tensors[0].size_bytes = 8;
  auto res = DecodeManifest(Build(r));
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_TRUE(res->tensors[0].shape.empty());
}

TEST(ManifestCodec, WrongNumberOfChunkDigestsIsCorruption) {
  struct Case {
    uint64_t size;
    std::optional<uint64_t> chunks;
  };
  const Case cases[] = {
      {16, 0},           {16, 2},           {16, std::nullopt},
      {kChunk, 2},       {kChunk, 0},       {kChunk + 1, 1},
      {kChunk + 1, 3},   {5 * kChunk, 4},   {5 * kChunk - 1, 6},
      {0, 1},
  };
  for (const Case& c : cases) {
    RawManifest r;
    r.tensors[0].name = "w";
    r.tensors[0].dtype = static_cast<uint8_t>(DType::kU8);
    r.tensors[0].shape = std::vector<int64_t>{static_cast<int64_t>(c.size)};
    r.tensors[0].size_bytes = c.size;
    r.tensors[0].chunk_count = c.chunks;
    const std::string what = std::to_string(c.size) + " bytes with " +
                             (c.chunks ? std::to_string(*c.chunks) : std::string("no")) + " digests";
    auto res = DecodeManifest(Build(r));
    ASSERT_FALSE(res.ok()) << what;
    EXPECT_EQ(res.status().code(), Code::kCorruption) << what;
    EXPECT_NE(res.status().message().find("'w'"), std::string::npos) << what << ": " << res.status().ToString();
  }
}

TEST(ManifestCodec, ChunkCountIsCheckedAtTheLargestChunkSize) {
  RawManifest r;
  r.chunk_size = kMaxChunkSize;
  r.tensors[0].dtype = static_cast<uint8_t>(DType::kU8);
  r.tensors[0].shape = std::vector<int64_t>{static_cast<int64_t>(kMaxChunkSize + 1)};
  r.tensors[0].size_bytes = kMaxChunkSize + 1;
  r.tensors[0].chunk_count = 2;
  ASSERT_TRUE(DecodeManifest(Build(r)).ok());
  r.tensors[0].chunk_count = 1;
  ExpectManifestCorruption(Build(r), "64 MiB + 1 bytes in one chunk");
}

TEST(ManifestCodec, TensorSizeNearTwoToTheSixtyFourIsNotAcceptedWithoutItsChunks) {
  // shape [2^63 - 1, 2] of U8 is 2^64 - 2 bytes: ExpectedBytes does not overflow, so the size
  // check passes, and the tensor would need 2^48 chunks. A decoder that computes
  // ceil(size / chunk_size) as (size + chunk_size - 1) / chunk_size wraps to 0 and accepts a
  // tensor of ~16 EiB that has no chunks at all; a reader would then try to allocate it.
  RawManifest r;
  r.tensors[0].name = "huge";
  r.tensors[0].dtype = static_cast<uint8_t>(DType::kU8);
  r.tensors[0].shape = std::vector<int64_t>{std::numeric_limits<int64_t>::max(), 2};
  r.tensors[0].size_bytes = std::numeric_limits<uint64_t>::max() - 1;
  r.tensors[0].chunk_count = 0;
  ExpectManifestCorruption(Build(r), "2^64 - 2 bytes with no chunk digests");
}

TEST(ManifestCodec, DuplicateTensorNamesAreCorruption) {
  RawManifest r;
  r.tensors = {RawTensor{.name = "w"}, RawTensor{.name = "v"}, RawTensor{.name = "w"}};
  auto res = DecodeManifest(Build(r));
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), Code::kCorruption);
  EXPECT_NE(res.status().message().find("'w'"), std::string::npos) << res.status().ToString();
}

TEST(ManifestCodec, EmptyOrNonUtf8TensorNamesAreCorruption) {
  for (const std::string& name : {std::string(""), std::string("\xff"), std::string("a\xc3"),
                                 std::string("\xed\xa0\x80"), std::string("\xc0\xaf")}) {
    RawManifest r;
    r.tensors[0].name = name;
    ExpectManifestCorruption(Build(r), "tensor name of " + std::to_string(name.size()) + " bytes");
  }
}

TEST(ManifestCodec, InvalidChunkSizeIsCorruption) {
  for (uint64_t c : {uint64_t{0}, uint64_t{1}, uint64_t{4096}, kMinChunkSize / 2, kMinChunkSize - 1,
                     kMinChunkSize + 1, 3 * kMinChunkSize, kMaxChunkSize + 1, kMaxChunkSize * 2,
                     uint64_t{1} << 63, std::numeric_limits<uint64_t>::max()}) {
    RawManifest r;
    r.chunk_size = c;
    r.tensors.clear();  // no tensors: the chunk size alone is wrong
    auto res = DecodeManifest(Build(r));
    ASSERT_FALSE(res.ok()) << "chunk size " << c;
    EXPECT_EQ(res.status().code(), Code::kCorruption) << "chunk size " << c;
  }
}

TEST(ManifestCodec, LogicalBytesThatDisagreeWithTheTensorsAreCorruption) {
  RawManifest r;
  r.tensors = {RawTensor{.name = "a"}, RawTensor{.name = "b"}};  // 16 + 16 bytes
  for (uint64_t logical : {uint64_t{0}, uint64_t{16}, uint64_t{31}, uint64_t{33},
                           std::numeric_limits<uint64_t>::max()}) {
    r.logical_bytes = logical;
    ExpectManifestCorruption(Build(r), "logical_bytes " + std::to_string(logical));
  }
  r.logical_bytes = 32;
  EXPECT_TRUE(DecodeManifest(Build(r)).ok());
  RawManifest none;
  none.tensors.clear();
  none.logical_bytes = 1;
  ExpectManifestCorruption(Build(none), "logical_bytes 1 with no tensors");
}

TEST(ManifestCodec, DuplicateMetadataKeysAreCorruption) {
  // FORMAT.md: metadata keys are unique; a reader must check "unique names". Keeping one of two
  // values silently would hide the damage.
  RawManifest r;
  r.metadata = {{"seed", "1"}, {"seed", "2"}};
  ExpectManifestCorruption(Build(r), "metadata key 'seed' twice");
}

TEST(ManifestCodec, DuplicateMetricNamesAreCorruption) {
  RawManifest r;
  r.metrics = {{"loss", 1.0}, {"loss", 2.0}};
  ExpectManifestCorruption(Build(r), "metric 'loss' twice");
}

// A hostile buffer may place the 8-byte elements of a shape off their alignment; the verifier lets
// it through, so the decoder must read them without a misaligned load (undefined behaviour, which
// -DCKPTDB_SANITIZE=ON turns into an abort) and still get the values right.
TEST(ManifestCodec, AShapeVectorOnlyFourByteAlignedDecodesToItsValues) {
  RawManifest r;
  const std::vector<int64_t> shape = {3, 1, 5, 1};
  r.tensors = {RawTensor{.name = "w", .dtype = static_cast<uint8_t>(DType::kI64), .shape = shape,
                         .size_bytes = 15 * 8, .chunk_count = 1, .misaligned_shape = true}};
  const std::string bytes = Build(r);
  {  // the test really builds what it means to: decoders copy into an 8-byte-aligned buffer
    std::vector<uint64_t> aligned(bytes.size() / 8 + 1);
    std::memcpy(aligned.data(), bytes.data(), bytes.size());
    const auto* root = fb::GetManifest(aligned.data());
    const auto* data = root->tensors()->Get(0)->shape()->Data();
    ASSERT_EQ((data - reinterpret_cast<const uint8_t*>(aligned.data())) % 8, 4);
    flatbuffers::Verifier verifier(reinterpret_cast<const uint8_t*>(aligned.data()), bytes.size());
    ASSERT_TRUE(fb::VerifyManifestBuffer(verifier));
  }
  auto m = DecodeManifest(bytes);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->tensors.size(), 1u);
  EXPECT_EQ(m->tensors[0].shape, shape);
  EXPECT_EQ(m->tensors[0].size_bytes, 15u * 8);
}

TEST(ManifestCodec, AMisalignedShapeThatDisagreesWithSizeBytesIsStillCorruption) {
  RawManifest r;
  r.tensors = {RawTensor{.shape = std::vector<int64_t>{int64_t(1) << 40, int64_t(1) << 40}, .size_bytes = 16,
                         .misaligned_shape = true}};
  ExpectManifestCorruption(Build(r), "tensor 't'");
}

}  // namespace
}  // namespace ckptdb::schema

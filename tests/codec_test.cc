// Specifies schema/codec.h: manifests and store metadata round-trip exactly, and the decoders turn
// every malformed buffer -- truncated, flipped, foreign, or well-formed FlatBuffers whose fields
// disagree with each other -- into Corruption, never a crash and never a silently wrong value.
#include "schema/codec.h"

#include <flatbuffers/flatbuffers.h>
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "ckptdb/digest.h"
#include "schema/manifest_generated.h"
#include "schema/store_meta_generated.h"
#include "tests/support/test_support.h"

namespace ckptdb::schema {
namespace {

using ckptdb::testing::RandomBytes;

constexpr uint64_t kChunk = 64ull << 10;

Digest RandomDigest(uint64_t seed) {
  Digest d;
  auto bytes = RandomBytes(seed, 32);
  std::memcpy(d.bytes.data(), bytes.data(), 32);
  return d;
}

TensorInfo MakeTensorInfo(std::string name, DType dtype, Shape shape, uint64_t chunk_size, uint64_t seed) {
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
CheckpointManifest RichManifest() {
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

void ExpectSameManifest(const CheckpointManifest& got, const CheckpointManifest& want) {
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
void ExpectManifestCorruption(std::string_view bytes, const std::string& what) {
  auto r = DecodeManifest(bytes);
  ASSERT_FALSE(r.ok()) << what << ": decoded a malformed manifest";
  EXPECT_EQ(r.status().code(), Code::kCorruption) << what << ": " << r.status().ToString();
  EXPECT_FALSE(r.status().message().empty()) << what;
}

void ExpectStoreMetaCorruption(std::string_view bytes, const std::string& what) {
  auto r = DecodeStoreMeta(bytes);
  ASSERT_FALSE(r.ok()) << what << ": decoded malformed store metadata";
  EXPECT_EQ(r.status().code(), Code::kCorruption) << what << ": " << r.status().ToString();
}

// ---------------------------------------------------------------------------------------------
// Raw manifests built with the generated FlatBuffers API, so each test can break exactly one field
// of an otherwise valid buffer.

struct RawTensor {
  std::optional<std::string> name = "t";
  uint8_t dtype = static_cast<uint8_t>(DType::kF32);
  std::optional<std::vector<int64_t>> shape = std::vector<int64_t>{4};
  uint64_t size_bytes = 16;
  std::optional<uint64_t> chunk_count = 1;  // nullopt: no chunks vector at all
};

struct RawMetadata {
  std::string key, value;
};
struct RawMetric {
  std::string name;
  double value;
};

struct RawManifest {
  uint32_t format_version = kFormatVersion;
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
    if (t.shape) shape = b.CreateVector(*t.shape);
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
    auto root = ckptdb::fb::CreateManifest(b, ckptdb::schema::kFormatVersion, 1, 0, false, 0, 0, 65536, 0, 0, 0,
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

// ---------------------------------------------------------------------------------------------
// Well-formed FlatBuffers whose meaning is wrong.

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

// ---------------------------------------------------------------------------------------------
// Store metadata.

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
  for (uint32_t v : {0u, 2u, 3u, std::numeric_limits<uint32_t>::max()}) {
    auto r = DecodeStoreMeta(BuildStoreMeta(v, "blake3-256", kChunk, 1));
    ASSERT_FALSE(r.ok()) << "version " << v;
    EXPECT_EQ(r.status().code(), Code::kCorruption);
    EXPECT_NE(r.status().message().find(std::to_string(v)), std::string::npos) << r.status().ToString();
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

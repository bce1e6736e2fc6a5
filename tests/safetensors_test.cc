// Specifies tools/safetensors.h: round trips, the exact layout the reference writes, and one test per
// way a file can be malformed, each checking the error code and that the message names file and fault.
#include "tools/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

using ckptdb::testing::ReadFileOrDie;
using ckptdb::testing::ScratchDir;
using ckptdb::testing::WriteFileOrDie;

std::string Le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = char(n >> (8 * i));
  return s;
}
// A file image: length prefix, `header` verbatim, then `data_bytes` zero bytes.
std::string Image(const std::string& header, size_t data_bytes = 0) {
  return Le64(header.size()) + header + std::string(data_bytes, '\0');
}
std::string Entry(const std::string& name, const std::string& dtype, const std::string& shape,
                  const std::string& offsets) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
}

class Safetensors : public ::testing::Test {
 protected:
  // Writes `bytes` as `name` in the scratch dir and opens it.
  Result<SafetensorsFile> OpenBytes(const std::string& bytes, const std::string& name = "x.safetensors") {
    WriteFileOrDie(dir_.Join(name), bytes);
    return SafetensorsFile::Open(dir_.Join(name));
  }
  // Opening `bytes` fails with Corruption in one line that names the file and contains `problem`.
  void ExpectCorrupt(const std::string& bytes, const std::string& problem, const std::string& name = "x.safetensors") {
    auto f = OpenBytes(bytes, name);
    ASSERT_FALSE(f.ok()) << problem;
    EXPECT_EQ(f.status().code(), Code::kCorruption) << f.status().ToString();
    const std::string& m = f.status().message();
    EXPECT_EQ(m.rfind(dir_.Join(name) + ": ", 0), 0u) << m;
    EXPECT_NE(m.find(problem), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
  ScratchDir dir_;
};

constexpr DType kAllDTypes[] = {DType::kF64,  DType::kF32,  DType::kF16, DType::kBF16, DType::kF8_E4M3,
                                DType::kF8_E5M2, DType::kI64, DType::kI32, DType::kI16,  DType::kI8,
                                DType::kU64,  DType::kU32,  DType::kU16, DType::kU8,   DType::kBool};

TEST_F(Safetensors, RoundTripsEveryDTypeInTheOrderGiven) {
  std::vector<std::vector<uint8_t>> bytes;
  std::vector<TensorRef> refs;
  for (DType d : kAllDTypes) {
    bytes.push_back(testing::RandomBytes(refs.size(), 6 * DTypeSize(d)));
    refs.push_back({"t." + std::string(DTypeName(d)), d, {2, 3}, bytes.back().data(), bytes.back().size()});
  }
  ASSERT_TRUE(WriteSafetensors(dir_.Join("all.safetensors"), refs, {}).ok());
  auto f = SafetensorsFile::Open(dir_.Join("all.safetensors"));
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_EQ(f->tensors().size(), 15u);
  for (size_t i = 0; i < refs.size(); ++i) {
    const SafetensorsEntry& e = f->tensors()[i];
    EXPECT_EQ(e.name, refs[i].name);
    EXPECT_EQ(e.dtype, refs[i].dtype);
    EXPECT_EQ(e.shape, (Shape{2, 3}));
    TensorRef r = f->ref(e);
    ASSERT_EQ(r.size_bytes, bytes[i].size());
    EXPECT_EQ(std::memcmp(r.data, bytes[i].data(), r.size_bytes), 0) << e.name;
    EXPECT_TRUE(ValidateTensorRef(r).ok());
  }
  EXPECT_TRUE(f->metadata().empty());
  EXPECT_NE(f->find("t.BF16"), nullptr);
  EXPECT_EQ(f->find("nope"), nullptr);
}

TEST_F(Safetensors, RoundTripsZeroDimensionalAndZeroElementTensors) {
  float scalar = 1.5f, after[2] = {2, 3};
  std::vector<TensorRef> refs = {{"scalar", DType::kF32, {}, &scalar, 4},
                                 {"empty", DType::kF32, {0}, nullptr, 0},
                                 {"empty2d", DType::kI64, {3, 0}, nullptr, 0},
                                 {"after", DType::kF32, {2}, after, 8}};
  ASSERT_TRUE(WriteSafetensors(dir_.Join("z.safetensors"), refs, {}).ok());
  auto f = SafetensorsFile::Open(dir_.Join("z.safetensors"));
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  const auto& t = f->tensors();
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t[0].shape, Shape{});
  EXPECT_EQ(std::memcmp(f->data(t[0]), &scalar, 4), 0);
  EXPECT_EQ(t[1].shape, Shape{0});
  EXPECT_EQ(t[2].shape, (Shape{3, 0}));
  EXPECT_EQ(t[1].begin, 4u);
  EXPECT_EQ(t[1].end, 4u);
  EXPECT_EQ(t[3].name, "after");
  EXPECT_EQ(std::memcmp(f->data(t[3]), after, 8), 0);
}

TEST_F(Safetensors, PreservesMetadataIncludingCharactersThatNeedEscaping) {
  std::map<std::string, std::string> md = {{"format", "pt"}, {"quote\"back\\slash", "line\nbreak\x01"},
                                           {"caf\xC3\xA9", "\xF0\x9F\x98\x80"}, {"empty", ""}};
  ASSERT_TRUE(WriteSafetensors(dir_.Join("m.safetensors"), {}, md).ok());
  auto f = SafetensorsFile::Open(dir_.Join("m.safetensors"));
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->metadata(), md);
  EXPECT_TRUE(f->tensors().empty());
}

TEST_F(Safetensors, PadsTheHeaderWithSpacesSoTheDataSectionIs8ByteAligned) {
  double v = 1;
  for (std::string name = "a"; name.size() <= 9; name += "b") {
    ASSERT_TRUE(WriteSafetensors(dir_.Join("p.safetensors"), {{name, DType::kF64, {1}, &v, 8}}, {}).ok());
    std::string file = ReadFileOrDie(dir_.Join("p.safetensors"));
    auto f = SafetensorsFile::Open(dir_.Join("p.safetensors"));
    ASSERT_TRUE(f.ok());
    EXPECT_EQ(f->header_length() % 8, 0u) << name;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(f->data(f->tensors()[0])) % 8, 0u);
    std::string header = file.substr(8, f->header_length());
    EXPECT_EQ(header.find_last_not_of(' '), header.rfind('}'));
  }
}

// The byte images below are the expected outputs of the reference's own tests
// (test_serialization, test_serialization_forced_alignement and test_empty in tensor.rs).
TEST_F(Safetensors, WritesByteForByteWhatTheReferenceWrites) {
  float data[6] = {0, 1, 2, 3, 4, 5};
  std::string raw(reinterpret_cast<const char*>(data), 24);
  ASSERT_TRUE(WriteSafetensors(dir_.Join("a.safetensors"), {{"attn.0", DType::kF32, {1, 2, 3}, data, 24}}, {}).ok());
  EXPECT_EQ(ReadFileOrDie(dir_.Join("a.safetensors")),
            Image(R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})") + raw);
  ASSERT_TRUE(WriteSafetensors(dir_.Join("b.safetensors"), {{"attn0", DType::kF32, {1, 1, 2, 3}, data, 24}}, {}).ok());
  EXPECT_EQ(ReadFileOrDie(dir_.Join("b.safetensors")),
            Image(R"({"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}})" + std::string(7, ' ')) + raw);
  ASSERT_TRUE(WriteSafetensors(dir_.Join("c.safetensors"), {}, {}).ok());
  EXPECT_EQ(ReadFileOrDie(dir_.Join("c.safetensors")), Image("{}      "));
  ASSERT_TRUE(WriteSafetensors(dir_.Join("d.safetensors"), {}, {{"framework", "pt"}}).ok());
  EXPECT_EQ(ReadFileOrDie(dir_.Join("d.safetensors")), Image(R"({"__metadata__":{"framework":"pt"}})" "     "));
}

TEST_F(Safetensors, ReadsHeadersInAnyKeyOrderAndReturnsTensorsInOffsetOrder) {
  std::string h = "{" + Entry("b", "U8", "[4]", "[4,8]") + ",\"__metadata__\":{\"k\":\"v\"}," +
                  Entry("z", "U8", "[0]", "[4,4]") + "," + Entry("a", "I32", "[]", "[0,4]") + "} \n\t ";
  auto f = OpenBytes(Image(h, 8));
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_EQ(f->tensors().size(), 3u);
  EXPECT_EQ(f->tensors()[0].name, "a");
  EXPECT_EQ(f->tensors()[1].name, "z");
  EXPECT_EQ(f->tensors()[2].name, "b");
  EXPECT_EQ(f->metadata().at("k"), "v");
}

TEST_F(Safetensors, OpenedFileStaysValidAfterMoves) {
  auto f = OpenBytes(Image("{" + Entry("a", "U8", "[2]", "[0,2]") + "}", 2));
  ASSERT_TRUE(f.ok());
  SafetensorsFile moved = std::move(f).value();
  SafetensorsFile again = std::move(moved);
  EXPECT_EQ(again.tensors().size(), 1u);
  EXPECT_EQ(again.data(again.tensors()[0])[1], 0);
}

TEST_F(Safetensors, WriteReplacesAnExistingFileAndLeavesNoTemporary) {
  uint8_t a = 1, b[2] = {2, 3};
  ASSERT_TRUE(WriteSafetensors(dir_.Join("r.safetensors"), {{"a", DType::kU8, {1}, &a, 1}}, {}).ok());
  ASSERT_TRUE(WriteSafetensors(dir_.Join("r.safetensors"), {{"b", DType::kU8, {2}, b, 2}}, {}).ok());
  auto f = SafetensorsFile::Open(dir_.Join("r.safetensors"));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->tensors()[0].name, "b");
  int files = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir_.path())) ++files;
  EXPECT_EQ(files, 1);
}

TEST_F(Safetensors, WriteRejectsBadArgumentsNamingFileAndTensorAndCreatesNothing) {
  uint8_t b[4] = {};
  const std::string path = dir_.Join("w.safetensors");
  auto expect_invalid = [&](const std::vector<TensorRef>& t, std::map<std::string, std::string> md, const std::string& what) {
    Status s = WriteSafetensors(path, t, md);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << what;
    EXPECT_EQ(s.message().rfind(path + ": ", 0), 0u) << s.message();
    EXPECT_NE(s.message().find(what), std::string::npos) << s.message();
  };
  expect_invalid({{"a", DType::kU8, {1}, b, 1}, {"a", DType::kU8, {1}, b, 1}}, {}, "duplicate tensor name 'a'");
  expect_invalid({{"__metadata__", DType::kU8, {1}, b, 1}}, {}, "'__metadata__' is reserved");
  expect_invalid({{"w", DType::kF32, {2}, b, 4}}, {}, "tensor 'w'");
  expect_invalid({{"", DType::kU8, {1}, b, 1}}, {}, "name is empty");
  expect_invalid({{"n", DType::kU8, {-1}, b, 1}}, {}, "negative");
  expect_invalid({}, {{"k", "\xFF"}}, "not valid UTF-8");
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_EQ(WriteSafetensors(dir_.Join("no/such/dir/x.safetensors"), {}, {}).code(), Code::kIOError);
}

TEST_F(Safetensors, MissingFileIsNotFound) {
  auto f = SafetensorsFile::Open(dir_.Join("absent.safetensors"));
  EXPECT_EQ(f.status().code(), Code::kNotFound);
  EXPECT_NE(f.status().message().find("absent.safetensors"), std::string::npos);
}

// ---- one test per malformation

TEST_F(Safetensors, FileShorterThanTheLengthPrefixIsCorrupt) {
  ExpectCorrupt("12345", "file is 5 bytes, shorter than the 8-byte header length");
  ExpectCorrupt("", "file is 0 bytes");
  ExpectCorrupt("1", "file is 1 byte, shorter than the 8-byte header length");
}

TEST_F(Safetensors, HeaderLengthPastTheEndOfTheFileIsCorrupt) {
  ExpectCorrupt(Le64(999999) + std::string(112, ' '), "header length 999999 runs past the end of the file (120 bytes)");
}

TEST_F(Safetensors, HeaderLengthOverTheReferenceLimitIsCorrupt) {
  ExpectCorrupt(Le64(100'000'001) + "{}", "header length 100000001 exceeds the 100000000-byte limit");
  ExpectCorrupt(Le64(UINT64_MAX) + "{}", "exceeds");  // no overflow in 8 + N
}

TEST_F(Safetensors, HeaderNotStartingWithABraceIsCorrupt) {
  ExpectCorrupt(Image("  {}    "), "header does not start with '{'");
  ExpectCorrupt(Image(""), "header does not start with '{'");
}

TEST_F(Safetensors, HeaderThatIsNotJsonIsCorruptWithItsOffset) {
  ExpectCorrupt(Image(R"({"a":})"), "header is not valid JSON: unexpected character '}', expected a value at byte 5 of the header");
  ExpectCorrupt(Image(std::string("{}\0\0\0\0\0\0", 8)), "after the JSON value");  // NUL padding is not JSON whitespace
}

TEST_F(Safetensors, HeaderWithInvalidUtf8IsCorrupt) {
  ExpectCorrupt(Image("{" + Entry("a\xFF", "U8", "[0]", "[0,0]") + "}"), "invalid UTF-8");
}

TEST_F(Safetensors, DuplicateTensorNameIsCorrupt) {
  ExpectCorrupt(Image("{" + Entry("a", "U8", "[1]", "[0,1]") + "," + Entry("a", "U8", "[1]", "[1,2]") + "}", 2),
                "duplicate key 'a'");
}

TEST_F(Safetensors, UnknownDTypeIsCorrupt) {
  ExpectCorrupt(Image("{" + Entry("a", "F33", "[1]", "[0,4]") + "}", 4), "unknown dtype 'F33' for tensor 'a'");
  ExpectCorrupt(Image("{" + Entry("a", "f32", "[1]", "[0,4]") + "}", 4), "unknown dtype 'f32'");
  ExpectCorrupt(Image(R"({"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})", 4), "tensor 'a': dtype is 4, not a string");
}

TEST_F(Safetensors, ByteLengthThatDisagreesWithShapeAndDTypeIsCorrupt) {
  ExpectCorrupt(Image("{" + Entry("w", "F32", "[2,2]", "[0,12]") + "}", 12),
                dir_.Join("model.safetensors") +
                    ": tensor 'w': data_offsets [0, 12] hold 12 bytes but shape [2, 2] of F32 needs 16",
                "model.safetensors");
}

TEST_F(Safetensors, NegativeOrNonIntegerShapeEntriesAreCorrupt) {
  for (const char* shape : {"[-1]", "[2.0]", "[1e2]", "[\"2\"]", "[null]", "[9223372036854775808]"})
    ExpectCorrupt(Image("{" + Entry("a", "U8", shape, "[0,0]") + "}"), "not a non-negative integer");
  ExpectCorrupt(Image("{" + Entry("a", "U8", "[2,-3]", "[0,0]") + "}"), "tensor 'a': shape [2,-3] has entry -3, not a");
  ExpectCorrupt(Image("{" + Entry("a", "U8", "3", "[0,3]") + "}", 3), "tensor 'a': shape is 3, not an array");
}

TEST_F(Safetensors, ShapeWhoseByteSizeOverflowsIsCorrupt) {
  ExpectCorrupt(Image("{" + Entry("a", "F32", "[4294967296,4294967296]", "[0,0]") + "}"), "has more than 2^64 bytes");
}

TEST_F(Safetensors, MalformedDataOffsetsAreCorrupt) {
  for (const char* offsets : {"[0]", "[0,1,2]", "[-1,0]", "[0,1.5]", "\"0,1\"", "{}"})
    ExpectCorrupt(Image("{" + Entry("a", "U8", "[1]", offsets) + "}", 1), "is not [begin, end] with two non-negative integers");
  ExpectCorrupt(Image("{" + Entry("a", "U8", "[0]", "[8,4]") + "}", 8), "data_offsets [8, 4] end before they begin");
}

TEST_F(Safetensors, OffsetsPastTheEndOfTheDataSectionAreCorrupt) {
  ExpectCorrupt(Image("{" + Entry("a", "U8", "[8]", "[0,8]") + "}", 6),
                "tensor 'a': data_offsets [0, 8] run past the end of the data section (6 bytes");
  ExpectCorrupt(Image("{" + Entry("a", "U8", "[1]", "[18446744073709551614,18446744073709551615]") + "}", 6), "run past");
}

TEST_F(Safetensors, HoleBetweenTensorsIsCorrupt) {
  ExpectCorrupt(Image("{" + Entry("a", "U8", "[4]", "[0,4]") + "," + Entry("b", "U8", "[4]", "[8,12]") + "}", 12),
                "bytes [4, 8) of the data section belong to no tensor (a hole before tensor 'b')");
  ExpectCorrupt(Image("{" + Entry("a", "U8", "[4]", "[4,8]") + "}", 8), "bytes [0, 4) of the data section");
}

TEST_F(Safetensors, OverlappingTensorsAreCorrupt) {
  ExpectCorrupt(Image("{" + Entry("a", "U8", "[8]", "[0,8]") + "," + Entry("b", "U8", "[8]", "[4,12]") + "}", 12),
                "tensor 'b' data_offsets [4, 12] overlap tensor 'a' data_offsets [0, 8]");
}

TEST_F(Safetensors, BytesAfterTheLastTensorAreCorrupt) {
  ExpectCorrupt(Image("{" + Entry("a", "U8", "[4]", "[0,4]") + "}", 5),
                "the data section is 5 bytes but the tensors cover only 4");
  ExpectCorrupt(Image("{}", 1), "cover only 0");
}

TEST_F(Safetensors, NonStringMetadataValueIsCorrupt) {
  ExpectCorrupt(Image(R"({"__metadata__":{"k":1}})"), "__metadata__ value for key 'k' is 1, not a string");
  ExpectCorrupt(Image(R"({"__metadata__":{"k":{"x":"y"}}})"), "__metadata__ value for key 'k'");
}

TEST_F(Safetensors, MetadataThatIsNotAnObjectIsCorrupt) {
  ExpectCorrupt(Image(R"({"__metadata__":"x"})"), "__metadata__ is string, not an object");
  ExpectCorrupt(Image(R"({"__metadata__":null})"), "__metadata__ is null, not an object");
}

TEST_F(Safetensors, MissingOrExtraTensorFieldsAreCorrupt) {
  ExpectCorrupt(Image(R"({"a":{"dtype":"U8","data_offsets":[0,0]}})"), "tensor 'a': missing field 'shape'");
  ExpectCorrupt(Image(R"({"a":{"dtype":"U8","shape":[0]}})"), "tensor 'a': missing field 'data_offsets'");
  ExpectCorrupt(Image(R"({"a":{"shape":[0],"data_offsets":[0,0]}})"), "tensor 'a': missing field 'dtype'");
  ExpectCorrupt(Image("{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0],\"foo\":1}}"),
                "tensor 'a': unexpected field 'foo'");
  ExpectCorrupt(Image(R"({"a":[1]})"), "tensor 'a': entry is array, not an object");
}

TEST_F(Safetensors, EmptyTensorNameIsCorrupt) {
  ExpectCorrupt(Image("{" + Entry("", "U8", "[0]", "[0,0]") + "}"), "a tensor has an empty name");
}

TEST_F(Safetensors, NamesWithControlCharactersAreEscapedSoTheMessageIsOneLine) {
  ExpectCorrupt(Image("{" + Entry("a\\nb", "F33", "[0]", "[0,0]") + "}"), "unknown dtype 'F33' for tensor 'a\\nb'");
}

// ---- robustness: damaged copies of a valid file yield errors or valid files, never crashes

std::string ValidImage(ScratchDir& dir) {
  std::vector<uint8_t> a = testing::RandomBytes(1, 24), b = testing::RandomBytes(2, 6);
  EXPECT_TRUE(WriteSafetensors(dir.Join("valid.safetensors"),
                               {{"w", DType::kF32, {2, 3}, a.data(), 24}, {"s", DType::kBF16, {3}, b.data(), 6},
                                {"e", DType::kI8, {0}, nullptr, 0}},
                               {{"step", "7"}})
                  .ok());
  return ReadFileOrDie(dir.Join("valid.safetensors"));
}

TEST_F(Safetensors, FileTruncatedAtAnyPointIsCorrupt) {
  const std::string image = ValidImage(dir_);
  ASSERT_TRUE(OpenBytes(image).ok());
  for (size_t cut = 0; cut < image.size(); ++cut) {
    auto f = OpenBytes(image.substr(0, cut));
    ASSERT_FALSE(f.ok()) << "cut at " << cut;
    EXPECT_EQ(f.status().code(), Code::kCorruption) << f.status().ToString();
  }
}

TEST_F(Safetensors, RandomByteFlipsYieldAnErrorOrAFullyReadableFile) {
  const std::string image = ValidImage(dir_);
  std::mt19937_64 rng(42);
  int accepted = 0;
  for (int iter = 0; iter < 1500; ++iter) {
    std::string damaged = image;
    for (int flips = 1 + int(rng() % 3); flips > 0; --flips) damaged[rng() % damaged.size()] ^= char(1 + rng() % 255);
    auto f = OpenBytes(damaged);
    if (!f.ok()) {
      EXPECT_EQ(f.status().code(), Code::kCorruption) << f.status().ToString();
      continue;
    }
    ++accepted;  // e.g. a flipped data byte: then every tensor must lie inside the file
    uint64_t total = 0;
    for (const auto& e : f->tensors()) {
      EXPECT_EQ(e.end - e.begin, ExpectedBytes(e.dtype, e.shape).value_or(~0ull));
      for (uint64_t i = 0; i < e.end - e.begin; ++i) total += f->data(e)[i];
    }
    EXPECT_LE(8 + f->header_length() + (f->tensors().empty() ? 0 : f->tensors().back().end), damaged.size());
  }
  EXPECT_GT(accepted, 0);
}

}  // namespace
}  // namespace ckptdb

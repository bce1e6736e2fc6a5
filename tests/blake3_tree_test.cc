// The GPU's BLAKE3 (gpu/blake3_tree.h), compiled for the host: the same source the kernels run,
// checked here on every machine, GPU or not, against the official test vectors and against the
// CPU implementation (store/blake3.h) on chunk-boundary and random lengths.
#include "gpu/blake3_tree.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "store/blake3.h"
#include "tests/support/test_support.h"
#include "tools/json.h"

namespace ckptdb {
namespace {

namespace tree = gpu::blake3;

std::string Hex(const uint8_t* d, size_t n) {
  static const char* k = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) s += {k[d[i] >> 4], k[d[i] & 15]};
  return s;
}

std::string TreeHash(const std::vector<uint8_t>& data) {
  std::vector<tree::Cv> scratch(tree::ChunkCount(data.size()));
  uint8_t out[32];
  tree::HashSerial(data.data(), data.size(), scratch.data(), out);
  return Hex(out, 32);
}

std::string CpuHash(const std::vector<uint8_t>& data) {
  uint8_t out[32];
  blake3::Hash(data.data(), data.size(), out);
  return Hex(out, 32);
}

TEST(Blake3Tree, MatchesTheOfficialVectors) {
  const std::string text = testing::ReadFileOrDie(testing::TestDataDir() + "/blake3/test_vectors.json");
  auto v = json::Parse(text);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  const auto& cases = v->find("cases")->as_array();
  ASSERT_GT(cases.size(), 30u);
  for (const json::Value& c : cases) {
    const uint64_t len = c.find("input_len")->as_uint64();
    std::vector<uint8_t> input(len);
    for (uint64_t i = 0; i < len; ++i) input[i] = static_cast<uint8_t>(i % 251);  // the vectors' input
    // The vectors give 131 bytes of extended output; the hash is its first 32.
    EXPECT_EQ(TreeHash(input), c.find("hash")->as_string().substr(0, 64)) << "input_len " << len;
  }
}

TEST(Blake3Tree, EqualsTheCpuHashAtChunkBoundariesAndRandomLengths) {
  std::vector<uint64_t> lengths = {0, 1, 63, 64, 65, 1023, 1024, 1025, 2047, 2048, 2049, 3072, 3073, 5 * 1024,
                                   7 * 1024 + 1, 8 * 1024, 64 << 10, (1 << 20) + 1, 4 << 20, (4 << 20) - 1};
  std::mt19937_64 rng(11);
  for (int i = 0; i < 40; ++i) lengths.push_back(rng() % (5 << 20));
  for (uint64_t len : lengths) {
    SCOPED_TRACE(len);
    const std::vector<uint8_t> data = testing::RandomBytes(len + 7, len);
    EXPECT_EQ(TreeHash(data), CpuHash(data));
  }
}

// The levels may be computed with any split of each level's pairs across threads; a kernel's
// order is modelled by reducing the second half of a level before the first.
TEST(Blake3Tree, ChunkValuesAreIndependentOfTheOrderTheyAreComputedIn) {
  const std::vector<uint8_t> data = testing::RandomBytes(5, 37 * 1024 + 100);
  const uint64_t chunks = tree::ChunkCount(data.size());
  std::vector<tree::Cv> cvs(chunks);
  for (uint64_t c = chunks; c-- > 0;) {
    const uint64_t off = c * tree::kChunkLen;
    const uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(tree::kChunkLen, data.size() - off));
    cvs[c] = tree::ChunkCv(data.data() + off, n, c, false);
  }
  uint64_t n = chunks;
  while (n > 1) {
    std::vector<tree::Cv> next((n + 1) / 2);
    for (uint64_t i = n / 2; i-- > 0;) next[i] = tree::ParentCv(cvs[2 * i], cvs[2 * i + 1], n == 2);
    if (n % 2) next.back() = cvs[n - 1];
    cvs = next;
    n = cvs.size();
  }
  uint8_t out[32];
  tree::StoreDigest(cvs[0], out);
  EXPECT_EQ(Hex(out, 32), CpuHash(data));
}

}  // namespace
}  // namespace ckptdb

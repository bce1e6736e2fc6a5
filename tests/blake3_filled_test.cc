// blake3::HashFilled: the same digest as Hash whatever the length, with `fill` asked for exactly
// the consecutive pieces that cover the input, each before it is hashed, and a failed fill
// stopping the hash.
#include <gtest/gtest.h>

#include <cstring>
#include <utility>
#include <vector>

#include "store/blake3.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

using blake3::kFillBytes;

TEST(Blake3Filled, EqualsHashAndFillsConsecutivePiecesInOrderBeforeHashingThem) {
  const std::vector<uint8_t> source = testing::RandomBytes(11, 4 * kFillBytes + 4096);
  std::vector<size_t> lengths = {0, 1, 1023, 1024, 1025, kFillBytes - 1, kFillBytes, kFillBytes + 1,
                                 2 * kFillBytes, 3 * kFillBytes - 7, 4 * kFillBytes, 4 * kFillBytes + 4096};
  for (size_t len : lengths) {
    uint8_t want[blake3::kOutLen];
    blake3::Hash(source.data(), len, want);
    // Starts as garbage: a piece hashed before fill brought it in would change the digest.
    std::vector<uint8_t> dest(len + 1, 0xA5);
    std::vector<std::pair<size_t, size_t>> asked;
    uint8_t got[blake3::kOutLen];
    ASSERT_TRUE(blake3::HashFilled(dest.data(), len, [&](size_t at, size_t n) {
      asked.emplace_back(at, n);
      std::memcpy(dest.data() + at, source.data() + at, n);
      return true;
    }, got));
    EXPECT_EQ(0, std::memcmp(want, got, sizeof want)) << "len " << len;
    size_t next = 0;
    for (auto [at, n] : asked) {
      EXPECT_EQ(at, next) << "len " << len;
      EXPECT_EQ(n, std::min(kFillBytes, len - at)) << "len " << len << ", piece at " << at;
      next = at + n;
    }
    EXPECT_EQ(next, len);
    EXPECT_EQ(asked.size(), (len + kFillBytes - 1) / kFillBytes) << "len " << len;
  }
}

TEST(Blake3Filled, AFailedFillStopsTheHashAndLeavesTheOutputAlone) {
  std::vector<uint8_t> dest(3 * kFillBytes, 1);
  for (size_t fail_at : {size_t{0}, kFillBytes, 2 * kFillBytes}) {
    uint8_t out[blake3::kOutLen];
    std::memset(out, 0x5A, sizeof out);
    size_t calls = 0;
    EXPECT_FALSE(blake3::HashFilled(dest.data(), dest.size(), [&](size_t at, size_t) {
      ++calls;
      return at != fail_at;
    }, out));
    EXPECT_EQ(calls, fail_at / kFillBytes + 1) << "no piece is asked for after the failed one";
    for (uint8_t b : out) ASSERT_EQ(b, 0x5A);
  }
}

}  // namespace
}  // namespace ckptdb

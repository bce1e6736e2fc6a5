// Specifies ckptdb::Buffer, the owned bytes Restore hands back: exact size, alignment, and impossible sizes.
#include "ckptdb/ckptdb.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <new>
#include <string>

#include "tests/support/store_fixtures.h"

namespace ckptdb {
namespace {

using store_tests::kChunk;

TEST(Buffer, AllocatesAlignedBytesOfTheRequestedSize) {
  for (uint64_t n : {uint64_t{0}, uint64_t{1}, uint64_t{63}, uint64_t{64}, uint64_t{65}, kChunk + 1}) {
    Buffer b = Buffer::Allocate(n);
    EXPECT_EQ(b.size(), n);
    ASSERT_NE(b.data(), nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % 64, 0u);
    if (n) {
      std::memset(b.data(), 0x5A, n);  // every byte is writable
      EXPECT_EQ(b.data()[n - 1], 0x5A);
    }
  }
}

TEST(Buffer, FromOneMiBUpIsPageAligned) {
  // tensor.h: 4 KiB aligned from 1 MiB up, so that restores can read into it with O_DIRECT.
  for (uint64_t n : {uint64_t{1} << 20, (uint64_t{1} << 20) + 1, (uint64_t{3} << 20) + 5, uint64_t{16} << 20}) {
    SCOPED_TRACE("size " + std::to_string(n));
    Buffer b = Buffer::Allocate(n);
    EXPECT_EQ(b.size(), n);
    ASSERT_NE(b.data(), nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % 4096, 0u);
    std::memset(b.data(), 0x5A, n);  // every byte is writable
    EXPECT_EQ(b.data()[0], 0x5A);
    EXPECT_EQ(b.data()[n - 1], 0x5A);
  }
}

TEST(Buffer, AnImpossibleSizeFailsInsteadOfReturningAShortBuffer) {
  // tensor.h: Allocate "aborts on out-of-memory like new". Rounding a size near 2^64 up to a
  // multiple of 64 must not wrap around to a 64-byte allocation that claims to be huge.
  for (uint64_t n : {std::numeric_limits<uint64_t>::max(), std::numeric_limits<uint64_t>::max() - 1,
                     std::numeric_limits<uint64_t>::max() - 62}) {
    SCOPED_TRACE("size " + std::to_string(n));
    bool threw = false;
    try {
      Buffer b = Buffer::Allocate(n);
      ADD_FAILURE() << "returned a buffer claiming " << b.size() << " bytes";
    } catch (const std::bad_alloc&) {
      threw = true;
    }
    EXPECT_TRUE(threw);
  }
}

}  // namespace
}  // namespace ckptdb

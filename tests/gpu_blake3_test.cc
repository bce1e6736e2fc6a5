// The GPU BLAKE3 (gpu/device_hasher.h) on a real device: digests of device memory equal the CPU
// BLAKE3's for the official vectors and for many chunks of random lengths in one launch. Without a
// usable GPU (CI) every test skips, saying why.
#include "gpu/device_buffer.h"
#include "gpu/device_chunk_hasher.h"
#include "gpu/device_hasher.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "ckptdb/digest.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

class GpuBlake3Test : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!gpu::DeviceAvailable(&why)) GTEST_SKIP() << "no GPU here: " << why;
  }
};

// Hashes `inputs` in one call, each copied to its own place in one device buffer.
std::vector<Digest> OnDevice(const std::vector<std::vector<uint8_t>>& inputs) {
  uint64_t total = 0;
  for (const auto& in : inputs) total += in.size() + 3;  // odd offsets: no alignment assumed
  gpu::DeviceBuffer buf(total);
  EXPECT_TRUE(buf.ok()) << buf.status().ToString();
  std::vector<gpu::DeviceChunk> chunks;
  uint64_t at = 0;
  for (const auto& in : inputs) {
    at += 3;
    EXPECT_TRUE(buf.CopyIn(at, in.data(), in.size()).ok());
    chunks.push_back({static_cast<uint8_t*>(buf.data()) + at, in.size()});
    at += in.size();
  }
  std::vector<Digest> digests(inputs.size());
  const Status s = gpu::HashDeviceChunks(chunks, digests);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return digests;
}

TEST_F(GpuBlake3Test, OfficialVectorLengthsEqualTheCpuDigests) {
  std::vector<std::vector<uint8_t>> inputs;
  for (uint64_t len : {0, 1, 1023, 1024, 1025, 2048, 2049, 3072, 3073, 4096, 4097, 5120, 5121, 6144, 6145, 7168,
                       7169, 8192, 8193, 16384, 31744, 102400}) {
    std::vector<uint8_t> in(len);
    for (uint64_t i = 0; i < len; ++i) in[i] = static_cast<uint8_t>(i % 251);
    inputs.push_back(in);
  }
  const std::vector<Digest> got = OnDevice(inputs);
  for (size_t i = 0; i < inputs.size(); ++i) EXPECT_EQ(got[i], HashBytes(inputs[i].data(), inputs[i].size())) << i;
}

TEST_F(GpuBlake3Test, ManyChunksOfRandomLengthsInOneLaunch) {
  std::mt19937_64 rng(3);
  std::vector<std::vector<uint8_t>> inputs;
  for (int i = 0; i < 64; ++i) inputs.push_back(testing::RandomBytes(i, i < 8 ? (4u << 20) : rng() % (4u << 20)));
  const std::vector<Digest> got = OnDevice(inputs);
  for (size_t i = 0; i < inputs.size(); ++i) EXPECT_EQ(got[i], HashBytes(inputs[i].data(), inputs[i].size())) << i;
}

// The save pipeline's seam: the same digests through DeviceChunkHasher as through the CPU hasher.
TEST_F(GpuBlake3Test, TheDeviceChunkHasherAgreesWithTheCpuHasher) {
  std::vector<std::vector<uint8_t>> inputs;
  for (int i = 0; i < 9; ++i) inputs.push_back(testing::RandomBytes(100 + i, (1u << 20) + 977 * i));
  uint64_t total = 0;
  for (const auto& in : inputs) total += in.size();
  gpu::DeviceBuffer buf(total);
  ASSERT_TRUE(buf.ok()) << buf.status().ToString();
  std::vector<ChunkView> device, host;
  uint64_t at = 0;
  for (const auto& in : inputs) {
    ASSERT_TRUE(buf.CopyIn(at, in.data(), in.size()).ok());
    device.push_back({static_cast<const uint8_t*>(buf.data()) + at, in.size()});
    host.push_back({in.data(), in.size()});
    at += in.size();
  }
  std::vector<Digest> on_device(inputs.size()), on_host(inputs.size());
  ASSERT_TRUE(gpu::DeviceChunkHasher().Hash(device, on_device).ok());
  ASSERT_TRUE(CpuChunkHasher().Hash(host, on_host).ok());
  EXPECT_EQ(on_device, on_host);
  // A batch mixing host and device views (a mixed state's): each is hashed where it lives.
  std::vector<ChunkView> mixed;
  for (size_t i = 0; i < inputs.size(); ++i) mixed.push_back(i % 2 ? host[i] : device[i]);
  std::vector<Digest> both(inputs.size());
  ASSERT_TRUE(gpu::DeviceChunkHasher().Hash(mixed, both).ok());
  EXPECT_EQ(both, on_host);
}

// Checked before any device is touched, so it runs on CI too.
TEST(GpuBlake3, MismatchedSpansAreAnError) {
  std::vector<gpu::DeviceChunk> chunks(2);
  std::vector<Digest> digests(1);
  EXPECT_EQ(gpu::HashDeviceChunks(chunks, digests).code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace ckptdb

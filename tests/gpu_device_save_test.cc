// Saving from GPU memory (gpu/device_save.h) on a real device: what is saved from device memory
// restores bit for bit, for every dtype; an incremental save copies only its changed chunks to the
// host (counted). Without a usable GPU every test skips, saying why.
#include "gpu/device_save.h"

#include <gtest/gtest.h>

#include <cstring>

#include "gpu/device_buffer.h"
#include "gpu/device_hasher.h"
#include "tests/support/store_fixtures.h"

namespace ckptdb {
namespace {

using namespace store_tests;

class GpuDeviceSaveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!gpu::DeviceAvailable(&why)) GTEST_SKIP() << "no GPU here: " << why;
  }
};

TEST_F(GpuDeviceSaveTest, EveryDtypeRestoresBitExactAndOnlyChangedChunksCrossToTheHost) {
  testing::ScratchDir dir;
  auto store = Store::Open(dir.Join("s"), SmallChunks()).value();
  std::vector<Owned> state;
  const DType dtypes[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kF64, DType::kI8, DType::kI16,
                          DType::kI32, DType::kI64, DType::kU8, DType::kBool};
  uint64_t seed = 1;
  for (DType d : dtypes) state.push_back(MakeTensor(std::string(DTypeName(d)), d, {257, 129}, seed++));
  uint64_t total = 0;
  for (const Owned& t : state) total += t.bytes.size();
  gpu::DeviceBuffer device(total);
  ASSERT_TRUE(device.ok()) << device.status().ToString();
  std::vector<TensorRef> refs;
  uint64_t at = 0;
  for (const Owned& t : state) {
    ASSERT_TRUE(device.CopyIn(at, t.bytes.data(), t.bytes.size()).ok());
    TensorRef r = t.ref();
    r.data = static_cast<uint8_t*>(device.data()) + at;
    refs.push_back(r);
    at += t.bytes.size();
  }
  SaveOptions o;
  o.step = 1;
  gpu::DeviceSaveStats stats;
  auto first = gpu::SaveFromDevice(*store, refs, o, &stats);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(stats.bytes_to_host, first->new_bytes);
  auto back = store->Restore(Selector::Latest()).value();
  ASSERT_EQ(back.size(), state.size());
  for (size_t i = 0; i < state.size(); ++i)
    EXPECT_EQ(0, std::memcmp(back[i].bytes.data(), state[i].bytes.data(), state[i].bytes.size())) << state[i].name;

  // Change one byte of the first tensor on the device: one chunk crosses, nothing else.
  state[0].bytes[10] ^= 0x5A;
  ASSERT_TRUE(device.CopyIn(10, &state[0].bytes[10], 1).ok());
  o.step = 2;
  auto second = gpu::SaveFromDevice(*store, refs, o, &stats);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(stats.chunks_to_host, 1u);
  EXPECT_EQ(stats.bytes_to_host, std::min<uint64_t>(kChunk, state[0].bytes.size()));
  back = store->Restore(Selector::Latest()).value();
  EXPECT_EQ(0, std::memcmp(back[0].bytes.data(), state[0].bytes.data(), state[0].bytes.size()));
}

}  // namespace
}  // namespace ckptdb

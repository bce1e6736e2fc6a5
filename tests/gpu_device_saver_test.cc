// Saving from GPU memory (gpu/device_save.h) on a real device: what is saved from device memory
// restores bit for bit, for every dtype; an incremental save copies only its changed chunks to the
// host (counted). Without a usable GPU every test skips, saying why.
#include "gpu/device_save.h"

#include <gtest/gtest.h>

#include <cstring>

#include "gpu/device_buffer.h"
#include "gpu/device_hasher.h"
#include "gpu/device_restore.h"
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

  // Restore both checkpoints into fresh device memory (a small window, so it takes many pieces).
  for (int64_t step : {1, 2}) {
    gpu::DeviceBuffer into(total);
    ASSERT_TRUE(into.ok());
    std::vector<TensorBuffer> buffers;
    uint64_t off = 0;
    for (const Owned& t : state) {
      buffers.push_back({t.name, t.dtype, t.shape, static_cast<uint8_t*>(into.data()) + off, t.bytes.size()});
      off += t.bytes.size();
    }
    ASSERT_TRUE(gpu::RestoreIntoDevice(*store, Selector::Step(step), buffers, {}, kChunk).ok());
    std::vector<uint8_t> host(total);
    ASSERT_TRUE(into.CopyOut(0, host.data(), total).ok());
    off = 0;
    for (size_t i = 0; i < state.size(); ++i) {
      std::vector<uint8_t> want = state[i].bytes;
      if (i == 0 && step == 1) want[10] ^= 0x5A;  // step 1 saved the byte before the change
      EXPECT_EQ(0, std::memcmp(host.data() + off, want.data(), want.size())) << state[i].name << " step " << step;
      off += want.size();
    }
  }
}

TEST_F(GpuDeviceSaveTest, RestoreIntoDeviceChecksNamesAndShapes) {
  testing::ScratchDir dir;
  auto store = Store::Open(dir.Join("s"), SmallChunks()).value();
  Owned t = MakeTensor("w", DType::kF32, {64}, 9);
  SaveOptions o;
  ASSERT_TRUE(store->Save(std::vector<TensorRef>{t.ref()}, o).ok());
  gpu::DeviceBuffer into(t.bytes.size());
  ASSERT_TRUE(into.ok());
  std::vector<TensorBuffer> wrong_name = {{"v", DType::kF32, {64}, into.data(), t.bytes.size()}};
  EXPECT_EQ(gpu::RestoreIntoDevice(*store, Selector::Latest(), wrong_name).code(), Code::kNotFound);
  std::vector<TensorBuffer> wrong_shape = {{"w", DType::kF32, {8, 8}, into.data(), t.bytes.size()}};
  EXPECT_EQ(gpu::RestoreIntoDevice(*store, Selector::Latest(), wrong_shape).code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace ckptdb

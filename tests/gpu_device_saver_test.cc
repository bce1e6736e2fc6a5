// The GPU path's saves and restores (gpu/device_saver.h, gpu/device_restore.h) on a real device:
// what is saved from device memory restores bit for bit, for every dtype and for states mixing
// host and device tensors; only chunks the store lacks cross to the host (counted); an
// asynchronous save, captured either way, keeps what the tensors held when it returned although
// they change at once. Without a usable GPU those tests skip, saying why; the tests of what works
// without one (host-only states, the errors) run everywhere.
#include "gpu/device_saver.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "gpu/device_buffer.h"
#include "gpu/device_hasher.h"
#include "gpu/device_restore.h"
#include "tests/support/store_fixtures.h"

namespace ckptdb {
namespace {

using namespace store_tests;
using Capture = gpu::DeviceSaverOptions::Capture;

class GpuDeviceSaverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!gpu::DeviceAvailable(&why)) GTEST_SKIP() << "no GPU here: " << why;
  }
};

// A state's tensors copied into one device buffer; refs point there (cuda_device 0), except those
// kept on the host.
struct DeviceState {
  DeviceState(const std::vector<Owned>& state, std::vector<bool> on_host = {}) : device(Total(state)) {
    EXPECT_TRUE(device.ok()) << device.status().ToString();
    uint64_t at = 0;
    for (size_t i = 0; i < state.size(); ++i) {
      TensorRef r = state[i].ref();
      if (i < on_host.size() && on_host[i]) {
        refs.push_back(r);
        offsets.push_back(~0ull);
        continue;
      }
      EXPECT_TRUE(device.CopyIn(at, state[i].bytes.data(), state[i].bytes.size()).ok());
      r.data = static_cast<uint8_t*>(device.data()) + at;
      r.cuda_device = 0;
      refs.push_back(r);
      offsets.push_back(at);
      at += state[i].bytes.size();
    }
  }
  static uint64_t Total(const std::vector<Owned>& state) {
    uint64_t n = 1;
    for (const Owned& t : state) n += t.bytes.size();
    return n;
  }
  // Writes `bytes` over tensor i where it lives (device or host).
  void Overwrite(size_t i, const std::vector<uint8_t>& bytes) {
    if (offsets[i] == ~0ull) std::memcpy(const_cast<void*>(refs[i].data), bytes.data(), bytes.size());
    else EXPECT_TRUE(device.CopyIn(offsets[i], bytes.data(), bytes.size()).ok());
  }
  gpu::DeviceBuffer device;
  std::vector<TensorRef> refs;
  std::vector<uint64_t> offsets;
};

std::vector<Owned> EveryDtype() {
  std::vector<Owned> state;
  const DType dtypes[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kF64, DType::kI8, DType::kI16,
                          DType::kI32, DType::kI64, DType::kU8,  DType::kBool};
  uint64_t seed = 1;
  for (DType d : dtypes) state.push_back(MakeTensor(std::string(DTypeName(d)), d, {257, 129}, seed++));
  state.push_back(MakeTensor("scalar", DType::kF32, {}, 99));
  state.push_back(MakeTensor("empty", DType::kF32, {0, 3}, 98));
  return state;
}

TEST_F(GpuDeviceSaverTest, EveryDtypeRestoresBitExactAndOnlyChangedChunksCrossToTheHost) {
  testing::ScratchDir dir;
  auto store = Store::Open(dir.Join("s"), SmallChunks()).value();
  std::vector<Owned> state = EveryDtype();
  DeviceState dev(state);
  gpu::DeviceSaver saver(*store);
  SaveOptions o;
  o.step = 1;
  auto first = saver.Save(dev.refs, o);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(saver.stats().bytes_to_host, first->new_bytes);
  ExpectRestores(*store, Selector::Step(1), state);

  // Change one byte of the first tensor on the device: one chunk crosses, nothing else.
  state[0].bytes[10] ^= 0x5A;
  dev.Overwrite(0, state[0].bytes);
  const gpu::DeviceSaveStats before = saver.stats();
  o.step = 2;
  auto second = saver.Save(dev.refs, o);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(saver.stats().chunks_to_host - before.chunks_to_host, 1u);
  EXPECT_EQ(saver.stats().bytes_to_host - before.bytes_to_host, kChunk);
  ExpectRestores(*store, Selector::Step(2), state);
}

TEST_F(GpuDeviceSaverTest, AMixedStateSavesHostTensorsInPlaceAndDeviceOnesFromTheDevice) {
  testing::ScratchDir dir;
  auto store = Store::Open(dir.Join("s"), SmallChunks()).value();
  std::vector<Owned> state = EveryDtype();
  std::vector<Owned> host_side = state;  // the host tensors' memory, which the refs point into
  std::vector<bool> on_host(state.size());
  for (size_t i = 0; i < state.size(); i += 2) on_host[i] = true;
  DeviceState dev(state, on_host);
  for (size_t i = 0; i < state.size(); ++i)
    if (on_host[i]) dev.refs[i].data = host_side[i].bytes.empty() ? nullptr : host_side[i].bytes.data();
  gpu::DeviceSaver saver(*store);
  for (Capture mode : {Capture::kSnapshot, Capture::kHashedCopy}) {
    gpu::DeviceSaver async(*store, {.capture = mode});
    SaveOptions o;
    o.step = mode == Capture::kSnapshot ? 1 : 2;
    auto h = async.SaveAsync(dev.refs, o);
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    ASSERT_TRUE(h->Wait().ok());
    ExpectRestores(*store, Selector::Step(o.step), state);
  }
  SaveOptions o;
  o.step = 3;
  ASSERT_TRUE(saver.Save(dev.refs, o).ok());
  ExpectRestores(*store, Selector::Step(3), state);
  EXPECT_TRUE(store->Verify().value().ok());
}

TEST_F(GpuDeviceSaverTest, AnAsynchronousSaveKeepsWhatTheTensorsHeldWhenItReturned) {
  for (Capture mode : {Capture::kSnapshot, Capture::kHashedCopy}) {
    SCOPED_TRACE(mode == Capture::kSnapshot ? "snapshot" : "hashed copy");
    testing::ScratchDir dir;
    auto store = Store::Open(dir.Join("s"), SmallChunks()).value();
    std::vector<Owned> state = {MakeBytes("a", 9 * kChunk + 5, 1), MakeBytes("b", 4 * kChunk, 2)};
    DeviceState dev(state);
    gpu::DeviceSaver saver(*store, {.capture = mode});
    for (int64_t step = 1; step <= 3; ++step) {
      SaveOptions o;
      o.step = step;
      auto h = saver.SaveAsync(dev.refs, o);
      ASSERT_TRUE(h.ok()) << h.status().ToString();
      // The trainer moves on at once: every byte changes before the persist can have run.
      const std::vector<Owned> captured = state;
      for (size_t i = 0; i < state.size(); ++i) {
        for (uint8_t& b : state[i].bytes) b = static_cast<uint8_t>(b * 7 + step);
        dev.Overwrite(i, state[i].bytes);
      }
      ASSERT_TRUE(h->Wait().ok());
      ExpectRestores(*store, Selector::Step(step), captured);
    }
    const gpu::DeviceSaveStats s = saver.stats();
    EXPECT_EQ(mode == Capture::kSnapshot ? s.snapshots : s.hashed_copies, 3u);
    EXPECT_EQ(s.synchronous, 0u);
  }
}

TEST_F(GpuDeviceSaverTest, AnIncrementalAsynchronousSaveCopiesOnlyItsChangedChunksToTheHost) {
  for (Capture mode : {Capture::kSnapshot, Capture::kHashedCopy}) {
    SCOPED_TRACE(mode == Capture::kSnapshot ? "snapshot" : "hashed copy");
    testing::ScratchDir dir;
    auto store = Store::Open(dir.Join("s"), SmallChunks()).value();
    std::vector<Owned> state = {MakeBytes("a", 16 * kChunk, 3), MakeBytes("b", 16 * kChunk, 4)};
    DeviceState dev(state);
    gpu::DeviceSaver saver(*store, {.capture = mode});
    SaveOptions o;
    o.step = 1;
    ASSERT_TRUE(saver.SaveAsync(dev.refs, o)->Wait().ok());
    state[1].bytes[3 * kChunk + 1] ^= 1;  // two chunks change
    state[0].bytes[15 * kChunk] ^= 1;
    dev.Overwrite(0, state[0].bytes);
    dev.Overwrite(1, state[1].bytes);
    const gpu::DeviceSaveStats before = saver.stats();
    o.step = 2;
    auto saved = saver.SaveAsync(dev.refs, o)->Wait();
    ASSERT_TRUE(saved.ok()) << saved.status().ToString();
    EXPECT_EQ(saved->new_bytes, 2 * kChunk);
    EXPECT_EQ(saver.stats().chunks_to_host - before.chunks_to_host, 2u);
    EXPECT_EQ(saver.stats().bytes_to_host - before.bytes_to_host, 2 * kChunk);
    ExpectRestores(*store, Selector::Step(2), state);
  }
}

TEST_F(GpuDeviceSaverTest, ADeviceTensorGivenWithKnownChunksIsNeitherCopiedNorRead) {
  for (Capture mode : {Capture::kSnapshot, Capture::kHashedCopy}) {
    SCOPED_TRACE(mode == Capture::kSnapshot ? "snapshot" : "hashed copy");
    testing::ScratchDir dir;
    auto store = Store::Open(dir.Join("s"), SmallChunks()).value();
    std::vector<Owned> state = {MakeBytes("frozen", 8 * kChunk, 5), MakeBytes("live", 2 * kChunk, 6)};
    DeviceState dev(state);
    gpu::DeviceSaver saver(*store, {.capture = mode});
    SaveOptions o;
    o.step = 1;
    auto first = saver.SaveAsync(dev.refs, o)->Wait();
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    // The frozen tensor's device memory now holds junk; its known chunks say what it was.
    dev.Overwrite(0, std::vector<uint8_t>(state[0].bytes.size(), 0xEE));
    std::vector<TensorRef> refs = dev.refs;
    refs[0].known_chunks = first->chunks[0];
    state[1].bytes[0] ^= 1;
    dev.Overwrite(1, state[1].bytes);
    const gpu::DeviceSaveStats before = saver.stats();
    o.step = 2;
    auto second = saver.SaveAsync(refs, o)->Wait();
    ASSERT_TRUE(second.ok()) << second.status().ToString();
    const gpu::DeviceSaveStats after = saver.stats();
    EXPECT_EQ(after.bytes_to_host - before.bytes_to_host, kChunk);  // the live tensor's changed chunk
    if (mode == Capture::kSnapshot) {
      EXPECT_EQ(after.snapshot_bytes - before.snapshot_bytes, state[1].bytes.size());
    }
    ExpectRestores(*store, Selector::Step(2), state);
  }
}

TEST_F(GpuDeviceSaverTest, WithoutMemoryForACaptureItSavesSynchronouslyOrSaysSo) {
  testing::ScratchDir dir;
  auto store = Store::Open(dir.Join("s"), SmallChunks()).value();
  std::vector<Owned> state = {MakeBytes("a", 4 * kChunk, 5)};
  DeviceState dev(state);
  SaveOptions o;
  o.step = 1;
  gpu::DeviceSaver none(*store, {.snapshot_bytes = 0, .pinned_capture_bytes = 0});
  auto h = none.SaveAsync(dev.refs, o);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_TRUE(h->Done());  // saved before it returned
  EXPECT_EQ(none.stats().synchronous, 1u);
  ExpectRestores(*store, Selector::Step(1), state);
  gpu::DeviceSaver snapshot_only(*store, {.capture = Capture::kSnapshot, .snapshot_bytes = 0});
  EXPECT_EQ(snapshot_only.SaveAsync(dev.refs, o).status().code(), Code::kResourceExhausted);
  EXPECT_EQ(store->List().value().size(), 1u);
}

TEST_F(GpuDeviceSaverTest, RestoreIntoDeviceOverlapsWindowsAndFillsHostBuffersToo) {
  testing::ScratchDir dir;
  auto store = Store::Open(dir.Join("s"), SmallChunks()).value();
  std::vector<Owned> state = EveryDtype();
  SaveOptions o;
  std::vector<TensorRef> refs;
  for (const Owned& t : state) refs.push_back(t.ref());
  ASSERT_TRUE(store->Save(refs, o).ok());
  gpu::DeviceBuffer into(DeviceState::Total(state));
  ASSERT_TRUE(into.ok());
  std::vector<std::vector<uint8_t>> host(state.size());
  std::vector<TensorBuffer> buffers;
  std::vector<uint64_t> at(state.size(), ~0ull);  // device offset of each device buffer
  uint64_t device_bytes = 0;
  for (size_t i = 0; i < state.size(); ++i) {
    const Owned& t = state[i];
    if (i % 3 == 0) {  // every third on the host
      host[i].resize(t.bytes.size());
      buffers.push_back({t.name, t.dtype, t.shape, host[i].data(), t.bytes.size()});
      continue;
    }
    at[i] = device_bytes;
    buffers.push_back({t.name, t.dtype, t.shape, static_cast<uint8_t*>(into.data()) + device_bytes, t.bytes.size(), 0});
    device_bytes += t.bytes.size();
  }
  // A one-chunk window: many pieces, so both windows are reused many times. Digests checked on the
  // host, then on the device.
  for (bool on_device : {false, true}) {
    SCOPED_TRACE(on_device ? "checked on the device" : "checked on the host");
    for (auto& h : host) std::fill(h.begin(), h.end(), 0);
    ASSERT_TRUE(into.Fill(0, device_bytes, 77).ok());
    ASSERT_TRUE(gpu::RestoreIntoDevice(*store, Selector::Latest(), buffers, {}, {kChunk, on_device}).ok());
    std::vector<uint8_t> got(device_bytes);
    ASSERT_TRUE(into.CopyOut(0, got.data(), device_bytes).ok());
    for (size_t i = 0; i < state.size(); ++i) {
      if (at[i] == ~0ull) EXPECT_EQ(host[i], state[i].bytes) << state[i].name;
      else EXPECT_EQ(0, std::memcmp(got.data() + at[i], state[i].bytes.data(), state[i].bytes.size())) << state[i].name;
    }
  }
}

TEST_F(GpuDeviceSaverTest, ADamagedChunkFailsADeviceRestoreWhereverItIsChecked) {
  testing::ScratchDir dir;
  auto store = Store::Open(dir.Join("s"), SmallChunks()).value();
  const Owned w = MakeBytes("w", kChunk, 3);  // one chunk, at the start of the only pack
  ASSERT_TRUE(store->Save(std::vector<TensorRef>{w.ref()}, {}).ok());
  std::vector<std::filesystem::path> packs;
  for (const auto& e : std::filesystem::directory_iterator(dir.Join("s/packs"))) packs.push_back(e.path());
  ASSERT_EQ(packs.size(), 1u);
  std::string pack = testing::ReadFileOrDie(packs[0].string());
  pack[10] ^= 1;
  testing::WriteFileOrDie(packs[0].string(), pack);
  gpu::DeviceBuffer into(kChunk);
  ASSERT_TRUE(into.ok());
  std::vector<TensorBuffer> buffers = {{"w", DType::kU8, w.shape, into.data(), kChunk, 0}};
  for (bool on_device : {false, true}) {
    Status s = gpu::RestoreIntoDevice(*store, Selector::Latest(), buffers, {}, {64ull << 20, on_device});
    EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
    EXPECT_NE(s.message().find("tensor 'w', chunk 0"), std::string::npos) << s.ToString();
  }
}

TEST_F(GpuDeviceSaverTest, RestoreIntoDeviceChecksNamesAndShapes) {
  testing::ScratchDir dir;
  auto store = Store::Open(dir.Join("s"), SmallChunks()).value();
  Owned t = MakeTensor("w", DType::kF32, {64}, 9);
  SaveOptions o;
  ASSERT_TRUE(store->Save(std::vector<TensorRef>{t.ref()}, o).ok());
  gpu::DeviceBuffer into(t.bytes.size());
  ASSERT_TRUE(into.ok());
  std::vector<TensorBuffer> wrong_name = {{"v", DType::kF32, {64}, into.data(), t.bytes.size(), 0}};
  EXPECT_EQ(gpu::RestoreIntoDevice(*store, Selector::Latest(), wrong_name).code(), Code::kNotFound);
  std::vector<TensorBuffer> wrong_shape = {{"w", DType::kF32, {8, 8}, into.data(), t.bytes.size(), 0}};
  EXPECT_EQ(gpu::RestoreIntoDevice(*store, Selector::Latest(), wrong_shape).code(), Code::kInvalidArgument);
}

// What holds on any machine, GPU or not.
TEST(DeviceSaverAnywhere, HostOnlyStatesNeedNoGpuAndDeviceOnesWithoutOneFailCleanly) {
  testing::ScratchDir dir;
  auto store = Store::Open(dir.Join("s"), SmallChunks()).value();
  std::vector<Owned> state = {MakeBytes("a", 3 * kChunk, 7)};
  std::vector<TensorRef> refs = {state[0].ref()};
  gpu::DeviceSaver saver(*store);
  SaveOptions o;
  o.step = 1;
  ASSERT_TRUE(saver.Save(refs, o).ok());
  o.step = 2;
  ASSERT_TRUE(saver.SaveAsync(refs, o)->Wait().ok());
  ExpectRestores(*store, Selector::Step(2), state);
  std::vector<uint8_t> back(state[0].bytes.size());
  std::vector<TensorBuffer> host = {{"a", DType::kU8, state[0].shape, back.data(), back.size()}};
  ASSERT_TRUE(gpu::RestoreIntoDevice(*store, Selector::Latest(), host).ok());
  EXPECT_EQ(back, state[0].bytes);

  std::vector<TensorRef> two = {state[0].ref(), state[0].ref()};
  two[1].name = "b";
  two[0].cuda_device = 0;
  two[1].cuda_device = 1;
  Status s = saver.Save(two, o).status();
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("tensor 'b' is on CUDA device 1"), std::string::npos) << s.ToString();
  std::string why;
  if (!gpu::DeviceAvailable(&why)) {
    refs[0].cuda_device = 0;
    EXPECT_EQ(saver.Save(refs, o).status().code(), Code::kFailedPrecondition);
    EXPECT_EQ(saver.SaveAsync(refs, o).status().code(), Code::kFailedPrecondition);
    host[0].cuda_device = 0;
    EXPECT_EQ(gpu::RestoreIntoDevice(*store, Selector::Latest(), host).code(), Code::kFailedPrecondition);
  }
  EXPECT_EQ(store->List().value().size(), 2u);
}

}  // namespace
}  // namespace ckptdb

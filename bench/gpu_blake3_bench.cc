// GPU BLAKE3 throughput (gpu/device_hasher.h): batches of 4 MiB chunks already in device memory,
// hashed in one call, against a device-to-device copy of the same bytes measured in the same run
// (the memory-bandwidth ceiling any pass over the data meets). bytes_per_second is the figure.
// Without a usable GPU every benchmark reports the reason and skips.
#include <benchmark/benchmark.h>

#include <vector>

#include "gpu/device_buffer.h"
#include "gpu/device_hasher.h"
#include "tests/support/test_support.h"

namespace {

using ckptdb::gpu::DeviceBuffer;
using ckptdb::gpu::DeviceChunk;

constexpr uint64_t kChunk = 4ull << 20;

void BM_GpuBlake3(benchmark::State& state) {
  std::string why;
  if (!ckptdb::gpu::DeviceAvailable(&why)) {
    state.SkipWithError(why.c_str());
    return;
  }
  const uint64_t chunks = static_cast<uint64_t>(state.range(0));
  DeviceBuffer buf(chunks * kChunk);
  const std::vector<uint8_t> host = ckptdb::testing::RandomBytes(1, kChunk);
  for (uint64_t c = 0; c < chunks; ++c)
    if (!buf.CopyIn(c * kChunk, host.data(), kChunk).ok()) return state.SkipWithError("copy failed");
  std::vector<DeviceChunk> views;
  for (uint64_t c = 0; c < chunks; ++c) views.push_back({static_cast<uint8_t*>(buf.data()) + c * kChunk, kChunk});
  std::vector<ckptdb::Digest> digests(chunks);
  for (auto _ : state)
    if (!ckptdb::gpu::HashDeviceChunks(views, digests).ok()) return state.SkipWithError("hash failed");
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * chunks * kChunk));
}

// The baseline: a device-to-device copy reads and writes each byte once; hashing reads it once.
void BM_DeviceCopyBaseline(benchmark::State& state) {
  std::string why;
  if (!ckptdb::gpu::DeviceAvailable(&why)) {
    state.SkipWithError(why.c_str());
    return;
  }
  const uint64_t bytes = static_cast<uint64_t>(state.range(0)) * kChunk;
  DeviceBuffer a(bytes), b(bytes);
  if (!a.ok() || !b.ok()) return state.SkipWithError("cudaMalloc failed");
  for (auto _ : state)
    if (!b.CopyFrom(a, bytes).ok()) return state.SkipWithError("copy failed");
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}

// 64 chunks = 256 MiB per launch, 1024 = 4 GiB.
BENCHMARK(BM_DeviceCopyBaseline)->Arg(64)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_GpuBlake3)->Arg(1)->Arg(64)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();

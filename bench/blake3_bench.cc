// BLAKE3-256 throughput per backend and input size, and all-core throughput with the best backend.
// Names read BM_Blake3/<backend>/<bytes>; bytes_per_second is the figure to compare.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "store/blake3.h"
#include "tests/support/test_support.h"

namespace {

using ckptdb::blake3::Backend;

void BM_Blake3(benchmark::State& state, Backend backend) {
  const size_t len = static_cast<size_t>(state.range(0));
  std::vector<uint8_t> data = ckptdb::testing::RandomBytes(len, len);
  uint8_t out[ckptdb::blake3::kOutLen];
  for (auto _ : state) {
    ckptdb::blake3::HashWith(backend, data.data(), len, out);
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(len));
  state.SetLabel(ckptdb::blake3::BackendName(backend));
}

// Each thread hashes its own buffer, as concurrent writers would, so the figure includes the
// memory bandwidth they compete for.
void BM_Blake3AllCores(benchmark::State& state) {
  const size_t len = static_cast<size_t>(state.range(0));
  std::vector<uint8_t> data = ckptdb::testing::RandomBytes(state.thread_index() + 1, len);
  uint8_t out[ckptdb::blake3::kOutLen];
  for (auto _ : state) {
    ckptdb::blake3::Hash(data.data(), len, out);
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(len));
  state.SetLabel(ckptdb::blake3::BackendName(ckptdb::blake3::BestBackend()));
}

}  // namespace

int main(int argc, char** argv) {
  // Registered at run time because which backends exist depends on the CPU running the benchmark.
  for (Backend b : ckptdb::blake3::SupportedBackends()) {
    std::string name = std::string("BM_Blake3/") + ckptdb::blake3::BackendName(b);
    auto* bm = benchmark::RegisterBenchmark(name.c_str(), BM_Blake3, b);
    for (int64_t size : {int64_t{1} << 10, int64_t{64} << 10, int64_t{1} << 20, int64_t{4} << 20,
                         int64_t{64} << 20})
      bm->Arg(size);
  }
  std::string all = std::string("BM_Blake3AllCores/") +
                    ckptdb::blake3::BackendName(ckptdb::blake3::BestBackend());
  benchmark::RegisterBenchmark(all.c_str(), BM_Blake3AllCores)
      ->Arg(int64_t{4} << 20)
      ->ThreadPerCpu()
      ->UseRealTime();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

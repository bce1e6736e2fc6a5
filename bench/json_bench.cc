// The strict JSON parser and the writer (store/interop/json.h) on safetensors-header-shaped text,
// against nlohmann-json's own DOM parse and dump of the same text: the baseline shows what the
// checks the library adds (duplicate keys, depth, exact integers, byte offsets) and its own value
// tree cost over the library doing the lexing. bytes_per_second is the figure; compare within a run.
#include <benchmark/benchmark.h>

#include <nlohmann/json.hpp>

#include <string>

#include "store/interop/json.h"

namespace {

// A header of `tensors` entries as safetensors writers produce them: about 120 bytes each.
std::string Header(int tensors) {
  std::string t = "{\"__metadata__\":{\"format\":\"pt\"}";
  uint64_t off = 0;
  const uint64_t size = 4096ull * 4096 * 4;
  for (int i = 0; i < tensors; ++i, off += size) {
    t += ",\"model.layers.";
    t += std::to_string(i);
    t += ".self_attn.q_proj.weight\":{\"dtype\":\"F32\",\"shape\":[4096,4096],\"data_offsets\":[";
    t += std::to_string(off) + "," + std::to_string(off + size) + "]}";
  }
  return t + "}";
}

void BM_ParseStrict(benchmark::State& state) {
  const std::string text = Header(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto v = ckptdb::json::Parse(text);
    if (!v.ok()) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(v);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

void BM_ParseNlohmannBaseline(benchmark::State& state) {
  const std::string text = Header(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    // nlohmann::json (std::map objects): ordered_json inserts by linear search, O(n^2) here.
    auto v = nlohmann::json::parse(text);
    benchmark::DoNotOptimize(v);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

void BM_WriteRoundTrip(benchmark::State& state) {
  const std::string text = Header(static_cast<int>(state.range(0)));
  const ckptdb::json::Value v = ckptdb::json::Parse(text).value();
  for (auto _ : state) {
    std::string out = ckptdb::json::ToJson(v);
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

void BM_DumpNlohmannBaseline(benchmark::State& state) {
  const nlohmann::json v = nlohmann::json::parse(Header(static_cast<int>(state.range(0))));
  const size_t bytes = v.dump().size();
  for (auto _ : state) {
    std::string out = v.dump();
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}

// 1 000 tensors (a 7B model, ~120 KB of header) and 400 000 (~50 MB, the size limit's order).
BENCHMARK(BM_ParseStrict)->Arg(1000)->Arg(400000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ParseNlohmannBaseline)->Arg(1000)->Arg(400000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_WriteRoundTrip)->Arg(1000)->Arg(400000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DumpNlohmannBaseline)->Arg(1000)->Arg(400000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

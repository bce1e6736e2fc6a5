// The benchmarks' model state: a transformer-shaped set of bf16/f32 tensors packed into one
// 4 KiB-aligned arena (so O_DIRECT baselines can write it without copies), filled with random
// bytes per tensor and generation. Shared by bench/store_main.cc and bench/async_main.cc.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bench/bench_util.h"
#include "ckptdb/ckptdb.h"
#include "tests/support/test_support.h"

namespace ckptdb::bench {

struct Spec {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t bytes = 0, offset = 0;  // offset into the arena, 4 KiB aligned
};

// The state: every tensor packed, 4 KiB aligned, into one arena, so the O_DIRECT baselines can
// write and read it without copies. The store gets TensorRefs into the arena.
struct State {
  std::vector<Spec> specs;
  uint8_t* arena = nullptr;
  uint64_t arena_bytes = 0, logical = 0;
  uint8_t* at(size_t i) const { return arena + specs[i].offset; }
};

// A transformer-ish model (hidden 2560, bf16): two ~246 MiB embedding matrices, per layer a
// 37.5 MiB qkv, 12.5 MiB o_proj, 62.5 MiB gate_up and 31.25 MiB down matrix plus KiB-sized norms
// and biases; layers are added until the total reaches the target; a 0-d step counter last.
inline std::vector<Spec> PlanModel(uint64_t target) {
  const int64_t d = 2560, ff = 6400;
  const int64_t vocab = std::clamp<int64_t>(static_cast<int64_t>(target / 8 / (d * 2)), 64, 50304);
  std::vector<Spec> v;
  uint64_t total = 0;
  auto add = [&](std::string name, DType dt, Shape shape) {
    uint64_t b = *ExpectedBytes(dt, shape);
    v.push_back({std::move(name), dt, std::move(shape), b, 0});
    total += b;
  };
  add("model.embed_tokens.weight", DType::kBF16, {vocab, d});
  const uint64_t lm_head = static_cast<uint64_t>(vocab * d * 2);
  for (int l = 0; total + lm_head < target; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", DType::kF32, {d});
    add(p + "self_attn.qkv_proj.weight", DType::kBF16, {3 * d, d});
    add(p + "self_attn.qkv_proj.bias", DType::kBF16, {3 * d});
    add(p + "self_attn.o_proj.weight", DType::kBF16, {d, d});
    add(p + "post_attention_layernorm.weight", DType::kF32, {d});
    add(p + "mlp.gate_up_proj.weight", DType::kBF16, {2 * ff, d});
    add(p + "mlp.down_proj.weight", DType::kBF16, {d, ff});
  }
  add("model.norm.weight", DType::kF32, {d});
  add("lm_head.weight", DType::kBF16, {vocab, d});
  add("step", DType::kI64, {});
  return v;
}

// Fills tensor i with bytes from generation `gen`, in parallel 4 MiB pieces (each its own seed).
inline void Fill(const State& s, const std::vector<size_t>& which, uint64_t gen, int threads) {
  std::vector<std::pair<size_t, uint64_t>> pieces;
  for (size_t i : which)
    for (uint64_t off = 0; off < s.specs[i].bytes; off += 4 * kMiB) pieces.emplace_back(i, off);
  ParallelFor(threads, pieces.size(), [&](size_t k) {
    auto [i, off] = pieces[k];
    uint64_t seed = Mix(Mix(Mix(i + 1) ^ gen) ^ off);
    testing::FillRandom(seed, s.at(i) + off, std::min(4 * kMiB, s.specs[i].bytes - off));
  });
}

inline std::vector<TensorRef> Refs(const State& s) {
  std::vector<TensorRef> r;
  for (size_t i = 0; i < s.specs.size(); ++i)
    r.push_back({s.specs[i].name, s.specs[i].dtype, s.specs[i].shape, s.at(i), s.specs[i].bytes});
  return r;
}

// Packs `specs` into a new arena of `s` (4 KiB aligned offsets); returns false when out of memory.
inline bool Allocate(State& s, std::vector<Spec> specs) {
  s.specs = std::move(specs);
  s.arena_bytes = s.logical = 0;
  for (auto& sp : s.specs) {
    sp.offset = s.arena_bytes;
    s.arena_bytes += (sp.bytes + kAlign - 1) / kAlign * kAlign;
    s.logical += sp.bytes;
  }
  s.arena_bytes = std::max(s.arena_bytes, kAlign);
  s.arena = static_cast<uint8_t*>(std::aligned_alloc(kAlign, s.arena_bytes));
  return s.arena != nullptr;
}

}  // namespace ckptdb::bench

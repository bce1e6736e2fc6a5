#include "ckptdb/diff.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <string_view>

#include "store/float_convert.h"

namespace ckptdb {
namespace {

// The length of chunk `i` of tensor `t` in a manifest with chunk size `chunk_size` (FORMAT.md,
// "Chunking"); 0 for a position past the end, which well-formed manifests never ask for.
uint64_t ChunkLength(uint64_t chunk_size, const TensorInfo& t, size_t i) {
  const uint64_t start = i * chunk_size;
  return start >= t.size_bytes ? 0 : std::min(chunk_size, t.size_bytes - start);
}

std::map<std::string_view, const TensorInfo*> ByName(const CheckpointManifest& m) {
  std::map<std::string_view, const TensorInfo*> out;
  for (const TensorInfo& t : m.tensors) out.emplace(t.name, &t);
  return out;
}

struct Pass {
  double max = 0;
  double sum = 0;  // of squared (scaled) differences
  bool nan = false;
};

// One pass over the element pairs; each difference is multiplied by 2^-shift before squaring. A
// power-of-two scale is exact, so a pass with shift 0 is the plain definition and a rescaled pass
// differs from it only where the plain one would overflow or underflow.
Pass Accumulate(DType d, const uint8_t* a, const uint8_t* b, uint64_t count, int shift) {
  constexpr uint64_t kBlock = 4096;  // converted a block at a time: the dtype switch stays out of the loop
  const size_t size = DTypeSize(d);
  double va[kBlock], vb[kBlock];
  Pass p;
  for (uint64_t start = 0; start < count; start += kBlock) {
    const uint64_t n = std::min(kBlock, count - start);
    ConvertToDouble(d, a + start * size, n, va);
    ConvertToDouble(d, b + start * size, n, vb);
    for (uint64_t j = 0; j < n; ++j) {
      if (va[j] == vb[j]) continue;  // also equal infinities, whose difference would be NaN
      const double diff = std::fabs(vb[j] - va[j]);
      if (std::isnan(diff)) {
        p.nan = true;
        return p;
      }
      p.max = std::max(p.max, diff);
      const double scaled = std::ldexp(diff, -shift);
      p.sum += scaled * scaled;
    }
  }
  return p;
}

}  // namespace

ManifestDiff DiffManifests(const CheckpointManifest& a, const CheckpointManifest& b) {
  const auto in_a = ByName(a), in_b = ByName(b);
  ManifestDiff out;
  // Walking the name-ordered maps keeps every output array sorted.
  for (const auto& [name, ta] : in_a) {
    auto it = in_b.find(name);
    if (it == in_b.end()) {
      out.removed.emplace_back(name);
      continue;
    }
    const TensorInfo& tb = *it->second;
    const bool same_type = ta->dtype == tb.dtype && ta->shape == tb.shape;
    if (same_type && ta->chunks == tb.chunks) {
      out.unchanged.emplace_back(name);
      continue;
    }
    TensorChange c;
    c.name = std::string(name);
    c.dtype_or_shape_changed = !same_type;
    for (size_t i = 0; i < std::max(ta->chunks.size(), tb.chunks.size()); ++i) {
      const bool in_ta = i < ta->chunks.size(), in_tb = i < tb.chunks.size();
      if (in_ta && in_tb && ta->chunks[i] == tb.chunks[i]) continue;
      ++c.chunks_changed;
      c.bytes_changed += in_tb ? ChunkLength(b.chunk_size, tb, i) : ChunkLength(a.chunk_size, *ta, i);
    }
    out.changed.push_back(std::move(c));
  }
  for (const auto& [name, tb] : in_b)
    if (!in_a.count(name)) out.added.emplace_back(name);
  return out;
}

DiffStats ComputeDiffStats(DType d, const uint8_t* a, const uint8_t* b, uint64_t count) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  Pass p = Accumulate(d, a, b, count, 0);
  if (p.nan) return {kNaN, kNaN};
  if (p.max == 0 || std::isinf(p.max)) return {p.max, p.max};
  // Squares of differences beyond 2^±480 (only F64 has them) can overflow or lose precision in
  // the plain sum; redo the sum with the differences scaled by the largest one's binary exponent.
  if (p.max > 0x1p480 || p.max < 0x1p-480) {
    const int shift = std::ilogb(p.max);
    const Pass scaled = Accumulate(d, a, b, count, shift);
    return {p.max, std::ldexp(std::sqrt(scaled.sum), shift)};
  }
  return {p.max, std::sqrt(p.sum)};
}

Status AddDiffStats(Store& store, const CheckpointManifest& a, const CheckpointManifest& b, ManifestDiff& diff,
                    const ReadOptions& options) {
  const auto in_a = ByName(a), in_b = ByName(b);
  // By id, not by the caller's selector: "latest" must not move between Describe and the read.
  auto read = [&](const CheckpointManifest& m, const TensorInfo& t) -> Result<Buffer> {
    Buffer bytes = Buffer::Allocate(t.size_bytes);
    const TensorBuffer dest{t.name, t.dtype, t.shape, bytes.data(), t.size_bytes};
    if (Status s = store.RestoreInto(Selector::Id(m.info.id), {&dest, 1}, options); !s.ok()) return s;
    return bytes;
  };
  for (TensorChange& c : diff.changed) {
    const TensorInfo& ta = *in_a.at(c.name);
    if (c.dtype_or_shape_changed || !IsFloatDType(ta.dtype)) continue;
    auto bytes_a = read(a, ta);
    if (!bytes_a.ok()) return bytes_a.status();
    auto bytes_b = read(b, *in_b.at(c.name));
    if (!bytes_b.ok()) return bytes_b.status();
    const uint64_t count = ta.size_bytes / DTypeSize(ta.dtype);
    const DiffStats s = ComputeDiffStats(ta.dtype, bytes_a->data(), bytes_b->data(), count);
    c.max_abs_diff = s.max_abs_diff;
    c.l2_diff = s.l2_diff;
  }
  return Status::OK();
}

}  // namespace ckptdb

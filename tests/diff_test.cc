// DiffManifests and ComputeDiffStats (ckptdb/diff.h) on hand-built manifests and element arrays.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "ckptdb/diff.h"

namespace ckptdb {
namespace {

using Names = std::vector<std::string>;

// A stand-in digest: only equality matters to DiffManifests.
Digest D(uint8_t k) {
  Digest d;
  d.bytes[0] = k;
  return d;
}

TensorInfo T(std::string name, Shape shape, uint64_t size, std::vector<uint8_t> chunks, DType dtype = DType::kU8) {
  TensorInfo t{std::move(name), dtype, std::move(shape), size, {}};
  for (uint8_t k : chunks) t.chunks.push_back(D(k));
  return t;
}

// Chunk size 100: a tensor of 250 bytes has chunks of 100, 100 and 50.
CheckpointManifest M(std::vector<TensorInfo> tensors) {
  CheckpointManifest m;
  m.chunk_size = 100;
  m.tensors = std::move(tensors);
  return m;
}

TEST(DiffManifestsTest, SortsAddedRemovedAndUnchangedByName) {
  const auto a = M({T("z", {1}, 1, {1}), T("b", {1}, 1, {2}), T("m", {1}, 1, {3}), T("c", {1}, 1, {4})});
  const auto b = M({T("m", {1}, 1, {3}), T("y", {1}, 1, {5}), T("b", {1}, 1, {2}), T("a", {1}, 1, {6})});
  const ManifestDiff d = DiffManifests(a, b);
  EXPECT_EQ(d.added, (Names{"a", "y"}));
  EXPECT_EQ(d.removed, (Names{"c", "z"}));
  EXPECT_EQ(d.unchanged, (Names{"b", "m"}));
  EXPECT_TRUE(d.changed.empty());
}

TEST(DiffManifestsTest, CountsDifferingPositionsAndBsChunkLengths) {
  const auto d = DiffManifests(M({T("t", {250}, 250, {1, 2, 3}), T("s", {250}, 250, {1, 2, 3})}),
                               M({T("t", {250}, 250, {1, 9, 8}), T("s", {250}, 250, {7, 2, 3})}));
  ASSERT_EQ(d.changed.size(), 2u);
  EXPECT_EQ(d.changed[0].name, "s");  // sorted
  EXPECT_EQ(d.changed[0].chunks_changed, 1u);
  EXPECT_EQ(d.changed[0].bytes_changed, 100u);
  EXPECT_EQ(d.changed[1].name, "t");
  EXPECT_EQ(d.changed[1].chunks_changed, 2u);
  EXPECT_EQ(d.changed[1].bytes_changed, 150u);  // a whole chunk and the 50-byte tail
  EXPECT_FALSE(d.changed[1].dtype_or_shape_changed);
  EXPECT_FALSE(d.changed[1].max_abs_diff.has_value());  // stats are the caller's job
  EXPECT_FALSE(d.changed[1].l2_diff.has_value());
}

TEST(DiffManifestsTest, PositionsOnlyAHasCountAsLength) {
  // B keeps chunk 0, changes chunk 1 (its 20-byte tail) and lacks chunk 2 (A's 50 bytes).
  const auto d = DiffManifests(M({T("t", {250}, 250, {1, 2, 3})}), M({T("t", {120}, 120, {1, 5})}));
  ASSERT_EQ(d.changed.size(), 1u);
  EXPECT_EQ(d.changed[0].chunks_changed, 2u);
  EXPECT_EQ(d.changed[0].bytes_changed, 20u + 50u);
  EXPECT_TRUE(d.changed[0].dtype_or_shape_changed);
}

TEST(DiffManifestsTest, PositionsOnlyBHasCountAsBsLength) {
  const auto d = DiffManifests(M({T("t", {100}, 100, {1})}), M({T("t", {250}, 250, {1, 2, 3})}));
  ASSERT_EQ(d.changed.size(), 1u);
  EXPECT_EQ(d.changed[0].chunks_changed, 2u);
  EXPECT_EQ(d.changed[0].bytes_changed, 150u);
}

TEST(DiffManifestsTest, SameBytesUnderAnotherDtypeOrShapeIsAChange) {
  const auto d = DiffManifests(M({T("r", {2, 3}, 6, {1}), T("f", {4}, 4, {2}), T("s", {}, 0, {})}),
                               M({T("r", {3, 2}, 6, {1}), T("f", {2}, 4, {2}, DType::kI16), T("s", {}, 0, {})}));
  ASSERT_EQ(d.changed.size(), 2u);
  for (const TensorChange& c : d.changed) {
    EXPECT_TRUE(c.dtype_or_shape_changed) << c.name;
    EXPECT_EQ(c.chunks_changed, 0u) << c.name;
    EXPECT_EQ(c.bytes_changed, 0u) << c.name;
  }
  EXPECT_EQ(d.unchanged, (Names{"s"}));  // empty tensors with no chunks are equal
}

TEST(DiffManifestsTest, IdenticalManifestsHaveOnlyUnchanged) {
  const auto m = M({T("w", {250}, 250, {1, 2, 3}), T("b", {3}, 3, {4})});
  const auto d = DiffManifests(m, m);
  EXPECT_EQ(d.unchanged, (Names{"b", "w"}));
  EXPECT_TRUE(d.added.empty() && d.removed.empty() && d.changed.empty());
}

template <typename E>
DiffStats Stats(DType d, const std::vector<E>& a, const std::vector<E>& b) {
  return ComputeDiffStats(d, reinterpret_cast<const uint8_t*>(a.data()), reinterpret_cast<const uint8_t*>(b.data()),
                          a.size());
}

TEST(ComputeDiffStatsTest, F32) {
  const DiffStats s = Stats<float>(DType::kF32, {1, 2, 3, 4}, {1, 5, 3, 0});  // differences 3 and -4
  EXPECT_EQ(s.max_abs_diff, 4.0);
  EXPECT_EQ(s.l2_diff, 5.0);
}

TEST(ComputeDiffStatsTest, F16AndBF16) {
  // F16: 1.0 -> 1.5 and 0 -> 65504 (the largest half).
  DiffStats s = Stats<uint16_t>(DType::kF16, {0x3C00, 0x3C00, 0x0000}, {0x3E00, 0x3C00, 0x7BFF});
  EXPECT_EQ(s.max_abs_diff, 65504.0);
  EXPECT_EQ(s.l2_diff, std::sqrt(0.25 + 65504.0 * 65504.0));
  // BF16: 1.0 -> 2.0 and 1.0 -> -1.0.
  s = Stats<uint16_t>(DType::kBF16, {0x3F80, 0x3F80}, {0x4000, 0xBF80});
  EXPECT_EQ(s.max_abs_diff, 2.0);
  EXPECT_EQ(s.l2_diff, std::sqrt(5.0));
}

TEST(ComputeDiffStatsTest, Fp8) {
  DiffStats s = Stats<uint8_t>(DType::kF8_E4M3, {0x38, 0x01}, {0x7E, 0x01});  // 1 -> 448
  EXPECT_EQ(s.max_abs_diff, 447.0);
  EXPECT_EQ(s.l2_diff, 447.0);
  s = Stats<uint8_t>(DType::kF8_E5M2, {0x3C, 0x00}, {0x7B, 0x01});  // 1 -> 57344, 0 -> 2^-16
  EXPECT_EQ(s.max_abs_diff, 57343.0);
  EXPECT_EQ(s.l2_diff, std::sqrt(57343.0 * 57343.0 + std::ldexp(1.0, -32)));
}

TEST(ComputeDiffStatsTest, NaNOnEitherSidePoisonsBothStats) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (const auto& [a, b] : {std::pair<std::vector<float>, std::vector<float>>{{1, nan}, {2, 1}}, {{1, 1}, {2, nan}},
                             {{nan, 1}, {nan, 1}}}) {
    const DiffStats s = Stats<float>(DType::kF32, a, b);
    EXPECT_TRUE(std::isnan(s.max_abs_diff));
    EXPECT_TRUE(std::isnan(s.l2_diff));
  }
}

TEST(ComputeDiffStatsTest, InfinitiesCompareAsValues) {
  const float inf = std::numeric_limits<float>::infinity();
  DiffStats s = Stats<float>(DType::kF32, {inf, -inf, 1}, {inf, -inf, 1});  // equal: no difference
  EXPECT_EQ(s.max_abs_diff, 0.0);
  EXPECT_EQ(s.l2_diff, 0.0);
  s = Stats<float>(DType::kF32, {inf, 1}, {1, 1});
  EXPECT_EQ(s.max_abs_diff, INFINITY);
  EXPECT_EQ(s.l2_diff, INFINITY);
}

TEST(ComputeDiffStatsTest, ManyBlocksAndZeroElements) {
  std::vector<float> a(10000, 1.0f), b(10000, 2.0f);  // more than one conversion block
  DiffStats s = Stats<float>(DType::kF32, a, b);
  EXPECT_EQ(s.max_abs_diff, 1.0);
  EXPECT_EQ(s.l2_diff, 100.0);
  s = Stats<float>(DType::kF32, {}, {});
  EXPECT_EQ(s.max_abs_diff, 0.0);
  EXPECT_EQ(s.l2_diff, 0.0);
}

TEST(ComputeDiffStatsTest, F64ExtremesDoNotOverflowOrUnderflowTheNorm) {
  // The squares, 9e600 or 9e-600, are out of double's range; the norm is not.
  DiffStats s = Stats<double>(DType::kF64, {0, 0}, {3e300, -4e300});
  EXPECT_EQ(s.max_abs_diff, 4e300);
  EXPECT_DOUBLE_EQ(s.l2_diff, 5e300);
  s = Stats<double>(DType::kF64, {3e-300, 0}, {0, 4e-300});
  EXPECT_EQ(s.max_abs_diff, 4e-300);
  EXPECT_DOUBLE_EQ(s.l2_diff, 5e-300);
}

}  // namespace
}  // namespace ckptdb

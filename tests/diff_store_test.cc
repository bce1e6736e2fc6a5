// AddDiffStats (ckptdb/diff.h) over a real store: which changes get statistics, and its errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "ckptdb/ckptdb.h"
#include "tests/support/store_fixtures.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

using namespace store_tests;
using testing::ScratchDir;

Owned Floats(std::string name, std::vector<float> v) {
  Owned t{std::move(name), DType::kF32, {static_cast<int64_t>(v.size())}, std::vector<uint8_t>(v.size() * 4)};
  std::memcpy(t.bytes.data(), v.data(), t.bytes.size());
  return t;
}

class DiffStatsOnAStore : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = MustOpen(dir_.path());
    ASSERT_TRUE(store_);
    Owned ints = MakeTensor("ints", DType::kI32, {4}, 1);
    MustSave(*store_, {Floats("w", {1, 2, 3}), ints, Floats("shape", {0, 0}), Floats("same", {5})}, AtStep(1));
    ints.bytes[0] ^= 1;
    MustSave(*store_, {Floats("w", {1, -2, 7}), ints, Floats("shape", {0, 0, 0}), Floats("same", {5})}, AtStep(2));
    for (int64_t step : {1, 2}) {
      auto m = store_->Describe(Selector::Step(step));
      ASSERT_TRUE(m.ok()) << m.status().ToString();
      manifests_.push_back(*m);
    }
    diff_ = DiffManifests(manifests_[0], manifests_[1]);
    ASSERT_EQ(diff_.changed.size(), 3u);  // ints, shape, w (sorted)
  }

  ScratchDir dir_;
  std::unique_ptr<Store> store_;
  std::vector<CheckpointManifest> manifests_;
  ManifestDiff diff_;
};

TEST_F(DiffStatsOnAStore, FillsFloatChangesOfUnchangedShapeOnly) {
  ASSERT_TRUE(AddDiffStats(*store_, manifests_[0], manifests_[1], diff_).ok());
  const TensorChange& ints = diff_.changed[0];
  const TensorChange& shape = diff_.changed[1];
  const TensorChange& w = diff_.changed[2];
  EXPECT_EQ(w.name, "w");
  EXPECT_EQ(w.max_abs_diff, 4.0);
  EXPECT_EQ(w.l2_diff, std::sqrt(16.0 + 16.0));
  EXPECT_EQ(ints.name, "ints");
  EXPECT_FALSE(ints.max_abs_diff.has_value()) << "integer tensors get none";
  EXPECT_EQ(shape.name, "shape");
  EXPECT_FALSE(shape.l2_diff.has_value()) << "nor do tensors whose shape changed";
}

TEST_F(DiffStatsOnAStore, ARemovedCheckpointIsNotFoundNamingIt) {
  ASSERT_TRUE(store_->Remove(Selector::Step(2)).ok());
  Status s = AddDiffStats(*store_, manifests_[0], manifests_[1], diff_);
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_TRUE(Contains(s.message(), "no checkpoint with id 2")) << s.ToString();
}

}  // namespace
}  // namespace ckptdb

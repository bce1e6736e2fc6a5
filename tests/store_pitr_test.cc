// Point-in-time selection: by tag, by commit time (with its boundaries), and by best metric.
#include <cmath>
#include <cstring>
#include <deque>
#include <limits>

#include <gtest/gtest.h>

#include "ckptdb/ckptdb.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

class PitrTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions o;
    o.chunk_size = 64 << 10;
    auto s = Store::Open(dir_.Join("store"), o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }

  // Saves a one-tensor checkpoint whose bytes encode `step`, with the given metrics and tags.
  CheckpointInfo Save(int64_t step, std::map<std::string, double> metrics = {}, std::vector<std::string> tags = {}) {
    steps_.push_back(step);
    TensorRef t{"step", DType::kI64, {}, &steps_.back(), 8};
    SaveOptions o;
    o.step = step;
    o.metrics = std::move(metrics);
    o.tags = std::move(tags);
    auto info = store_->Save({&t, 1}, o);
    EXPECT_TRUE(info.ok()) << info.status().ToString();
    return info.ok() ? *info : CheckpointInfo{};
  }

  // The id `which` resolves to, or 0 with the error recorded in last_error_.
  CheckpointId Pick(const Selector& which) {
    auto m = store_->Describe(which);
    last_error_ = m.ok() ? Status::OK() : m.status();
    return m.ok() ? m->info.id : 0;
  }

  testing::ScratchDir dir_;
  std::unique_ptr<Store> store_;
  std::deque<int64_t> steps_;  // stable addresses for the saved bytes
  Status last_error_;
};

TEST_F(PitrTest, TagSelectsTheTaggedCheckpoint) {
  Save(10, {}, {"warmup"});
  const auto release = Save(20, {}, {"release", "v1"});
  Save(30);
  EXPECT_EQ(Pick(Selector::Tag("release")), release.id);
  EXPECT_EQ(Pick(Selector::Tag("v1")), release.id);
  EXPECT_EQ(Pick(Selector::Tag("warmup")), 1u);
}

TEST_F(PitrTest, UnknownTagIsNotFoundNamingTheTag) {
  Save(10, {}, {"a"});
  EXPECT_EQ(Pick(Selector::Tag("nope")), 0u);
  EXPECT_EQ(last_error_.code(), Code::kNotFound);
  EXPECT_NE(last_error_.message().find("tag 'nope'"), std::string::npos) << last_error_.ToString();
}

TEST_F(PitrTest, AtPicksTheNewestCommittedAtOrBeforeTheTime) {
  const auto a = Save(10);
  const auto b = Save(20);
  const auto c = Save(30);
  ASSERT_LT(a.commit_time_ns, b.commit_time_ns);
  ASSERT_LT(b.commit_time_ns, c.commit_time_ns);
  // Exactly at a commit time: that checkpoint (the boundary is inclusive).
  EXPECT_EQ(Pick(Selector::At(b.commit_time_ns)), b.id);
  // One nanosecond before it: the previous one.
  EXPECT_EQ(Pick(Selector::At(b.commit_time_ns - 1)), a.id);
  EXPECT_EQ(Pick(Selector::At(c.commit_time_ns + 1'000'000'000)), c.id);
  EXPECT_EQ(Pick(Selector::At(a.commit_time_ns)), a.id);
}

TEST_F(PitrTest, AtBeforeTheFirstCheckpointIsNotFound) {
  const auto a = Save(10);
  EXPECT_EQ(Pick(Selector::At(a.commit_time_ns - 1)), 0u);
  EXPECT_EQ(last_error_.code(), Code::kNotFound);
  EXPECT_NE(last_error_.message().find("time"), std::string::npos) << last_error_.ToString();
}

TEST_F(PitrTest, BestPicksTheMinimumOrMaximumMetric) {
  Save(10, {{"loss", 0.9}, {"acc", 0.5}});
  const auto low = Save(20, {{"loss", 0.2}, {"acc", 0.7}});
  const auto high = Save(30, {{"loss", 0.4}, {"acc", 0.9}});
  EXPECT_EQ(Pick(Selector::Best("loss", /*maximize=*/false)), low.id);
  EXPECT_EQ(Pick(Selector::Best("acc", /*maximize=*/true)), high.id);
}

TEST_F(PitrTest, BestPrefersTheNewestAmongEqualValues) {
  Save(10, {{"loss", 0.25}});
  const auto newer = Save(20, {{"loss", 0.25}});
  Save(30, {{"loss", 0.5}});
  EXPECT_EQ(Pick(Selector::Best("loss", false)), newer.id);
}

TEST_F(PitrTest, BestIgnoresCheckpointsWithoutTheMetricOrWithNaN) {
  Save(10);
  const auto only = Save(20, {{"loss", 0.7}});
  Save(30, {{"loss", std::numeric_limits<double>::quiet_NaN()}});
  Save(40, {{"acc", 0.1}});
  EXPECT_EQ(Pick(Selector::Best("loss", false)), only.id);
  EXPECT_EQ(Pick(Selector::Best("loss", true)), only.id);
}

TEST_F(PitrTest, BestWithoutAnyCheckpointHavingTheMetricIsNotFound) {
  Save(10, {{"acc", 0.1}});
  EXPECT_EQ(Pick(Selector::Best("loss", false)), 0u);
  EXPECT_EQ(last_error_.code(), Code::kNotFound);
  EXPECT_NE(last_error_.message().find("best loss"), std::string::npos) << last_error_.ToString();
}

TEST_F(PitrTest, RestoreFollowsTheSelector) {
  Save(10, {{"loss", 0.1}}, {"keep"});
  Save(20, {{"loss", 0.5}});
  for (const Selector& which : {Selector::Tag("keep"), Selector::Best("loss", false)}) {
    auto tensors = store_->Restore(which);
    ASSERT_TRUE(tensors.ok()) << tensors.status().ToString();
    int64_t step = 0;
    std::memcpy(&step, (*tensors)[0].bytes.data(), 8);
    EXPECT_EQ(step, 10) << which.ToString();
  }
}

}  // namespace
}  // namespace ckptdb

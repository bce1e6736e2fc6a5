// Specifies what Store records per checkpoint (parent, tags, metrics, metadata) and how selectors pick one.
#include "ckptdb/ckptdb.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/checkpoint_expect.h"
#include "tests/support/store_fixtures.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

using namespace store_tests;
using testing::ExpectSameInfo;
using testing::ScratchDir;

TEST(StoreCatalog, SaveRecordsStepParentIdsMetadataMetricsTagsAndCommitTime) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  auto now = [] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch()).count();
  };
  std::vector<CheckpointInfo> saved;
  std::vector<std::map<std::string, std::string>> metadata;
  std::vector<std::vector<Owned>> states;
  for (int i = 0; i < 3; ++i) {
    SaveOptions o;
    o.step = 100 * (i + 1);
    o.metadata = {{"run", "r" + std::to_string(i)}, {"配置", "值 " + std::to_string(i)}, {"empty", ""}};
    o.metrics = {{"loss", 1.0 / (i + 1)}, {"acc", 0.5 + i * 0.1}};
    if (i == 1) o.tags = {"zeta", "alpha", "mid"};
    if (i == 2) o.tags = {"final"};
    states.push_back({MakeBytes("w", kChunk + 10 * i, 10 + i), MakeTensor("b", DType::kF32, {i + 1}, 20 + i)});
    const int64_t before = now();
    CheckpointInfo info = MustSave(*store, states.back(), o);
    const int64_t after = now();
    SCOPED_TRACE("save " + std::to_string(i));
    EXPECT_EQ(info.id, static_cast<CheckpointId>(i + 1)) << "ids are 1, 2, 3, ...";
    EXPECT_EQ(info.step, o.step);
    if (i == 0) EXPECT_FALSE(info.parent.has_value());
    else EXPECT_EQ(info.parent, std::optional<CheckpointId>(i)) << "parent is the previous head";
    EXPECT_GE(info.commit_time_ns, before);
    EXPECT_LE(info.commit_time_ns, after);
    EXPECT_EQ(info.tensor_count, 2u);
    EXPECT_EQ(info.logical_bytes, kChunk + 10 * i + 4 * (i + 1));
    EXPECT_EQ(info.metrics, o.metrics);
    std::vector<std::string> sorted_tags = o.tags;
    std::sort(sorted_tags.begin(), sorted_tags.end());
    EXPECT_EQ(info.tags, sorted_tags) << "tags come back sorted";
    saved.push_back(info);
    metadata.push_back(o.metadata);
  }
  EXPECT_LT(saved[0].commit_time_ns, saved[2].commit_time_ns);
  EXPECT_LE(saved[0].commit_time_ns, saved[1].commit_time_ns);

  auto check = [&](Store& s) {
    auto list = MustList(s);
    ASSERT_EQ(list.size(), 3u);
    for (size_t i = 0; i < 3; ++i) ExpectSameInfo(list[i], saved[i]);
    for (size_t i = 0; i < 3; ++i) {
      auto m = s.Describe(Selector::Id(saved[i].id));
      ASSERT_TRUE(m.ok()) << m.status().ToString();
      ExpectSameInfo(m->info, saved[i]);
      EXPECT_EQ(m->metadata, metadata[i]);
      EXPECT_EQ(m->chunk_size, kChunk);
      ASSERT_EQ(m->tensors.size(), 2u);
      EXPECT_EQ(m->tensors[0].name, "w");
      EXPECT_EQ(m->tensors[1].name, "b");
      EXPECT_EQ(m->tensors[1].dtype, DType::kF32);
      EXPECT_EQ(m->tensors[1].shape, Shape{static_cast<int64_t>(i + 1)});
      ExpectRestores(s, Selector::Id(saved[i].id), states[i]);
    }
  };
  check(*store);
  // Everything survives closing and reopening.
  store.reset();
  store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  check(*store);
  // Ids keep increasing across reopen, and the head is remembered.
  CheckpointInfo next = MustSave(*store, states[0]);
  EXPECT_EQ(next.id, 4u);
  EXPECT_EQ(next.parent, std::optional<CheckpointId>(3));
}

// ---------------------------------------------------------------------------------------------
// Selectors.

TEST(StoreSelectors, LatestIsTheMostRecentlyCommittedNotTheHighestStep) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  std::vector<std::vector<Owned>> states;
  for (int64_t step : {10, 30, 20}) {
    states.push_back({MakeBytes("w", 100, step)});
    MustSave(*store, states.back(), AtStep(step));
  }
  auto m = store->Describe(Selector::Latest());
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->info.id, 3u);
  EXPECT_EQ(m->info.step, 20);
  ExpectRestores(*store, Selector::Latest(), states[2]);
}

TEST(StoreSelectors, HeadIsWhereTheNextSaveContinuesNotTheLatestAfterARollback) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  auto empty = store->Describe(Selector::Head());
  EXPECT_EQ(empty.status().code(), Code::kNotFound);
  EXPECT_NE(empty.status().message().find("has no head"), std::string::npos) << empty.status().message();
  std::vector<std::vector<Owned>> states;
  for (int64_t step : {1, 2, 3}) {
    states.push_back({MakeBytes("w", 100, step)});
    MustSave(*store, states.back(), AtStep(step));
  }
  ExpectRestores(*store, Selector::Head(), states[2]);  // the latest, until a rollback
  ASSERT_TRUE(store->Rollback(Selector::Step(1), /*discard=*/false).ok());
  auto head = store->Describe(Selector::Head());
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(head->info.id, 1u);
  ExpectRestores(*store, Selector::Head(), states[0]);
  ExpectRestoresInto(*store, Selector::Head(), states[0]);
  ExpectRestores(*store, Selector::Latest(), states[2]);  // still on the abandoned branch
  EXPECT_EQ(Selector::Head().ToString(), "head");
}

TEST(StoreSelectors, StepPicksTheMostRecentlyCommittedCheckpointWithThatStep) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  std::vector<Owned> a = {MakeBytes("w", 100, 1)}, b = {MakeBytes("w", 100, 2)}, c = {MakeBytes("w", 100, 3)};
  MustSave(*store, a, AtStep(5));
  MustSave(*store, b, AtStep(6));
  MustSave(*store, c, AtStep(5));
  MustSave(*store, b, AtStep(-1));
  auto m = store->Describe(Selector::Step(5));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->info.id, 3u);
  ExpectRestores(*store, Selector::Step(5), c);
  ExpectRestoresInto(*store, Selector::Step(5), c);
  ExpectRestores(*store, Selector::Step(6), b);
  ExpectRestores(*store, Selector::Step(-1), b);
}

TEST(StoreSelectors, IdPicksExactlyThatCheckpoint) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  std::vector<std::vector<Owned>> states;
  for (int i = 0; i < 4; ++i) {
    states.push_back({MakeBytes("w", kChunk + i, 100 + i)});
    MustSave(*store, states.back(), AtStep(7));
  }
  for (int i = 0; i < 4; ++i) {
    ExpectRestores(*store, Selector::Id(i + 1), states[i]);
    ExpectRestoresInto(*store, Selector::Id(i + 1), states[i]);
  }
}

TEST(StoreSelectors, SelectorsSpellThemselvesForMessages) {
  EXPECT_EQ(Selector::Latest().ToString(), "latest");
  EXPECT_EQ(Selector::Step(42).ToString(), "step 42");
  EXPECT_EQ(Selector::Step(-3).ToString(), "step -3");
  EXPECT_EQ(Selector::Id(7).ToString(), "id 7");
  // Times in RFC 3339 UTC, the form --at takes and the log prints; a fraction only when there is one.
  EXPECT_EQ(Selector::At(1795397760'000000000).ToString(), "time 2026-11-23T01:36:00Z");
  EXPECT_EQ(Selector::At(1795397760'500000000).ToString(), "time 2026-11-23T01:36:00.5Z");
  EXPECT_EQ(Selector::At(1795397760'000000007).ToString(), "time 2026-11-23T01:36:00.000000007Z");
  EXPECT_EQ(Selector::At(-1).ToString(), "time 1969-12-31T23:59:59.999999999Z");
  EXPECT_EQ(Selector::At(INT64_MAX).ToString(), "time 2262-04-11T23:47:16.854775807Z");
}

TEST(StoreSelectors, NotFoundNamesTheStoreAndTheSelector) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  auto check = [&](const Selector& which, const std::string& when) {
    SCOPED_TRACE(when + ", " + which.ToString());
    auto d = store->Describe(which);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.status().code(), Code::kNotFound);
    EXPECT_TRUE(Contains(d.status().message(), dir.path())) << d.status().ToString();
    EXPECT_TRUE(Contains(d.status().message(), which.ToString())) << d.status().ToString();
    auto r = store->Restore(which);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kNotFound);
    EXPECT_TRUE(Contains(r.status().message(), dir.path())) << r.status().ToString();
    EXPECT_TRUE(Contains(r.status().message(), which.ToString())) << r.status().ToString();
    std::vector<uint8_t> buf(4);
    std::vector<TensorBuffer> bufs = {{"w", DType::kU8, {4}, buf.data(), 4}};
    Status s = store->RestoreInto(which, bufs);
    EXPECT_EQ(s.code(), Code::kNotFound);
    EXPECT_TRUE(Contains(s.message(), which.ToString())) << s.ToString();
  };
  check(Selector::Latest(), "empty store");
  check(Selector::Step(42), "empty store");
  check(Selector::Id(7), "empty store");
  MustSave(*store, {MakeBytes("w", 4, 1)}, AtStep(1));
  check(Selector::Step(42), "one checkpoint");
  check(Selector::Id(7), "one checkpoint");
  check(Selector::Id(0), "one checkpoint");
}

}  // namespace
}  // namespace ckptdb

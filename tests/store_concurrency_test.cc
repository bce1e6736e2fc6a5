// Specifies concurrent use of one Store: simultaneous saves, saves racing for a tag, and reads during saves.
#include "ckptdb/ckptdb.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/store_fixtures.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

using namespace store_tests;
using testing::ScratchDir;

TEST(StoreConcurrency, TwoThreadsSavingAtOnceBothSucceedWithDistinctIds) {
  ScratchDir dir;
  auto store = MustOpen(dir.path(), SmallChunks(4));
  ASSERT_TRUE(store);
  constexpr int kPerThread = 5;
  std::mutex mu;
  std::map<CheckpointId, std::vector<Owned>> by_id;
  std::atomic<int> failures{0};
  auto saver = [&](int who) {
    for (int i = 0; i < kPerThread; ++i) {
      std::vector<Owned> ts = {MakeBytes("w" + std::to_string(who), 3 * kChunk + i, 1000 * who + i),
                               MakeBytes("shared", kChunk, 7)};
      auto r = store->Save(Refs(ts), AtStep(who * 100 + i));
      if (!r.ok()) {
        failures.fetch_add(1);
        continue;
      }
      std::lock_guard<std::mutex> l(mu);
      EXPECT_TRUE(by_id.emplace(r->id, std::move(ts)).second) << "id " << r->id << " given twice";
    }
  };
  std::thread a(saver, 1), b(saver, 2);
  a.join();
  b.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_EQ(by_id.size(), 2u * kPerThread);
  auto list = MustList(*store);
  ASSERT_EQ(list.size(), 2u * kPerThread);
  for (size_t i = 0; i < list.size(); ++i) {
    EXPECT_EQ(list[i].id, i + 1);
    // Saves are serialised, so each one's parent is the one committed just before it.
    if (i == 0) EXPECT_FALSE(list[i].parent.has_value());
    else EXPECT_EQ(list[i].parent, std::optional<CheckpointId>(i));
  }
  uint64_t new_bytes = 0;
  for (const auto& info : list) new_bytes += info.new_bytes;
  uint64_t distinct = kChunk;  // "shared" once
  for (const auto& [id, ts] : by_id) distinct += ts[0].bytes.size();
  EXPECT_EQ(new_bytes, distinct) << "the shared chunk is counted by exactly one save";
  for (const auto& [id, ts] : by_id) ExpectRestores(*store, Selector::Id(id), ts);
}

TEST(StoreConcurrency, TwoSavesRacingForOneTagCommitExactlyOne) {
  for (int round = 0; round < 5; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    ScratchDir dir;
    auto store = MustOpen(dir.path(), SmallChunks(2));
    ASSERT_TRUE(store);
    std::vector<Owned> a = {MakeBytes("w", 2 * kChunk, 1)}, b = {MakeBytes("w", 2 * kChunk, 2)};
    SaveOptions o;
    o.tags = {"best"};
    Result<CheckpointInfo> ra = Status::Internal("not run"), rb = Status::Internal("not run");
    std::thread ta([&] { ra = store->Save(Refs(a), o); });
    std::thread tb([&] { rb = store->Save(Refs(b), o); });
    ta.join();
    tb.join();
    ASSERT_NE(ra.ok(), rb.ok()) << ra.status().ToString() << " / " << rb.status().ToString();
    const Status& loser = ra.ok() ? rb.status() : ra.status();
    EXPECT_EQ(loser.code(), Code::kAlreadyExists) << loser.ToString();
    auto list = MustList(*store);
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0].tags, std::vector<std::string>{"best"});
    ExpectRestores(*store, Selector::Latest(), ra.ok() ? a : b);
  }
}

TEST(StoreConcurrency, ReadsWhileSavingSeeOnlyCommittedCheckpoints) {
  ScratchDir dir;
  auto store = MustOpen(dir.path(), SmallChunks(4));
  ASSERT_TRUE(store);
  std::vector<Owned> base = {MakeBytes("base", 2 * kChunk + 1, 1)};
  MustSave(*store, base, AtStep(0));

  std::atomic<bool> done{false};
  std::atomic<int> save_failures{0};
  std::thread writer([&] {
    for (int i = 1; i <= 12; ++i) {
      std::vector<Owned> ts = {MakeBytes("w", 4 * kChunk, 50 + i), MakeTensor("b", DType::kF32, {i}, 80 + i)};
      if (!store->Save(Refs(ts), AtStep(i)).ok()) save_failures.fetch_add(1);
    }
    done = true;
  });
  // One round of reads; false (after recording the failure) if anything was wrong.
  size_t last_count = 1;
  auto read_once = [&]() -> bool {
    auto list = store->List();
    if (!list.ok()) return ADD_FAILURE() << list.status().ToString(), false;
    if (list->size() < last_count) return ADD_FAILURE() << "a checkpoint disappeared", false;
    last_count = list->size();
    for (size_t i = 0; i < list->size(); ++i)
      if ((*list)[i].id != i + 1) return ADD_FAILURE() << "ids are not 1..n", false;
    auto first = store->Restore(Selector::Id(1));
    if (!first.ok()) return ADD_FAILURE() << first.status().ToString(), false;
    ExpectRestored(*first, base);
    // Whatever is latest now is complete: its manifest and every chunk it names are readable.
    auto latest = store->Restore(Selector::Latest());
    if (!latest.ok()) return ADD_FAILURE() << latest.status().ToString(), false;
    auto m = store->Describe(Selector::Id(list->back().id));
    if (!m.ok()) return ADD_FAILURE() << m.status().ToString(), false;
    return true;
  };
  int reads = 0;
  while ((!done.load() || reads < 5) && read_once()) ++reads;
  writer.join();
  EXPECT_EQ(save_failures.load(), 0);
  EXPECT_EQ(MustList(*store).size(), 13u);
  auto report = store->Verify();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->ok());
}

}  // namespace
}  // namespace ckptdb

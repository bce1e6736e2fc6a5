// Fixture shared by the retention and rollback suites: a small-chunk store whose checkpoints each hold
// one chunk shared by all ("base") and chunks of their own ("w"), remembered by id so that any
// survivor can be checked bit-exact (header-only: GoogleTest macros).
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ckptdb/ckptdb.h"
#include "tests/support/checkpoint_expect.h"
#include "tests/support/store_fixtures.h"
#include "tests/support/test_support.h"

namespace ckptdb::retention_tests {

using store_tests::kChunk;
using store_tests::Owned;

inline constexpr uint64_t kOwnChunks = 2;  // chunks only one checkpoint holds, by default

inline std::vector<CheckpointId> IdsOf(const std::vector<CheckpointInfo>& cks) {
  std::vector<CheckpointId> ids;
  for (const auto& c : cks) ids.push_back(c.id);
  return ids;
}

class HistoryTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    store_.reset();
    store_ = store_tests::MustOpen(path_, options_);
    ASSERT_NE(store_, nullptr);
  }

  CheckpointInfo Save(int64_t step, std::map<std::string, double> metrics = {},
                      std::vector<std::string> tags = {}, uint64_t own_chunks = kOwnChunks) {
    std::vector<Owned> ts = {shared_, store_tests::MakeBytes("w", own_chunks * kChunk, 1000 + ++seed_)};
    SaveOptions o;
    o.step = step;
    o.metrics = std::move(metrics);
    o.tags = std::move(tags);
    CheckpointInfo info = store_tests::MustSave(*store_, ts, o);
    saved_[info.id] = std::move(ts);
    return info;
  }
  // Saves at steps 10, 20, ..., 10 x n.
  void SaveSteps(int n) {
    for (int i = 1; i <= n; ++i) Save(10 * i);
  }

  std::vector<CheckpointInfo> List() { return store_tests::MustList(*store_); }
  std::vector<CheckpointId> Ids() { return IdsOf(List()); }
  std::vector<int64_t> Steps() {
    std::vector<int64_t> steps;
    for (const auto& c : List()) steps.push_back(c.step);
    return steps;
  }
  std::optional<CheckpointId> HeadId() {
    auto h = store_->Head();
    EXPECT_TRUE(h.ok()) << h.status().ToString();
    return h.ok() ? *h : std::nullopt;
  }
  std::optional<CheckpointId> ParentOf(CheckpointId id) {
    auto m = store_->Describe(Selector::Id(id));
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? m->info.parent : std::nullopt;
  }
  void SetPolicy(const RetentionPolicy& p) {
    Status s = store_->SetRetention(p);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  GcReport Gc() {
    auto r = store_->CollectGarbage();
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : GcReport{};
  }
  RollbackReport MustRollback(const Selector& which, bool discard = false) {
    auto r = store_->Rollback(which, discard);
    EXPECT_TRUE(r.ok()) << which.ToString() << ": " << r.status().ToString();
    return r.ok() ? *r : RollbackReport{};
  }

  // Restore of `id` returns exactly what was saved as it.
  void ExpectRestoresSaved(CheckpointId id) {
    SCOPED_TRACE("checkpoint " + std::to_string(id));
    ASSERT_TRUE(saved_.count(id));
    store_tests::ExpectRestores(*store_, Selector::Id(id), saved_.at(id));
  }
  void ExpectEverySurvivorRestores() {
    for (CheckpointId id : Ids()) ExpectRestoresSaved(id);
  }
  // Every parent names a checkpoint the store holds, and List agrees with Describe.
  void ExpectParentsSurvive() {
    const auto cks = List();
    std::set<CheckpointId> ids;
    for (const auto& c : cks) ids.insert(c.id);
    for (const auto& c : cks) {
      if (c.parent) {
        EXPECT_TRUE(ids.count(*c.parent)) << c.id << "'s parent " << *c.parent << " is gone";
      }
      EXPECT_EQ(ParentOf(c.id), c.parent) << c.id;
    }
  }
  // Following parents from the head visits exactly `chain` (head first) and then ends.
  void ExpectChainFromHead(const std::vector<CheckpointId>& chain) {
    std::vector<CheckpointId> got;
    std::optional<CheckpointId> at = HeadId();
    while (at && got.size() <= chain.size()) {
      got.push_back(*at);
      at = ParentOf(*at);
    }
    EXPECT_EQ(got, chain);
  }

  testing::ScratchDir dir_;
  const std::string path_ = dir_.Join("store");
  StoreOptions options_ = store_tests::SmallChunks();
  std::unique_ptr<Store> store_;
  Owned shared_ = store_tests::MakeBytes("base", kChunk, 7);
  uint64_t seed_ = 0;
  std::map<CheckpointId, std::vector<Owned>> saved_;
};

}  // namespace ckptdb::retention_tests

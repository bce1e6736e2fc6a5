// Specifies GcOptions::dry_run (api/ckptdb/options.h, Store::CollectGarbage): a dry run returns
// the report the collection would produce, and changes nothing: every file under the store is
// byte for byte what it was, and a real collection afterwards reports what the dry run predicted.
#include <gtest/gtest.h>

#include <filesystem>
#include <chrono>
#include <map>
#include <thread>

#include "ckptdb/ckptdb.h"
#include "tests/support/store_fixtures.h"
#include "tests/support/tree_bytes.h"

namespace ckptdb {
namespace {

using namespace store_tests;

// Every file and directory under `dir` with its bytes, and the paths two such trees differ in.
using testing::ChangedPaths;
using testing::TreeBytes;

void ExpectSameFiles(const std::map<std::string, std::string>& got, const std::map<std::string, std::string>& want) {
  EXPECT_TRUE(got == want) << "changed:" << ChangedPaths(want, got);
}

// RocksDB rewrites table files on its own: once the last snapshot older than their entries is
// released (by any read), it compacts bottommost files to drop old sequence numbers and
// tombstones; logically nothing changes. So the store is first read whole (Verify, under a
// snapshot, as the dry run reads) and left until its files stop changing; then any change the dry
// run causes, RocksDB's housekeeping included, shows in the files.
std::map<std::string, std::string> Settled(Store& store) {
  auto v = store.Verify();
  EXPECT_TRUE(v.ok() && v->ok());
  auto files = TreeBytes(store.path());
  for (int i = 0; i < 50; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto now = TreeBytes(store.path());
    if (now == files) return files;
    files = std::move(now);
  }
  ADD_FAILURE() << "the store's files kept changing for 10 s";
  return files;
}

// The files once any background work the call before started has had time to run.
std::map<std::string, std::string> FilesAfterAWhile(const std::string& dir) {
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  return TreeBytes(dir);
}

std::vector<CheckpointId> Ids(const std::vector<CheckpointInfo>& cks) {
  std::vector<CheckpointId> out;
  for (const auto& c : cks) out.push_back(c.id);
  return out;
}

// The figures a dry run predicts exactly when nothing runs beside it. reclaimed_bytes is exact
// between dry runs; a real collection's may be lower by the blocks the filesystem allocates for the
// new pack's own metadata (options.h: at most 4 KiB per MiB copied, and 4 KiB for a small pack),
// never higher. Seen here: a 384 KiB copy given 388 KiB on ext4 (an extent block).
void ExpectSamePlan(const GcReport& got, const GcReport& want) {
  if (got.reclaimed_bytes != want.reclaimed_bytes) {
    const uint64_t slack = 4096 * (1 + want.bytes_copied / (1 << 20));
    EXPECT_LE(got.reclaimed_bytes, want.reclaimed_bytes) << "the collection freed more than the dry run said";
    EXPECT_GE(got.reclaimed_bytes + slack, want.reclaimed_bytes) << "more than the new pack's metadata apart";
  }
  EXPECT_EQ(Ids(got.checkpoints_removed), Ids(want.checkpoints_removed));
  EXPECT_EQ(got.chunks_deleted, want.chunks_deleted);
  EXPECT_EQ(got.packs_deleted, want.packs_deleted);
  EXPECT_EQ(got.packs_rewritten, want.packs_rewritten);
  EXPECT_EQ(got.bytes_copied, want.bytes_copied);
  EXPECT_EQ(got.live_bytes, want.live_bytes);
  EXPECT_EQ(got.packs_deferred, 0u);
}

class GcDryRun : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions o = SmallChunks();
    o.background_gc = false;  // nothing may run beside the dry run but what the test starts
    store_ = MustOpen(path_, o);
  }
  GcReport Collect(bool dry_run, Store* store = nullptr) {
    GcOptions o;
    o.dry_run = dry_run;
    auto r = (store ? store : store_.get())->CollectGarbage(o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : GcReport{};
  }

  testing::ScratchDir dir_;
  const std::string path_ = dir_.Join("store");
  std::unique_ptr<Store> store_;
};

TEST_F(GcDryRun, PredictsRetentionDeletionsAndRewritesAndChangesNothing) {
  // Four checkpoints share "keep"; each has a "step" tensor of its own. Each save writes one pack:
  // the first holds "keep" and step 0, the others their step only. A policy set afterwards keeps
  // two, which the dry run must judge in memory: it retires checkpoints 1 and 2, so pack 2 is all
  // garbage (deleted) and pack 1 is 4/10 garbage (its "keep" copied out, then deleted).
  const Owned keep = MakeBytes("keep", 6 * kChunk, 1);
  for (int i = 0; i < 4; ++i) MustSave(*store_, {keep, MakeBytes("step", 4 * kChunk, 10 + i)}, AtStep(i));
  RetentionPolicy policy;
  policy.max_to_keep = 2;
  ASSERT_TRUE(store_->SetRetention(policy).ok());

  const auto before = Settled(*store_);
  const GcReport plan = Collect(/*dry_run=*/true);
  ExpectSameFiles(FilesAfterAWhile(path_), before);
  EXPECT_EQ(MustList(*store_).size(), 4u) << "the dry run removed a checkpoint";
  EXPECT_EQ(Ids(plan.checkpoints_removed), (std::vector<CheckpointId>{1, 2}));
  EXPECT_EQ(plan.chunks_deleted, 8u);
  EXPECT_EQ(plan.live_bytes, 14 * kChunk);
  EXPECT_EQ(plan.packs_rewritten, 1u);
  EXPECT_EQ(plan.bytes_copied, 6 * kChunk);
  EXPECT_EQ(plan.packs_deleted, 2u);
  EXPECT_GT(plan.reclaimed_bytes, 0u);

  // A second dry run sees the same store and says the same.
  const GcReport again = Collect(true);
  ExpectSamePlan(again, plan);
  EXPECT_EQ(again.reclaimed_bytes, plan.reclaimed_bytes);
  ExpectSameFiles(FilesAfterAWhile(path_), before);

  const GcReport real = Collect(/*dry_run=*/false);
  ExpectSamePlan(real, plan);
  EXPECT_EQ(MustList(*store_).size(), 2u);
  ExpectRestores(*store_, Selector::Latest(), {keep, MakeBytes("step", 4 * kChunk, 13)});
  // Now there is nothing left to do, and the dry run says so.
  const GcReport after = Collect(true);
  EXPECT_TRUE(after.checkpoints_removed.empty());
  EXPECT_EQ(after.chunks_deleted, 0u);
  EXPECT_EQ(after.packs_deleted, 0u);
  EXPECT_EQ(after.reclaimed_bytes, 0u);
}

TEST_F(GcDryRun, PredictsThePacksARealCollectionRewrites) {
  const Owned keep = MakeBytes("keep", 8 * kChunk, 1), drop = MakeBytes("drop", 8 * kChunk, 2);
  const CheckpointInfo both = MustSave(*store_, {keep, drop});
  MustSave(*store_, {keep});
  ASSERT_TRUE(store_->Remove(Selector::Id(both.id)).ok());
  const auto before = Settled(*store_);
  const GcReport plan = Collect(true);
  ExpectSameFiles(FilesAfterAWhile(path_), before);
  EXPECT_EQ(plan.packs_rewritten, 1u);
  EXPECT_EQ(plan.bytes_copied, 8 * kChunk);
  EXPECT_EQ(plan.chunks_deleted, 8u);
  ExpectSamePlan(Collect(false), plan);
  ExpectRestores(*store_, Selector::Latest(), {keep});
}

TEST_F(GcDryRun, OnAStoreWithNothingToCollectReportsNothing) {
  MustSave(*store_, {MakeBytes("a", 3 * kChunk, 1)});
  const auto before = Settled(*store_);
  const GcReport plan = Collect(true);
  ExpectSameFiles(FilesAfterAWhile(path_), before);
  EXPECT_EQ(plan.chunks_deleted, 0u);
  EXPECT_EQ(plan.packs_deleted, 0u);
  EXPECT_EQ(plan.packs_rewritten, 0u);
  EXPECT_EQ(plan.reclaimed_bytes, 0u);
  EXPECT_EQ(plan.live_bytes, 3 * kChunk);
  ExpectSamePlan(Collect(false), plan);
}

TEST_F(GcDryRun, RunsOnAReadOnlyStoreBesideTheWriterAndChangesNothing) {
  const Owned keep = MakeBytes("keep", 4 * kChunk, 1);
  const CheckpointInfo old = MustSave(*store_, {keep, MakeBytes("old", 4 * kChunk, 2)});
  MustSave(*store_, {keep});
  ASSERT_TRUE(store_->Remove(Selector::Id(old.id)).ok());
  auto reader = Store::OpenReadOnly(path_, SmallChunks());
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  const auto before = Settled(*store_);  // after the open: its reader hold is part of the store now
  const GcReport plan = Collect(true, reader->get());
  ExpectSameFiles(FilesAfterAWhile(path_), before);
  EXPECT_EQ(plan.chunks_deleted, 4u);
  // A real collection stays the writer's.
  GcOptions real;
  EXPECT_EQ((*reader)->CollectGarbage(real).status().code(), Code::kFailedPrecondition);
  reader->reset();
  ExpectSamePlan(Collect(false), plan);
}

}  // namespace
}  // namespace ckptdb

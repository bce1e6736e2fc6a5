// Reads beside saves, rotations and collections in one process: every read sees one committed
// state from start to end, and no collection deletes a pack file a running read may need
// (store.h, "Thread safety"; store/read_views.h). Also: a read is not queued behind a save.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/reader_fixtures.h"
#include "tests/support/store_fixtures.h"

namespace ckptdb::store_tests {
namespace {

using reader_tests::PackFiles;

// The checkpoint saved at `step` in the race below: "embed" never changes, "w" and "b" change with
// every step. "w" is large enough (a few ms to restore) that saves, rotations and collections
// land inside restores of the checkpoint they rotate away.
std::vector<Owned> RaceTensors(int64_t step) {
  return {MakeBytes("embed", 2 * kChunk, 7), MakeTensor("w", DType::kF32, {3 * int64_t(kChunk) + 5}, 1000 + uint64_t(step)),
          MakeBytes("b", kChunk + 11, 500000 + uint64_t(step))};
}

// Problems seen on reader threads, reported on the main thread (GoogleTest asserts are per thread).
struct Problems {
  std::mutex mu;
  std::vector<std::string> seen;
  void Add(const std::string& s) {
    std::lock_guard<std::mutex> l(mu);
    if (seen.size() < 20) seen.push_back(s);
  }
  std::string All() {
    std::string out;
    for (const auto& s : seen) out += s + "\n";
    return out;
  }
};

std::string Mismatch(const std::vector<Tensor>& got, const std::vector<Owned>& want) {
  if (got.size() != want.size()) return "restored " + std::to_string(got.size()) + " tensors";
  for (size_t i = 0; i < want.size(); ++i)
    if (got[i].name != want[i].name || got[i].bytes.size() != want[i].bytes.size() ||
        std::memcmp(got[i].bytes.data(), want[i].bytes.data(), want[i].bytes.size()) != 0)
      return "tensor " + want[i].name + " differs from what was saved";
  return "";
}

// Restores checkpoint `info` and checks it bit-exact. A checkpoint that rotation removed after the
// List that named it is NotFound, as it should be; returns whether it was read.
bool RestoreAndCheck(Store& store, const CheckpointInfo& info, Problems& problems) {
  auto got = store.Restore(Selector::Id(info.id));
  if (!got.ok()) {
    if (got.status().code() != Code::kNotFound) problems.Add("Restore: " + got.status().ToString());
    return false;
  }
  if (std::string m = Mismatch(*got, RaceTensors(info.step)); !m.empty())
    problems.Add("checkpoint " + std::to_string(info.id) + " (step " + std::to_string(info.step) + "): " + m);
  return true;
}

// The race of the issue: readers of the oldest checkpoint lost chunks that a background collection
// deleted (or moved) under them, and saw "chunk ... is missing".
TEST(SnapshotReads, ReadsBesideRotatingSavesAndBackgroundCollectionsNeverFail) {
  testing::ScratchDir dir;
  StoreOptions options = SmallChunks(4);
  options.background_gc = true;
  auto store = MustOpen(dir.path(), options);
  ASSERT_TRUE(store);
  RetentionPolicy keep2;
  keep2.max_to_keep = 2;
  ASSERT_TRUE(store->SetRetention(keep2).ok());
  MustSave(*store, RaceTensors(0), AtStep(0));

  constexpr int kSaves = 300;
  std::atomic<bool> done{false};
  Problems problems;
  std::atomic<int> restores{0}, restores_into{0}, verifies{0}, spaces{0};
  auto reader = [&](int which) {
    while (!done.load()) {
      auto list = store->List();
      if (!list.ok() || list->empty()) {
        problems.Add("List: " + (list.ok() ? std::string("empty") : list.status().ToString()));
        continue;
      }
      if (RestoreAndCheck(*store, list->front(), problems)) ++restores;
      if (RestoreAndCheck(*store, list->back(), problems)) ++restores;
      // RestoreInto of the changing tensors of the oldest one.
      const CheckpointInfo& oldest = list->front();
      std::vector<Owned> want = RaceTensors(oldest.step);
      std::vector<std::vector<uint8_t>> bufs = {std::vector<uint8_t>(want[1].bytes.size(), 0xAB),
                                                std::vector<uint8_t>(want[2].bytes.size(), 0xAB)};
      std::vector<TensorBuffer> into = {{"w", want[1].dtype, want[1].shape, bufs[0].data(), bufs[0].size()},
                                        {"b", want[2].dtype, want[2].shape, bufs[1].data(), bufs[1].size()}};
      Status s = store->RestoreInto(Selector::Id(oldest.id), into);
      if (s.ok()) {
        ++restores_into;
        if (bufs[0] != want[1].bytes || bufs[1] != want[2].bytes)
          problems.Add("RestoreInto of step " + std::to_string(oldest.step) + " differs from what was saved");
      } else if (s.code() != Code::kNotFound) {
        problems.Add("RestoreInto: " + s.ToString());
      }
      if (which == 0) {
        auto v = store->Verify();
        if (!v.ok()) problems.Add("Verify: " + v.status().ToString());
        else if (!v->ok()) problems.Add("Verify found damage: " + v->damage[0].problem + " in " + v->damage[0].tensor);
        ++verifies;
      } else {
        auto sp = store->Space();
        if (!sp.ok()) problems.Add("Space: " + sp.status().ToString());
        else if (sp->checkpoints.empty() || sp->unique_bytes == 0) problems.Add("Space saw an empty store");
        ++spaces;
      }
    }
  };
  std::thread r0(reader, 0), r1(reader, 1);
  size_t max_packs = 0;
  for (int step = 1; step <= kSaves; ++step) {
    auto saved = store->Save(Refs(RaceTensors(step)), AtStep(step));
    if (!saved.ok()) {
      ADD_FAILURE() << "save of step " << step << ": " << saved.status().ToString();
      break;
    }
    max_packs = std::max(max_packs, PackFiles(dir.path()));
  }
  done = true;
  r0.join();
  r1.join();
  ASSERT_TRUE(store->WaitForBackgroundWork().ok());

  EXPECT_TRUE(problems.seen.empty()) << problems.All();
  EXPECT_GT(restores.load(), 20);
  EXPECT_GT(restores_into.load(), 5);
  EXPECT_GT(verifies.load(), 2);
  EXPECT_GT(spaces.load(), 2);
  // The collections really ran: 300 saves wrote a pack each, and all but a few are gone.
  EXPECT_LT(PackFiles(dir.path()), 30u);
  auto list = MustList(*store);
  ASSERT_EQ(list.size(), 2u);
  ExpectRestores(*store, Selector::Id(list.front().id), RaceTensors(list.front().step));
  auto v = store->Verify();
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok());
  std::cout << "restores " << restores << ", restores into " << restores_into << ", verifies " << verifies
            << ", space reports " << spaces << ", most pack files at once " << max_packs << "\n";
}

// A read that began before its checkpoint was removed and collected still reads it whole, and the
// collection that ran meanwhile defers the packs it would have deleted.
TEST(SnapshotReads, RestoreThatBeganBeforeRemoveAndCollectSucceedsAndDefersThePacks) {
  testing::ScratchDir dir;
  StoreOptions options = SmallChunks(2);
  options.background_gc = false;
  auto store = MustOpen(dir.path(), options);
  ASSERT_TRUE(store);
  MustSave(*store, {MakeBytes("keep", kChunk, 1)}, AtStep(1));
  bool deferred_seen = false;
  for (int attempt = 0; attempt < 6 && !deferred_seen; ++attempt) {
    SCOPED_TRACE("attempt " + std::to_string(attempt));
    const std::vector<Owned> big = {MakeBytes("big", (96ull << 20) + 7, 100 + attempt)};
    const CheckpointInfo info = MustSave(*store, big, AtStep(100 + attempt));
    const size_t packs_before = PackFiles(dir.path());
    std::atomic<bool> started{false}, finished{false};
    std::optional<Result<std::vector<Tensor>>> restored;
    std::thread t([&] {
      started = true;
      restored.emplace(store->Restore(Selector::Id(info.id)));
      finished = true;
    });
    while (!started.load()) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let the Restore take its snapshot
    auto removed = store->Remove(Selector::Id(info.id));
    ASSERT_TRUE(removed.ok()) << removed.status().ToString();
    auto gc = store->CollectGarbage();
    const bool read_was_running = !finished.load();
    t.join();
    ASSERT_TRUE(gc.ok()) << gc.status().ToString();
    if (!restored->ok() && restored->status().code() == Code::kNotFound) continue;  // it began after the Remove
    ASSERT_TRUE(restored->ok()) << restored->status().ToString();
    ExpectRestored(**restored, big);
    if (read_was_running) {
      EXPECT_GT(gc->packs_deferred, 0u) << "a collection deleted packs while a read that began before it ran";
      EXPECT_EQ(gc->packs_deleted, 0u);
      EXPECT_EQ(PackFiles(dir.path()), packs_before);
      deferred_seen = gc->packs_deferred > 0;
    }
    // With the read over, the next collection deletes them.
    auto again = store->CollectGarbage();
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_EQ(again->packs_deferred, 0u);
    if (read_was_running) {
      EXPECT_GT(again->packs_deleted, 0u);
    }
    EXPECT_LT(PackFiles(dir.path()), packs_before);
  }
  EXPECT_TRUE(deferred_seen) << "no collection ever ran while the restore did: make the checkpoint larger";
  ExpectRestores(*store, Selector::Step(1), {MakeBytes("keep", kChunk, 1)});
  auto v = store->Verify();
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok());
}

// The thread pool runs concurrent calls side by side: a small restore that starts while a large
// save is writing finishes before that save returns, rather than waiting behind its chunks.
TEST(SnapshotReads, SmallRestoreIsNotQueuedBehindALargeSave) {
  testing::ScratchDir dir;
  auto store = MustOpen(dir.path(), SmallChunks(2));
  ASSERT_TRUE(store);
  const std::vector<Owned> small = {MakeBytes("s", 3 * kChunk + 1, 1)};
  MustSave(*store, small, AtStep(1));
  const size_t packs_before = PackFiles(dir.path());
  const uint64_t big_size = 512ull << 20;
  const std::vector<Owned> big = {MakeBytes("big", big_size, 2)};

  std::mutex mu;
  std::vector<std::string> order;
  std::atomic<bool> save_done{false};
  std::thread saver([&] {
    auto r = store->Save(Refs(big), AtStep(2));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    save_done = true;
    std::lock_guard<std::mutex> l(mu);
    order.push_back("save");
  });
  // The save is writing once its pack file exists.
  while (PackFiles(dir.path()) == packs_before && !save_done.load()) std::this_thread::yield();
  ASSERT_FALSE(save_done.load()) << "the save finished before the restore could start";
  for (int i = 0; i < 3; ++i) {
    auto r = store->Restore(Selector::Step(1));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ExpectRestored(*r, small);
  }
  {
    std::lock_guard<std::mutex> l(mu);
    order.push_back("restore");
  }
  saver.join();
  EXPECT_EQ(order, (std::vector<std::string>{"restore", "save"}));
  ExpectRestores(*store, Selector::Step(2), big);
}

}  // namespace
}  // namespace ckptdb::store_tests

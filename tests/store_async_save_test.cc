// Specifies Store::SaveAsync: a capture the caller may overwrite at once, persisted in the
// background in submission order, in pieces when the state outgrows the staging memory, with
// back-pressure, errors that are never dropped, and close and abandon that say what became of
// every pending save. Real stores in real directories; the full disk is a real (tiny) tmpfs.
#include "ckptdb/ckptdb.h"

#include <sys/mount.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/store_fixtures.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

using namespace store_tests;
using testing::ScratchDir;

std::vector<Owned> State(uint64_t seed, uint64_t scale = 1) {
  return {MakeBytes("emb", 9 * kChunk * scale + 5, seed), MakeBytes("w", 4 * kChunk * scale, seed + 1),
          MakeBytes("bias", 100, seed + 2), MakeBytes("empty", 0, seed + 3)};
}

void Scribble(std::vector<Owned>& ts) {
  for (Owned& t : ts)
    for (auto& b : t.bytes) b = static_cast<uint8_t>(~b);
}

SavedCheckpoint MustWait(const SaveHandle& h) {
  auto r = h.Wait();
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r.value() : SavedCheckpoint{};
}

SaveHandle MustSubmit(Store& store, const std::vector<Owned>& ts, int64_t step) {
  auto h = store.SaveAsync(Refs(ts), AtStep(step));
  EXPECT_TRUE(h.ok()) << h.status().ToString();
  return h.ok() ? h.value() : SaveHandle();
}

TEST(StoreAsyncSave, TensorsOverwrittenRightAfterItReturnsDoNotChangeWhatIsSaved) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  std::vector<Owned> ts = State(1);
  const std::vector<Owned> captured = ts;
  SaveHandle h = MustSubmit(*store, ts, 7);
  Scribble(ts);  // the capture is done: this must not reach the checkpoint
  EXPECT_EQ(h.step(), 7);
  const SavedCheckpoint saved = MustWait(h);
  EXPECT_TRUE(h.Done());
  EXPECT_EQ(saved.step, 7);
  EXPECT_EQ(saved.tensor_count, 4u);
  auto m = store->Describe(Selector::Id(saved.id));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->info.step, 7);
  for (size_t i = 0; i < ts.size(); ++i) EXPECT_EQ(saved.chunks[i], m->tensors[i].chunks) << i;
  ExpectRestores(*store, Selector::Id(saved.id), captured);
  // Every Wait returns the same result.
  EXPECT_EQ(MustWait(h).id, saved.id);
}

TEST(StoreAsyncSave, AStateLargerThanTheStagingMemoryIsPersistedInPiecesInOneCommit) {
  ScratchDir dir;
  StoreOptions o = SmallChunks(2);
  o.staging_bytes = 2 * kChunk;  // two chunks: the 13-chunk state needs seven pieces
  auto store = MustOpen(dir.path(), o);
  ASSERT_TRUE(store);
  std::vector<Owned> ts = State(10);
  const std::vector<Owned> captured = ts;
  SaveHandle h = MustSubmit(*store, ts, 1);
  Scribble(ts);
  const SavedCheckpoint saved = MustWait(h);
  ASSERT_EQ(MustList(*store).size(), 1u);
  EXPECT_EQ(saved.new_bytes, captured[0].bytes.size() + captured[1].bytes.size() + captured[2].bytes.size());
  ExpectRestores(*store, Selector::Id(saved.id), captured);
  auto v = store->Verify();
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->damage.empty());
}

TEST(StoreAsyncSave, TensorsWithKnownChunksAreNeitherReadNorCopied) {
  ScratchDir dir;
  StoreOptions o = SmallChunks();
  o.staging_bytes = kChunk;  // one chunk of staging: only "bias" and the changed "w" need any
  auto store = MustOpen(dir.path(), o);
  ASSERT_TRUE(store);
  std::vector<Owned> ts = State(20, 4);
  auto first = store->Save(Refs(ts), AtStep(1));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ts[1].bytes[3] ^= 0x5A;
  std::vector<TensorRef> refs = Refs(ts);
  refs[0].data = nullptr;  // the store cannot read what is not there
  refs[0].known_chunks = first->chunks[0];
  auto h = store->SaveAsync(refs, AtStep(2));
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  const SavedCheckpoint second = MustWait(*h);
  EXPECT_EQ(second.new_bytes, kChunk);  // the one changed chunk of "w"
  EXPECT_EQ(second.chunks[0], first->chunks[0]);
  ExpectRestores(*store, Selector::Id(second.id), ts);
}

TEST(StoreAsyncSave, ASecondSaveWaitsForTheFirstToCommitWhenOneMayBePending) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  const std::vector<Owned> a = State(30, 16), b = State(40, 16);
  SaveHandle first = MustSubmit(*store, a, 1);
  SaveHandle second = MustSubmit(*store, b, 2);
  EXPECT_TRUE(first.Done()) << "the second SaveAsync returned before the first committed";
  const SavedCheckpoint sb = MustWait(second);
  EXPECT_EQ(sb.parent, MustWait(first).id);
  ExpectRestores(*store, Selector::Id(sb.id), b);
}

TEST(StoreAsyncSave, SavesCommitInSubmissionOrderSynchronousOnesIncluded) {
  ScratchDir dir;
  StoreOptions o = SmallChunks();
  o.max_pending_saves = 3;
  auto store = MustOpen(dir.path(), o);
  ASSERT_TRUE(store);
  std::vector<std::vector<Owned>> states;
  for (int i = 0; i < 4; ++i) states.push_back(State(100 + 10 * i, 4));
  std::vector<SaveHandle> handles;
  for (int i = 0; i < 3; ++i) handles.push_back(MustSubmit(*store, states[i], i + 1));
  auto sync = store->Save(Refs(states[3]), AtStep(4));  // waits for the three before it
  ASSERT_TRUE(sync.ok()) << sync.status().ToString();
  for (const SaveHandle& h : handles) EXPECT_TRUE(h.Done());
  const std::vector<CheckpointInfo> all = MustList(*store);
  ASSERT_EQ(all.size(), 4u);
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].step, static_cast<int64_t>(i + 1));
    if (i) {  // braces: EXPECT_EQ expands to an if/else (-Wdangling-else)
      EXPECT_EQ(all[i].parent, all[i - 1].id);
    }
    ExpectRestores(*store, Selector::Id(all[i].id), states[i]);
  }
}

TEST(StoreAsyncSave, SavesFromSeveralThreadsLargerThanTheStagingMemoryAllCommit) {
  ScratchDir dir;
  StoreOptions o = SmallChunks(2);
  o.staging_bytes = 4 * kChunk;
  o.max_pending_saves = 2;
  auto store = MustOpen(dir.path(), o);
  ASSERT_TRUE(store);
  constexpr int kThreads = 4, kEach = 3;
  std::vector<std::vector<SaveHandle>> handles(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        std::vector<Owned> ts = State(1000 + 10 * (t * kEach + i));
        handles[t].push_back(MustSubmit(*store, ts, t * kEach + i));
        Scribble(ts);
      }
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t)
    for (int i = 0; i < kEach; ++i) {
      const SavedCheckpoint c = MustWait(handles[t][i]);
      ExpectRestores(*store, Selector::Id(c.id), State(1000 + 10 * (t * kEach + i)));
    }
  EXPECT_EQ(MustList(*store).size(), size_t(kThreads * kEach));
}

TEST(StoreAsyncSave, WaitForTimesOutOnlyWhileThePersistRuns) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  SaveHandle h = MustSubmit(*store, State(50), 1);
  while (!h.WaitFor(std::chrono::milliseconds(1))) {
  }
  EXPECT_TRUE(h.Done());
  EXPECT_TRUE(h.WaitFor(std::chrono::nanoseconds(0)));
  SaveHandle none;
  EXPECT_TRUE(none.Done());
  EXPECT_EQ(none.Wait().status().code(), Code::kFailedPrecondition);
}

TEST(StoreAsyncSave, BadInputIsRefusedAtOnceAndQueuesNothing) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  std::vector<Owned> ts = {MakeBytes("x", 10, 1), MakeBytes("x", 10, 2)};
  auto dup = store->SaveAsync(Refs(ts), AtStep(1));
  ASSERT_EQ(dup.status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(Contains(dup.status().message(), "tensor name 'x' appears twice")) << dup.status().ToString();
  // A tag a pending save carries is taken already.
  const std::vector<Owned> big = State(60, 16);
  SaveOptions tagged = AtStep(2);
  tagged.tags = {"best"};
  StoreOptions two = SmallChunks();
  two.max_pending_saves = 2;
  store.reset();
  store = MustOpen(dir.path(), two);
  ASSERT_TRUE(store);
  auto h = store->SaveAsync(Refs(big), tagged);
  ASSERT_TRUE(h.ok());
  auto again = store->SaveAsync(Refs(State(70)), tagged);
  if (!h->Done() || again.ok()) {
    // Either the first was still pending (refused at once) or it had committed (refused as a tag
    // of the store): never two checkpoints with one tag.
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.status().code(), Code::kAlreadyExists) << again.status().ToString();
  }
  MustWait(*h);
  EXPECT_EQ(MustList(*store).size(), 1u);
  ASSERT_TRUE(store->Close().ok());
  auto ro = Store::OpenReadOnly(dir.path());
  ASSERT_TRUE(ro.ok());
  auto refused = (*ro)->SaveAsync(Refs(State(80)), AtStep(3));
  EXPECT_EQ(refused.status().code(), Code::kFailedPrecondition);
}

TEST(StoreAsyncSave, CloseFinishesAPendingPersist) {
  ScratchDir dir;
  const std::vector<Owned> ts = State(90, 16);
  SaveHandle h;
  {
    auto store = MustOpen(dir.path());
    ASSERT_TRUE(store);
    h = MustSubmit(*store, ts, 5);
    ASSERT_TRUE(store->Close().ok());
    EXPECT_TRUE(h.Done());  // the handle outlives its store
  }
  const SavedCheckpoint saved = MustWait(h);
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  ASSERT_EQ(MustList(*store).size(), 1u);
  ExpectRestores(*store, Selector::Id(saved.id), ts);
}

TEST(StoreAsyncSave, AbandonDropsPendingSavesAndSaysWhich) {
  ScratchDir dir;
  StoreOptions o = SmallChunks(1);
  o.max_pending_saves = 3;
  auto store = MustOpen(dir.path(), o);
  ASSERT_TRUE(store);
  std::vector<SaveHandle> handles;
  for (int i = 0; i < 3; ++i) handles.push_back(MustSubmit(*store, State(200 + 10 * i, 32), i + 1));
  auto dropped = store->AbandonPendingSaves();
  ASSERT_TRUE(dropped.ok());
  // The third waits behind two saves of 26 MiB on one thread: it cannot have started committing.
  ASSERT_FALSE(dropped->empty());
  EXPECT_EQ(dropped->back(), 3);
  std::vector<int64_t> aborted;
  for (const SaveHandle& h : handles) {
    ASSERT_TRUE(h.Done());
    auto r = h.Wait();
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Code::kAborted) << r.status().ToString();
      EXPECT_TRUE(Contains(r.status().message(), "abandoned")) << r.status().ToString();
      aborted.push_back(h.step());
    }
  }
  EXPECT_EQ(aborted, *dropped);
  std::vector<int64_t> kept;
  for (const CheckpointInfo& c : MustList(*store)) kept.push_back(c.step);
  for (int64_t s : *dropped) EXPECT_EQ(std::count(kept.begin(), kept.end(), s), 0) << s;
  EXPECT_EQ(kept.size() + dropped->size(), 3u);
  ASSERT_TRUE(store->Close().ok());  // nothing left to report
  // What the abandoned saves wrote is gone: no pack file outlives them unnamed.
  store = MustOpen(dir.path(), o);
  auto gc = store->CollectGarbage();
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->packs_deleted, 0u);
  auto v = store->Verify();
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->damage.empty());
}

TEST(StoreAsyncSave, RetentionAndBackgroundCollectionRunBetweenAsynchronousSaves) {
  ScratchDir dir;
  StoreOptions o = SmallChunks(2);
  o.staging_bytes = 8 * kChunk;
  auto store = MustOpen(dir.path(), o);
  ASSERT_TRUE(store);
  RetentionPolicy p;
  p.max_to_keep = 2;
  ASSERT_TRUE(store->SetRetention(p).ok());
  std::vector<Owned> ts = State(300, 4);
  std::vector<std::vector<Owned>> saved;
  std::vector<SaveHandle> handles;
  for (int step = 1; step <= 12; ++step) {
    handles.push_back(MustSubmit(*store, ts, step));
    saved.push_back(ts);
    ts[0].bytes[(step * 7919) % ts[0].bytes.size()] ^= 1;  // one chunk of emb changes per save
    ts[1] = MakeBytes("w", ts[1].bytes.size(), 400 + step);
  }
  for (const SaveHandle& h : handles) MustWait(h);
  ASSERT_TRUE(store->WaitForBackgroundWork().ok());
  const std::vector<CheckpointInfo> all = MustList(*store);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].step, 11);
  EXPECT_EQ(all[1].step, 12);
  ExpectRestores(*store, Selector::Id(all[0].id), saved[10]);
  ExpectRestores(*store, Selector::Id(all[1].id), saved[11]);
  auto v = store->Verify();
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->damage.empty());
  // The background collections already dropped every rotated checkpoint's chunks.
  auto gc = store->CollectGarbage();
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->chunks_deleted, 0u);
}

// A real full disk: a tmpfs just large enough for the store and a first checkpoint.
class FullDisk : public ::testing::Test {
 protected:
  void SetUp() override {
    mount_ = dir_.Join("tiny");
    std::filesystem::create_directory(mount_);
    if (::mount("tmpfs", mount_.c_str(), "tmpfs", 0, "size=12m") != 0)
      GTEST_SKIP() << "cannot mount a 12 MiB tmpfs here (needs root): " << std::strerror(errno);
    mounted_ = true;
  }
  void TearDown() override {
    if (mounted_) ::umount2(mount_.c_str(), MNT_DETACH);
  }
  ScratchDir dir_;
  std::string mount_;
  bool mounted_ = false;
};

TEST_F(FullDisk, APersistThatFillsTheDiskFailsAtWaitAtTheNextSaveAndLeavesTheStoreIntact) {
  const std::string path = mount_ + "/store";
  StoreOptions o = SmallChunks(2);
  auto store = MustOpen(path, o);
  ASSERT_TRUE(store);
  const std::vector<Owned> small = State(500);
  const SavedCheckpoint first = MustWait(MustSubmit(*store, small, 1));
  const std::vector<Owned> huge = {MakeBytes("huge", 16ull << 20, 501)};  // more than the disk holds
  SaveHandle h = MustSubmit(*store, huge, 2);
  auto r = h.Wait();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kIOError) << r.status().ToString();
  EXPECT_TRUE(Contains(r.status().message(), "saving step 2")) << r.status().ToString();
  // The next save reports it instead of saving, once; a retry proceeds.
  auto next = store->Save(Refs(small), AtStep(3));
  ASSERT_EQ(next.status().code(), Code::kIOError) << next.status().ToString();
  EXPECT_TRUE(Contains(next.status().message(), "an earlier asynchronous save failed, so nothing was saved"))
      << next.status().ToString();
  auto retry = store->Save(Refs(small), AtStep(3));
  ASSERT_TRUE(retry.ok()) << retry.status().ToString();  // the failed pack's space came back
  const std::vector<CheckpointInfo> all = MustList(*store);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, first.id);
  ExpectRestores(*store, Selector::Id(first.id), small);
  // A failure nobody saved after is reported by Close.
  SaveHandle again = MustSubmit(*store, huge, 4);
  EXPECT_FALSE(again.Wait().ok());
  Status closed = store->Close();
  EXPECT_EQ(closed.code(), Code::kIOError) << closed.ToString();
  EXPECT_TRUE(Contains(closed.message(), "an asynchronous save failed")) << closed.ToString();
  store = MustOpen(path, o);
  ASSERT_TRUE(store);
  EXPECT_EQ(MustList(*store).size(), 2u);
  auto v = store->Verify();
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->damage.empty());
}

}  // namespace
}  // namespace ckptdb

// Specifies ProgressFn (api/ckptdb/options.h) as every operation that takes one reports it: save,
// asynchronous save, import, restore, restore_into, verify, collection and safetensors export.
// Each sentence of the contract is a test: done never decreases, the first call is (0, total),
// the last is (total, total), total is the operation's bytes, calls never overlap, at most one
// about every 100 ms, a throwing callback aborts the operation, and an unset one is never called.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "ckptdb/ckptdb.h"
#include "ckptdb/safetensors.h"
#include "store/progress_reporter.h"
#include "tests/support/store_fixtures.h"

namespace ckptdb {
namespace {

using namespace store_tests;
using Clock = std::chrono::steady_clock;

// Records every call, checks that no two overlap, and can sleep in its first call (so that the
// operation outlives the ~100 ms throttle and intermediate reports happen) or throw.
struct Recorder {
  std::mutex mu;
  std::vector<Progress> calls;
  std::vector<std::thread::id> threads;
  std::atomic<int> inside{0};
  std::atomic<bool> overlapped{false};
  std::chrono::milliseconds first_sleep{0};
  bool throw_at_start = false;
  bool throw_at_end = false;

  ProgressFn Fn() {
    return [this](const Progress& p) {
      if (inside.fetch_add(1) != 0) overlapped = true;
      bool first;
      {
        std::lock_guard<std::mutex> l(mu);
        first = calls.empty();
        calls.push_back(p);
        threads.push_back(std::this_thread::get_id());
      }
      if (first && first_sleep.count() > 0) std::this_thread::sleep_for(first_sleep);
      inside.fetch_sub(1);
      if (first && throw_at_start) throw std::runtime_error("stop here");
      if (throw_at_end && p.done_bytes == p.total_bytes) throw std::runtime_error("too late to stop");
    };
  }

  // The contract every successful operation's calls must meet, with `total` its bytes.
  void ExpectComplete(uint64_t total, Clock::duration took) {
    SCOPED_TRACE("total " + std::to_string(total));
    ASSERT_FALSE(calls.empty());
    EXPECT_FALSE(overlapped) << "two calls ran at once";
    for (const Progress& p : calls) {
      EXPECT_EQ(p.total_bytes, total);
      EXPECT_LE(p.done_bytes, p.total_bytes);
    }
    for (size_t i = 1; i < calls.size(); ++i)
      EXPECT_LE(calls[i - 1].done_bytes, calls[i].done_bytes) << "done decreased at call " << i;
    if (total > 0) {
      EXPECT_EQ(calls.front().done_bytes, 0u) << "the first call is the start";
    }
    EXPECT_EQ(calls.back().done_bytes, total) << "the last call is the end";
    size_t ends = 0;
    for (const Progress& p : calls) ends += p.done_bytes == total;
    EXPECT_EQ(ends, 1u) << "exactly one call reports done == total";
    // Start and end, plus at most one per interval elapsed (and one for the rounding).
    const auto intervals = took / ProgressReporter::kInterval;
    EXPECT_LE(calls.size(), size_t(3 + intervals)) << "throttle: " << calls.size() << " calls";
  }
};

class ProgressTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = MustOpen(dir_.Join("store")); }

  testing::ScratchDir dir_;
  std::unique_ptr<Store> store_;
  // 40 chunks and a bit, a tied pair, an empty and an inline tensor: every kind of chunk counts.
  std::vector<Owned> state_ = {MakeBytes("big", 40 * kChunk + 5, 1), MakeBytes("tied", 3 * kChunk, 2),
                               MakeBytes("tied_too", 3 * kChunk, 2), MakeBytes("empty", 0, 3),
                               MakeBytes("small", 100, 4)};
  uint64_t Bytes() const {
    uint64_t n = 0;
    for (const Owned& t : state_) n += t.bytes.size();
    return n;
  }
};

TEST_F(ProgressTest, SaveReportsTheTensorsBytesFromZeroToTotal) {
  Recorder r;
  r.first_sleep = std::chrono::milliseconds(150);  // outlives the throttle: an intermediate call follows
  SaveOptions o;
  o.progress = r.Fn();
  const auto start = Clock::now();
  auto saved = store_->Save(Refs(state_), o);
  ASSERT_TRUE(saved.ok()) << saved.status().ToString();
  r.ExpectComplete(Bytes(), Clock::now() - start);
  EXPECT_EQ(saved->logical_bytes, Bytes());
  EXPECT_GE(r.calls.size(), 3u) << "start, at least one report after the slow start, end";
}

TEST_F(ProgressTest, SaveCountsChunksItFindsStoredOrIsGivenTheDigestsOf) {
  auto first = store_->Save(Refs(state_), {});
  ASSERT_TRUE(first.ok());
  // Same bytes again, and one tensor by known_chunks: nothing is written, all of it still counts.
  std::vector<TensorRef> refs = Refs(state_);
  refs[0].known_chunks = first->chunks[0];
  Recorder r;
  SaveOptions o;
  o.progress = r.Fn();
  const auto start = Clock::now();
  auto second = store_->Save(refs, o);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->new_bytes, 0u);
  r.ExpectComplete(Bytes(), Clock::now() - start);
}

TEST_F(ProgressTest, AsyncSaveReportsOnThePersistThreadAndEndsBeforeWaitReturns) {
  Recorder r;
  SaveOptions o;
  o.progress = r.Fn();
  const auto start = Clock::now();
  auto handle = store_->SaveAsync(Refs(state_), o);
  ASSERT_TRUE(handle.ok()) << handle.status().ToString();
  auto saved = handle->Wait();
  ASSERT_TRUE(saved.ok()) << saved.status().ToString();
  std::lock_guard<std::mutex> l(r.mu);
  r.ExpectComplete(Bytes(), Clock::now() - start);
  for (const auto& id : r.threads) EXPECT_NE(id, std::this_thread::get_id()) << "a call on the caller's thread";
}

TEST_F(ProgressTest, ImportReportsThroughSaveOptions) {
  const std::string file = dir_.Join("in.safetensors");
  MustSave(*store_, state_);
  ASSERT_TRUE(ExportSafetensors(*store_, Selector::Latest(), file).ok());
  Recorder r;
  SaveOptions o;
  o.progress = r.Fn();
  const auto start = Clock::now();
  auto imported = ImportSafetensors(*store_, std::vector<std::string>{file}, o);
  ASSERT_TRUE(imported.ok()) << imported.status().ToString();
  r.ExpectComplete(Bytes(), Clock::now() - start);
}

TEST_F(ProgressTest, RestoreReportsTheCheckpointsLogicalBytes) {
  const CheckpointInfo info = MustSave(*store_, state_);
  Recorder r;
  r.first_sleep = std::chrono::milliseconds(150);
  ReadOptions o;
  o.progress = r.Fn();
  const auto start = Clock::now();
  auto back = store_->Restore(Selector::Latest(), o);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ExpectRestored(*back, state_);
  r.ExpectComplete(info.logical_bytes, Clock::now() - start);
  EXPECT_GE(r.calls.size(), 3u);
}

TEST_F(ProgressTest, RestoreIntoReportsTheNamedTensorsBytesOnly) {
  MustSave(*store_, state_);
  std::vector<uint8_t> into(state_[1].bytes.size());
  const std::vector<TensorBuffer> buffers = {{"tied", DType::kU8, state_[1].shape, into.data(), into.size()}};
  Recorder r;
  ReadOptions o;
  o.progress = r.Fn();
  const auto start = Clock::now();
  ASSERT_TRUE(store_->RestoreInto(Selector::Latest(), buffers, o).ok());
  EXPECT_EQ(into, state_[1].bytes);
  r.ExpectComplete(state_[1].bytes.size(), Clock::now() - start);
}

TEST_F(ProgressTest, VerifyReportsTheBytesItChecks) {
  MustSave(*store_, state_);
  MustSave(*store_, {MakeBytes("other", 7 * kChunk, 9)});
  Recorder r;
  VerifyOptions o;
  o.progress = r.Fn();
  const auto start = Clock::now();
  auto report = store_->Verify(o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_TRUE(report->ok());
  // Distinct chunks: the tied pair is stored (and checked) once.
  EXPECT_EQ(report->bytes_checked, Bytes() - state_[2].bytes.size() + 7 * kChunk);
  r.ExpectComplete(report->bytes_checked, Clock::now() - start);
}

TEST_F(ProgressTest, CollectionReportsTheLiveBytesItCopies) {
  // One pack holds "keep" and "drop"; once only "keep" is referenced, half the pack is garbage and
  // its live half is copied out.
  const Owned keep = MakeBytes("keep", 8 * kChunk, 11), drop = MakeBytes("drop", 8 * kChunk, 12);
  const CheckpointInfo both = MustSave(*store_, {keep, drop});
  MustSave(*store_, {keep});
  ASSERT_TRUE(store_->Remove(Selector::Id(both.id)).ok());
  Recorder r;
  GcOptions o;
  o.progress = r.Fn();
  const auto start = Clock::now();
  auto report = store_->CollectGarbage(o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->packs_rewritten, 1u);
  EXPECT_EQ(report->bytes_copied, 8 * kChunk);
  r.ExpectComplete(8 * kChunk, Clock::now() - start);
  ExpectRestores(*store_, Selector::Latest(), {keep});
}

TEST_F(ProgressTest, CollectionThatCopiesNothingReportsZeroOfZeroOnce) {
  MustSave(*store_, state_);
  Recorder r;
  GcOptions o;
  o.progress = r.Fn();
  ASSERT_TRUE(store_->CollectGarbage(o).ok());
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0].done_bytes, 0u);
  EXPECT_EQ(r.calls[0].total_bytes, 0u);
}

TEST_F(ProgressTest, ExportReportsTheCheckpointsLogicalBytes) {
  const CheckpointInfo info = MustSave(*store_, state_);
  for (bool to_stream : {false, true}) {
    Recorder r;
    ExportOptions o;
    o.window_bytes = 4 * kChunk;  // several windows
    o.progress = r.Fn();
    std::ostringstream out;
    const auto start = Clock::now();
    auto exported = to_stream ? ExportSafetensors(*store_, Selector::Latest(), out, o)
                              : ExportSafetensors(*store_, Selector::Latest(), dir_.Join("x.safetensors"), o);
    ASSERT_TRUE(exported.ok()) << exported.status().ToString();
    r.ExpectComplete(info.logical_bytes, Clock::now() - start);
  }
}

TEST_F(ProgressTest, EveryOperationRunsWithoutACallback) {
  // Calling an empty ProgressFn would throw bad_function_call, which fails the operation.
  MustSave(*store_, state_);
  ASSERT_TRUE(store_->SaveAsync(Refs(state_), {}).ok());
  ExpectRestores(*store_, Selector::Latest(), state_);
  ExpectRestoresInto(*store_, Selector::Latest(), state_);
  auto v = store_->Verify();
  ASSERT_TRUE(v.ok() && v->ok());
  ASSERT_TRUE(store_->CollectGarbage().ok());
  ASSERT_TRUE(store_->CollectGarbage(GcOptions{{}, true}).ok());
  std::ostringstream out;
  ASSERT_TRUE(ExportSafetensors(*store_, Selector::Latest(), out).ok());
}

TEST_F(ProgressTest, ACallbackThatThrowsAbortsASaveAndCommitsNothing) {
  MustSave(*store_, {MakeBytes("before", kChunk, 20)});
  const uint64_t packs_before = testing::DirectoryBytes(dir_.Join("store/packs"));
  for (bool async : {false, true}) {
    Recorder r;
    r.throw_at_start = true;
    SaveOptions o;
    o.progress = r.Fn();
    Result<SavedCheckpoint> saved = Status::OK();
    if (async) {
      auto h = store_->SaveAsync(Refs(state_), o);
      ASSERT_TRUE(h.ok());
      saved = h->Wait();
    } else {
      saved = store_->Save(Refs(state_), o);
    }
    ASSERT_EQ(saved.status().code(), Code::kAborted) << saved.status().ToString();
    EXPECT_NE(saved.status().message().find("the progress callback threw: stop here"), std::string::npos)
        << saved.status().ToString();
    EXPECT_EQ(r.calls.size(), 1u) << "not called again once it threw";
    EXPECT_EQ(MustList(*store_).size(), 1u);
    EXPECT_EQ(testing::DirectoryBytes(dir_.Join("store/packs")), packs_before) << "the save's pack is deleted";
    if (async) (void)store_->WaitForBackgroundWork();
  }
  // The async failure is reported once more by the next save (store.h): take it, then save.
  (void)store_->Save(Refs(state_), {});
  EXPECT_TRUE(store_->Save(Refs(state_), {}).ok());
}

TEST_F(ProgressTest, ACallbackThatThrowsAbortsReadsVerifyAndCollection) {
  const Owned keep = MakeBytes("keep", 8 * kChunk, 11), drop = MakeBytes("drop", 8 * kChunk, 12);
  const CheckpointInfo both = MustSave(*store_, {keep, drop});
  MustSave(*store_, {keep});
  ASSERT_TRUE(store_->Remove(Selector::Id(both.id)).ok());
  auto thrower = [](Recorder& r) {
    r.throw_at_start = true;
    return r.Fn();
  };
  auto expect_aborted = [](const Status& s) {
    EXPECT_EQ(s.code(), Code::kAborted) << s.ToString();
    EXPECT_NE(s.message().find("the progress callback threw: stop here"), std::string::npos) << s.ToString();
  };
  Recorder r1, r2, r3, r4, r5;
  ReadOptions ro;
  ro.progress = thrower(r1);
  expect_aborted(store_->Restore(Selector::Latest(), ro).status());
  std::vector<uint8_t> into(keep.bytes.size());
  ro.progress = thrower(r2);
  const std::vector<TensorBuffer> buffers = {{"keep", DType::kU8, keep.shape, into.data(), into.size()}};
  expect_aborted(store_->RestoreInto(Selector::Latest(), buffers, ro));
  VerifyOptions vo;
  vo.progress = thrower(r3);
  expect_aborted(store_->Verify(vo).status());
  ExportOptions eo;
  eo.progress = thrower(r4);
  std::ostringstream out;
  expect_aborted(ExportSafetensors(*store_, Selector::Latest(), out, eo).status());
  const uint64_t packs_before = testing::DirectoryBytes(dir_.Join("store/packs"));
  GcOptions go;
  go.progress = thrower(r5);
  expect_aborted(store_->CollectGarbage(go).status());
  EXPECT_EQ(testing::DirectoryBytes(dir_.Join("store/packs")), packs_before) << "the collection moved nothing";
  for (Recorder* r : {&r1, &r2, &r3, &r4, &r5}) EXPECT_EQ(r->calls.size(), 1u);
  // Nothing was lost: a collection without the callback does the job.
  auto gc = store_->CollectGarbage();
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->packs_rewritten, 1u);
  ExpectRestores(*store_, Selector::Latest(), {keep});
}

TEST_F(ProgressTest, AThrowFromTheFinalCallChangesNoResult) {
  Recorder r;
  r.throw_at_end = true;
  SaveOptions o;
  o.progress = r.Fn();
  auto saved = store_->Save(Refs(state_), o);
  ASSERT_TRUE(saved.ok()) << saved.status().ToString();
  ExpectRestores(*store_, Selector::Id(saved->id), state_);
  Recorder r2;
  r2.throw_at_end = true;
  ReadOptions ro;
  ro.progress = r2.Fn();
  auto back = store_->Restore(Selector::Latest(), ro);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ExpectRestored(*back, state_);
}

TEST_F(ProgressTest, ASlowCallbackDoesNotMakeWorkersWait) {
  // Each call sleeps 150 ms; a worker that finds a call running skips its report, so the save
  // takes about as many sleeps as calls were made, not one per chunk (43 chunks here).
  std::atomic<int> calls{0};
  SaveOptions o;
  o.progress = [&](const Progress&) {
    ++calls;
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
  };
  const auto start = Clock::now();
  ASSERT_TRUE(store_->Save(Refs(state_), o).ok());
  const auto took = Clock::now() - start;
  EXPECT_LE(calls.load(), 3 + int(took / ProgressReporter::kInterval));
  EXPECT_LT(calls.load(), 20);
}

}  // namespace
}  // namespace ckptdb

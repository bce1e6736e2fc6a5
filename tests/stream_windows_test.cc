// StreamCheckpoint with the caller's windows (store/stream_read.h), the read the GPU path's restore
// overlaps its copies on: pieces go into the windows in turn, a window is handed back through
// `reuse` before it is read into again, and the bytes are the checkpoint's, in manifest order.
#include "store/stream_read.h"

#include <gtest/gtest.h>

#include "tests/support/store_fixtures.h"

namespace ckptdb {
namespace {

using namespace store_tests;

TEST(StreamWindows, PiecesRotateThroughTheWindowsAndEachIsReusedOnlyAfterItsTurn) {
  testing::ScratchDir dir;
  auto store = MustOpen(dir.Join("s"));
  std::vector<Owned> state = {MakeBytes("a", 5 * kChunk + 17, 1), MakeBytes("b", 3 * kChunk, 2),
                              MakeBytes("c", 10, 3)};
  MustSave(*store, state, AtStep(1));
  std::vector<Buffer> own;
  StreamWindows windows;
  windows.bytes = 2 * kChunk;
  for (int i = 0; i < 3; ++i) {
    own.push_back(Buffer::Allocate(windows.bytes));
    windows.buffers.push_back(own.back().data());
  }
  std::vector<size_t> reused;
  std::vector<const uint8_t*> pieces_at;
  windows.reuse = [&](size_t w) {
    reused.push_back(w);
    return Status::OK();
  };
  std::vector<uint8_t> got;
  auto begin = [](const CheckpointManifest&) { return Status::OK(); };
  auto write = [&](std::span<const uint8_t> piece) {
    EXPECT_LE(piece.size(), windows.bytes);
    pieces_at.push_back(piece.data());
    got.insert(got.end(), piece.begin(), piece.end());
    return Status::OK();
  };
  ASSERT_TRUE(StreamCheckpoint(*store, Selector::Latest(), windows, {}, begin, write).ok());
  std::vector<uint8_t> want;
  for (const Owned& t : state) want.insert(want.end(), t.bytes.begin(), t.bytes.end());
  EXPECT_EQ(got, want);
  ASSERT_GE(pieces_at.size(), 5u);
  for (size_t p = 0; p < pieces_at.size(); ++p) EXPECT_EQ(pieces_at[p], windows.buffers[p % 3]) << "piece " << p;
  std::vector<size_t> want_reused;
  for (size_t p = 3; p < pieces_at.size(); ++p) want_reused.push_back(p % 3);
  EXPECT_EQ(reused, want_reused);
}

TEST(StreamWindows, AReuseErrorEndsTheStreamAndSmallWindowsAreRefused) {
  testing::ScratchDir dir;
  auto store = MustOpen(dir.Join("s"));
  MustSave(*store, {MakeBytes("a", 8 * kChunk, 4)}, AtStep(1));
  Buffer one = Buffer::Allocate(kChunk), two = Buffer::Allocate(kChunk);
  StreamWindows windows{{one.data(), two.data()}, kChunk, [](size_t) { return Status::Internal("copy failed"); }};
  int writes = 0;
  auto begin = [](const CheckpointManifest&) { return Status::OK(); };
  auto write = [&](std::span<const uint8_t>) { return ++writes, Status::OK(); };
  Status s = StreamCheckpoint(*store, Selector::Latest(), windows, {}, begin, write);
  EXPECT_EQ(s.code(), Code::kInternal);
  EXPECT_EQ(writes, 2);  // the third piece needed the first window back
  windows.bytes = kChunk - 1;
  EXPECT_EQ(StreamCheckpoint(*store, Selector::Latest(), windows, {}, begin, write).code(), Code::kInvalidArgument);
  windows.buffers.clear();
  windows.bytes = kChunk;
  EXPECT_EQ(StreamCheckpoint(*store, Selector::Latest(), windows, {}, begin, write).code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace ckptdb

// Specifies exact Store round trips: every dtype and shape, chunk boundaries, names, threads, I/O modes.
#include "ckptdb/ckptdb.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "tests/support/store_fixtures.h"
#include "tests/support/store_layout.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

using namespace store_tests;
using testing::ScratchDir;

constexpr DType kAllDTypes[] = {DType::kF64,  DType::kF32,  DType::kF16, DType::kBF16, DType::kF8_E4M3,
                                DType::kF8_E5M2, DType::kI64, DType::kI32, DType::kI16,  DType::kI8,
                                DType::kU64,  DType::kU32,  DType::kU16, DType::kU8,   DType::kBool};

TEST(StoreRoundTrip, EveryDTypeRestoresByteForByteWithDTypeAndShape) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  std::vector<Owned> ts;
  uint64_t seed = 1;
  for (DType d : kAllDTypes) {
    ts.push_back(MakeTensor("t." + std::string(DTypeName(d)), d, {3, 5, 7}, seed++));
    ts.push_back(MakeTensor("scalar." + std::string(DTypeName(d)), d, {}, seed++));
  }
  ASSERT_EQ(ts.size(), 30u);
  CheckpointInfo info = MustSave(*store, ts);
  EXPECT_EQ(info.tensor_count, 30u);
  ExpectRestores(*store, Selector::Latest(), ts);
  ExpectRestoresInto(*store, Selector::Latest(), ts);

  auto m = store->Describe(Selector::Id(info.id));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->tensors.size(), ts.size());
  for (size_t i = 0; i < ts.size(); ++i) {
    EXPECT_EQ(m->tensors[i].name, ts[i].name);
    EXPECT_EQ(m->tensors[i].dtype, ts[i].dtype);
    EXPECT_EQ(m->tensors[i].shape, ts[i].shape);
    EXPECT_EQ(m->tensors[i].size_bytes, ts[i].bytes.size());
  }
}

TEST(StoreRoundTrip, ZeroDimensionalTensorsKeepAnEmptyShape) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  std::vector<Owned> ts = {MakeTensor("lr", DType::kF32, {}, 1), MakeTensor("step", DType::kI64, {}, 2),
                           MakeTensor("flag", DType::kBool, {}, 3)};
  MustSave(*store, ts);
  auto r = store->Restore(Selector::Latest());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectRestored(*r, ts);
  for (const auto& t : *r) EXPECT_TRUE(t.shape.empty()) << t.name;
  EXPECT_EQ((*r)[0].bytes.size(), 4u);
  EXPECT_EQ((*r)[1].bytes.size(), 8u);
  ExpectRestoresInto(*store, Selector::Latest(), ts);
}

TEST(StoreRoundTrip, ZeroElementTensorsRoundTripWithNoChunks) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  // data may be null when size_bytes == 0.
  std::vector<Owned> ts = {MakeTensor("empty", DType::kF32, {0}, 1), MakeTensor("empty2d", DType::kBF16, {3, 0}, 2),
                           MakeTensor("empty_first", DType::kI64, {0, 7}, 3), MakeTensor("x", DType::kU8, {5}, 4)};
  CheckpointInfo info = MustSave(*store, ts);
  EXPECT_EQ(info.logical_bytes, 5u);
  EXPECT_EQ(info.new_bytes, 5u);
  auto m = store->Describe(Selector::Latest());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(m->tensors[i].size_bytes, 0u);
    EXPECT_TRUE(m->tensors[i].chunks.empty()) << m->tensors[i].name;
  }
  ExpectRestores(*store, Selector::Latest(), ts);
  ExpectRestoresInto(*store, Selector::Latest(), ts);
}

TEST(StoreRoundTrip, ChunkBoundariesSplitTensorsAsFormatMdSays) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  std::vector<Owned> ts = {
      MakeBytes("one_byte", 1, 1),
      MakeBytes("one_below", kChunk - 1, 2),
      MakeBytes("exactly_one_chunk", kChunk, 3),
      MakeBytes("one_byte_over", kChunk + 1, 4),
      MakeTensor("many_chunks", DType::kF32, {10 * int64_t(kChunk) / 4 + 31}, 5),  // 10 chunks + 124 bytes
  };
  CheckpointInfo info = MustSave(*store, ts);
  uint64_t total = 0;
  for (const auto& t : ts) total += t.bytes.size();
  EXPECT_EQ(info.logical_bytes, total);
  EXPECT_EQ(info.new_bytes, total) << "random bytes share no chunks";

  auto m = store->Describe(Selector::Id(info.id));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->chunk_size, kChunk);
  const size_t want_chunks[] = {1, 1, 1, 2, 11};
  for (size_t i = 0; i < ts.size(); ++i) {
    SCOPED_TRACE(ts[i].name);
    ASSERT_EQ(m->tensors[i].chunks.size(), want_chunks[i]);
    // Chunk k is bytes [k * chunk_size, min((k + 1) * chunk_size, n)), addressed by its BLAKE3.
    for (size_t k = 0; k < want_chunks[i]; ++k) {
      const uint64_t off = k * kChunk;
      const uint64_t len = std::min<uint64_t>(kChunk, ts[i].bytes.size() - off);
      EXPECT_EQ(m->tensors[i].chunks[k], HashBytes(ts[i].bytes.data() + off, len)) << "chunk " << k;
    }
  }
  ExpectRestores(*store, Selector::Latest(), ts);
  ExpectRestoresInto(*store, Selector::Latest(), ts);
}

TEST(StoreRoundTrip, NonAsciiUtf8NamesRoundTrip) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  std::vector<Owned> ts = {MakeBytes("层.0/权重", 100, 1), MakeBytes("ñandú.bias", 10, 2),
                           MakeBytes("emoji 🚀 tensor", 7, 3), MakeBytes("Ωμέγα", 1, 4),
                           MakeBytes("with space/and/slashes", 3, 5)};
  MustSave(*store, ts);
  ExpectRestores(*store, Selector::Latest(), ts);
  ExpectRestoresInto(*store, Selector::Latest(), ts);
  auto m = store->Describe(Selector::Latest());
  ASSERT_TRUE(m.ok());
  for (size_t i = 0; i < ts.size(); ++i) EXPECT_EQ(m->tensors[i].name, ts[i].name);
}

TEST(StoreRoundTrip, RoundTripsWithEveryThreadCountAndWithoutDirectIo) {
  for (int threads : {1, 2, 8}) {
    for (bool direct : {true, false}) {
      SCOPED_TRACE("threads=" + std::to_string(threads) + " direct=" + std::to_string(direct));
      ScratchDir dir;
      StoreOptions o = SmallChunks(threads);
      o.use_direct_io = direct;
      o.use_direct_reads = direct;
      auto store = MustOpen(dir.path(), o);
      ASSERT_TRUE(store);
      std::vector<Owned> ts = {MakeBytes("a", 5 * kChunk + 17, threads), MakeTensor("b", DType::kF16, {33, 65}, 7)};
      MustSave(*store, ts);
      ExpectRestores(*store, Selector::Latest(), ts);
      ExpectRestoresInto(*store, Selector::Latest(), ts);
    }
  }
}

TEST(StoreRoundTrip, LargeTensorsRoundTripFromAndIntoAlignedAndUnalignedMemory) {
  // With O_DIRECT, chunks move straight between page-aligned memory and pack files, and through a
  // bounce buffer otherwise; tails that are (36864) and are not (40000) multiples of 4 KiB.
  for (bool direct : {true, false}) {
    for (uint64_t tail : {uint64_t{36864}, uint64_t{40000}}) {
      SCOPED_TRACE("direct=" + std::to_string(direct) + " tail=" + std::to_string(tail));
      ScratchDir dir;
      StoreOptions o = SmallChunks(4);
      o.use_direct_io = direct;
      o.use_direct_reads = direct;
      auto store = MustOpen(dir.path(), o);
      ASSERT_TRUE(store);
      const uint64_t n = 16 * kChunk + tail;  // over 1 MiB: Restore's Buffer is page-aligned
      Owned want = MakeBytes("w", n, 7 + tail);
      Owned want2 = MakeBytes("v", n, 8 + tail);
      Buffer aligned = Buffer::Allocate(n);  // the source of "w": page-aligned
      std::memcpy(aligned.data(), want.bytes.data(), n);
      std::vector<uint8_t> unaligned(n + 1);  // the source of "v": one byte off
      std::memcpy(unaligned.data() + 1, want2.bytes.data(), n);
      const std::vector<TensorRef> refs = {{"w", DType::kU8, {int64_t(n)}, aligned.data(), n},
                                           {"v", DType::kU8, {int64_t(n)}, unaligned.data() + 1, n}};
      auto saved = store->Save(refs, {});
      ASSERT_TRUE(saved.ok()) << saved.status().ToString();
      EXPECT_EQ(saved->new_bytes, 2 * n);
      EXPECT_EQ(PackFiles(dir.path()), (Packs{{PackName(1), 2 * (16 * kChunk + (tail + 4095) / 4096 * 4096)}}));
      for (bool verify : {true, false}) {
        ReadOptions ro;
        ro.verify_chunks = verify;
        auto r = store->Restore(Selector::Latest(), ro);
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        ExpectRestored(*r, {want, want2});
        // Into a page-aligned and a one-byte-off destination.
        Buffer into_aligned = Buffer::Allocate(n);
        std::vector<uint8_t> into_unaligned(n + 1, 0xEE);
        std::memset(into_aligned.data(), 0xEE, n);
        const std::vector<TensorBuffer> bufs = {{"w", DType::kU8, {int64_t(n)}, into_aligned.data(), n},
                                                {"v", DType::kU8, {int64_t(n)}, into_unaligned.data() + 1, n}};
        Status s = store->RestoreInto(Selector::Latest(), bufs, ro);
        ASSERT_TRUE(s.ok()) << s.ToString();
        ExpectSameBytes(into_aligned.data(), n, want.bytes, "w");
        ExpectSameBytes(into_unaligned.data() + 1, n, want2.bytes, "v");
        EXPECT_EQ(into_unaligned[0], 0xEE) << "wrote before the destination";
      }
      auto report = store->Verify();
      ASSERT_TRUE(report.ok()) << report.status().ToString();
      EXPECT_TRUE(report->ok());
      EXPECT_EQ(report->bytes_checked, 2 * n);
    }
  }
}

TEST(StoreRoundTrip, RestoreWithoutChunkVerificationReturnsTheSameBytes) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  std::vector<Owned> ts = {MakeBytes("a", 3 * kChunk + 9, 1), MakeTensor("b", DType::kI16, {7, 9}, 2)};
  MustSave(*store, ts);
  ReadOptions fast;
  fast.verify_chunks = false;
  auto r = store->Restore(Selector::Latest(), fast);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectRestored(*r, ts);
}

TEST(StoreRoundTrip, RestoreIntoReadsOnlyTheNamedTensorsInAnyOrder) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  std::vector<Owned> ts = {MakeBytes("a", 3 * kChunk, 1), MakeTensor("b", DType::kF32, {100}, 2),
                           MakeBytes("c", 10, 3)};
  MustSave(*store, ts);
  std::vector<uint8_t> c(10, 0xEE), a(3 * kChunk, 0xEE);
  std::vector<TensorBuffer> buffers = {{"c", DType::kU8, {10}, c.data(), c.size()},
                                       {"a", DType::kU8, {int64_t(3 * kChunk)}, a.data(), a.size()}};
  Status s = store->RestoreInto(Selector::Latest(), buffers);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(c, ts[2].bytes);
  EXPECT_EQ(a, ts[0].bytes);
  // No buffers at all: nothing to read, nothing fails.
  EXPECT_TRUE(store->RestoreInto(Selector::Latest(), {}).ok());
}

TEST(StoreRoundTrip, AnEmptyCheckpointIsAllowed) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  CheckpointInfo info = MustSave(*store, {}, AtStep(3));
  EXPECT_EQ(info.tensor_count, 0u);
  EXPECT_EQ(info.logical_bytes, 0u);
  auto r = store->Restore(Selector::Step(3));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->empty());
}

}  // namespace
}  // namespace ckptdb

// Specifies Store::ReadTensorRange: the bytes of a range, read from exactly the chunks that cover it.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "ckptdb/ckptdb.h"
#include "tests/support/store_fixtures.h"
#include "tests/support/store_layout.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

using namespace store_tests;
using testing::ScratchDir;

// "w" is three whole chunks and a 40000-byte tail (over the inline limit, so every chunk of it
// lives in a pack file), saved between two other tensors.
constexpr uint64_t kTail = 40000;
constexpr uint64_t kSize = 3 * kChunk + kTail;

class RangeRead : public ::testing::Test {
 protected:
  void SetUp() override {
    ts_ = {MakeBytes("before", kChunk, 1), MakeBytes("w", kSize, 2), MakeBytes("after", 2 * kChunk, 3)};
    store_ = MustOpen(dir_.path());
    ASSERT_TRUE(store_);
    id_ = MustSave(*store_, ts_, AtStep(7)).id;
  }

  // Reads `length` bytes at `offset` of "w", expects them to equal the saved ones and returns the report.
  RangeReadReport ExpectRead(uint64_t offset, uint64_t length) {
    std::vector<uint8_t> got(length);
    auto r = store_->ReadTensorRange(Selector::Id(id_), "w", offset, got);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(std::memcmp(got.data(), w().bytes.data() + offset, length) == 0) << "at " << offset;
    return r.ok() ? *r : RangeReadReport{};
  }

  // Flips one byte in the middle of chunk `index` of "w", in the pack file that holds it.
  void CorruptChunkOfW(uint64_t index) {
    store_.reset();
    const uint8_t* chunk = w().bytes.data() + index * kChunk;
    const std::string needle(chunk + 1000, chunk + 1064);
    int hits = 0;
    for (const auto& file : FilesEndingWith(PacksDir(dir_.path()), ".pack")) {
      std::string bytes = testing::ReadFileOrDie(file);
      for (size_t at = bytes.find(needle); at != std::string::npos; at = bytes.find(needle, at + 1)) {
        bytes[at] = static_cast<char>(bytes[at] ^ 0x10);
        ++hits;
      }
      testing::WriteFileOrDie(file, bytes);
    }
    ASSERT_EQ(hits, 1) << "chunk " << index << " of w is stored once";
    store_ = MustOpen(dir_.path());
  }

  const Owned& w() const { return ts_[1]; }

  ScratchDir dir_;
  std::vector<Owned> ts_;
  std::unique_ptr<Store> store_;
  CheckpointId id_ = 0;
};

TEST_F(RangeRead, InsideOneChunkReadsOnlyThatChunk) {
  const RangeReadReport r = ExpectRead(kChunk + 100, 1000);
  EXPECT_EQ(r.chunks_read, 1u);
  EXPECT_EQ(r.bytes_read, kChunk);
}

TEST_F(RangeRead, AnAlignedChunkIsReadAlone) {
  const RangeReadReport r = ExpectRead(2 * kChunk, kChunk);
  EXPECT_EQ(r.chunks_read, 1u);
  EXPECT_EQ(r.bytes_read, kChunk);
}

TEST_F(RangeRead, SpanningChunksReadsEachCoveringChunkWhole) {
  const RangeReadReport r = ExpectRead(kChunk - 10, kChunk + 20);  // the end of 0, all of 1, the start of 2
  EXPECT_EQ(r.chunks_read, 3u);
  EXPECT_EQ(r.bytes_read, 3 * kChunk);
}

TEST_F(RangeRead, TheShortLastChunkCountsItsOwnLength) {
  const RangeReadReport r = ExpectRead(kSize - 5, 5);
  EXPECT_EQ(r.chunks_read, 1u);
  EXPECT_EQ(r.bytes_read, kTail);
}

TEST_F(RangeRead, TheWholeTensorReadsEveryChunkOnce) {
  const RangeReadReport r = ExpectRead(0, kSize);
  EXPECT_EQ(r.chunks_read, 4u);
  EXPECT_EQ(r.bytes_read, kSize);
}

TEST_F(RangeRead, AnEmptyRangeReadsNothingEvenAtTheEnd) {
  for (uint64_t offset : {uint64_t{0}, kChunk, kSize}) {
    const RangeReadReport r = ExpectRead(offset, 0);
    EXPECT_EQ(r.chunks_read, 0u) << offset;
    EXPECT_EQ(r.bytes_read, 0u) << offset;
  }
}

TEST_F(RangeRead, ARangeBeyondTheEndIsInvalidArgumentNamingTheTensor) {
  std::vector<uint8_t> buf(6);
  for (uint64_t offset : {kSize - 5, kSize + 1, ~uint64_t{0}}) {
    auto r = store_->ReadTensorRange(Selector::Id(id_), "w", offset, buf);
    ASSERT_FALSE(r.ok()) << offset;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_TRUE(Contains(r.status().message(), "checkpoint 1 (step 7), tensor 'w': 6 bytes at offset " +
                                                   std::to_string(offset) + " exceed its " +
                                                   std::to_string(kSize) + " bytes"))
        << r.status().ToString();
  }
  auto r = store_->ReadTensorRange(Selector::Id(id_), "w", kSize + 1, {});
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << "an empty range past the end is out of range too";
}

TEST_F(RangeRead, AMissingTensorOrCheckpointIsNotFoundNamingIt) {
  std::vector<uint8_t> buf(1);
  auto r = store_->ReadTensorRange(Selector::Id(id_), "nope", 0, buf);
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_TRUE(Contains(r.status().message(), "checkpoint 1 (step 7) has no tensor 'nope'")) << r.status().ToString();
  r = store_->ReadTensorRange(Selector::Step(8), "w", 0, buf);
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_TRUE(Contains(r.status().message(), "step 8")) << r.status().ToString();
}

TEST_F(RangeRead, ARemovedCheckpointIsNotFoundNamingItsId) {
  ASSERT_TRUE(store_->Remove(Selector::Id(id_)).ok());
  std::vector<uint8_t> buf(1);
  auto r = store_->ReadTensorRange(Selector::Id(id_), "w", 0, buf);
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_TRUE(Contains(r.status().message(), "no checkpoint with id 1")) << r.status().ToString();
}

TEST_F(RangeRead, ADamagedCoveringChunkIsCorruptionNamingIt) {
  CorruptChunkOfW(2);
  std::vector<uint8_t> buf(20);
  auto r = store_->ReadTensorRange(Selector::Id(id_), "w", 3 * kChunk - 10, buf);
  ASSERT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
  EXPECT_TRUE(Contains(r.status().message(), "checkpoint 1 (step 7), tensor 'w', chunk 2")) << r.status().ToString();
  EXPECT_TRUE(Contains(r.status().message(), "does not match its digest")) << r.status().ToString();
}

TEST_F(RangeRead, ADamagedChunkOutsideTheRangeIsNotRead) {
  CorruptChunkOfW(2);
  const RangeReadReport r = ExpectRead(10, 2 * kChunk - 10);  // ends where chunk 2 begins
  EXPECT_EQ(r.chunks_read, 2u);
  EXPECT_EQ(ExpectRead(3 * kChunk, kTail).chunks_read, 1u);
}

TEST_F(RangeRead, WithoutVerificationDamageIsReadAsStored) {
  CorruptChunkOfW(2);
  std::vector<uint8_t> got(kChunk);
  ReadOptions no_verify;
  no_verify.verify_chunks = false;
  auto r = store_->ReadTensorRange(Selector::Id(id_), "w", 2 * kChunk, got, no_verify);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(got[1000], w().bytes[2 * kChunk + 1000] ^ 0x10);
}

TEST_F(RangeRead, AClosedStoreRefusesIt) {
  ASSERT_TRUE(store_->Close().ok());
  std::vector<uint8_t> buf(1);
  auto r = store_->ReadTensorRange(Selector::Id(id_), "w", 0, buf);
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_TRUE(Contains(r.status().message(), "is closed")) << r.status().ToString();
}

// The read-snapshot guarantee (store.h, "Thread safety"): ranges of the oldest checkpoint read
// while saves rotate it away and background collections delete its packs are either exact or
// NotFound (it was gone before the read began), never a missing or damaged chunk.
TEST(RangeReadSnapshots, RangesBesideRotatingSavesAndCollectionsAreExactOrNotFound) {
  ScratchDir dir;
  StoreOptions options = SmallChunks(4);
  options.background_gc = true;
  auto store = MustOpen(dir.path(), options);
  ASSERT_TRUE(store);
  RetentionPolicy keep2;
  keep2.max_to_keep = 2;
  ASSERT_TRUE(store->SetRetention(keep2).ok());
  auto at = [](int64_t step) { return std::vector<Owned>{MakeBytes("w", 3 * kChunk + kTail, 100 + uint64_t(step))}; };
  MustSave(*store, at(0), AtStep(0));
  std::atomic<bool> done{false};
  std::atomic<int> exact{0}, problems{0};
  std::string first_problem;
  std::thread reader([&] {
    std::vector<uint8_t> got(kChunk + 20);
    while (!done.load()) {
      auto list = store->List();
      if (!list.ok() || list->empty()) continue;
      const CheckpointInfo oldest = list->front();
      auto r = store->ReadTensorRange(Selector::Id(oldest.id), "w", kChunk - 10, got);
      if (r.ok() && std::memcmp(got.data(), at(oldest.step)[0].bytes.data() + kChunk - 10, got.size()) == 0) {
        ++exact;
      } else if (r.ok() || r.status().code() != Code::kNotFound) {
        if (problems++ == 0) first_problem = r.ok() ? "bytes differ" : r.status().ToString();
      }
    }
  });
  for (int64_t step = 1; step <= 150; ++step) {
    auto saved = store->Save(Refs(at(step)), AtStep(step));
    if (!saved.ok()) {
      ADD_FAILURE() << "save of step " << step << ": " << saved.status().ToString();
      break;
    }
  }
  done = true;
  reader.join();
  ASSERT_TRUE(store->WaitForBackgroundWork().ok());
  EXPECT_EQ(problems.load(), 0) << first_problem;
  EXPECT_GT(exact.load(), 10);
  EXPECT_LT(PackFiles(dir.path()).size(), 20u) << "the collections really ran";
}

}  // namespace
}  // namespace ckptdb

// Specifies the save's write stage: PackRun gathers chunks into large pack writes, PackQueue writes
// them on its own thread in order, and the store's StagingPool of write buffers bounds the memory
// they are gathered in.
#include "store/pack_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/io/fault_file_system.h"
#include "store/pack_run.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

using testing::ScratchDir;
using namespace std::chrono_literals;

constexpr uint64_t kPiece = 64 << 10;

// `count` write buffers of `bytes` each, made as a store makes them.
struct WriteBuffers : StagingPool {
  WriteBuffers(uint64_t bytes, size_t count)
      : StagingPool(std::make_unique<HostStagingAllocator>(), bytes, bytes * count) {}
};

class PackQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto w = PackWriter::Create(*fs_, dir_.path(), 1, /*direct_io=*/true);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    writer_ = std::move(w).value();
  }
  std::string Pack() { return testing::ReadFileOrDie(PackPath(dir_.path(), 1)); }
  // A buffer taken from buffers_, filled with `seed`'s bytes, queued at its own reserved offset.
  Status SubmitPiece(PackQueue& q, uint64_t seed, std::function<void()> written = [] {}) {
    auto b = buffers_.Take();
    if (!b.ok()) return b.status();
    testing::FillRandom(seed, *b, kPiece);
    return q.Submit(writer_.get(), writer_->Reserve(kPiece), *b, kPiece, *b, std::move(written));
  }

  ScratchDir dir_;
  std::shared_ptr<io::FaultFileSystem> fs_ = std::make_shared<io::FaultFileSystem>();
  std::unique_ptr<PackWriter> writer_;
  WriteBuffers buffers_{kPiece, 3};
};

TEST_F(PackQueueTest, WritesEveryPieceInOrderAndReportsEachOnceItIsOnDisk) {
  std::vector<int> reported;
  std::string seen_at_report;
  {
    PackQueue q(buffers_);
    for (int i = 0; i < 8; ++i)
      ASSERT_TRUE(SubmitPiece(q, i, [&, i] {
                    reported.push_back(i);
                    if (i == 7) seen_at_report = Pack();
                  }).ok());
    ASSERT_TRUE(q.Drain().ok());
  }
  EXPECT_EQ(reported, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7})) << "one writer thread, submission order";
  const std::string pack = Pack();
  ASSERT_EQ(pack.size(), 8 * kPiece);
  EXPECT_EQ(seen_at_report, pack) << "a report comes after its bytes are written";
  for (int i = 0; i < 8; ++i) {
    const std::vector<uint8_t> want = testing::RandomBytes(i, kPiece);
    EXPECT_EQ(0, std::memcmp(pack.data() + i * kPiece, want.data(), kPiece)) << "piece " << i;
  }
}

TEST_F(PackQueueTest, AfterAFailedWriteNothingMoreIsWrittenOrReportedAndEveryBufferComesBack) {
  int reported = 0;
  {
    PackQueue q(buffers_);
    ASSERT_TRUE(SubmitPiece(q, 1, [&] { ++reported; }).ok());
    ASSERT_TRUE(q.Drain().ok());
  }
  // The power goes at the next sync point: from then on every write fails with IOError.
  fs_->CutAtSync(1);
  EXPECT_FALSE(fs_->SyncDir(dir_.path()).ok());
  PackQueue q(buffers_);
  for (int i = 0; i < 6; ++i) {  // twice as many pieces as buffers: each buffer must come back
    Status s = SubmitPiece(q, 10 + i, [&] { ++reported; });
    // The writer fails the first piece while this thread fills the next; by the time it waits
    // for room behind kMaxQueued pieces, that failure is known.
    if (i > int(PackQueue::kMaxQueued)) {
      EXPECT_EQ(s.code(), Code::kIOError) << "submit " << i;
    }
  }
  const Status drained = q.Drain();
  EXPECT_EQ(drained.code(), Code::kIOError) << drained.ToString();
  EXPECT_EQ(reported, 1) << "only the write made before the cut is reported";
  EXPECT_EQ(Pack().size(), kPiece);
  // Every buffer is back: all three can be taken at once (a lost one would make Take wait).
  auto all = std::async(std::launch::async, [&] {
    std::vector<uint8_t*> taken;
    for (int i = 0; i < 3; ++i) taken.push_back(*buffers_.Take());
    return taken;
  });
  ASSERT_EQ(all.wait_for(5s), std::future_status::ready) << "a buffer was not given back";
  for (uint8_t* b : all.get()) buffers_.Give(b);
}

TEST_F(PackQueueTest, SubmitWaitsWhileTheQueueIsFull) {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  PackQueue q(buffers_);
  // The first report holds the writer thread, so the queue cannot move on.
  ASSERT_TRUE(SubmitPiece(q, 1, [&] {
                std::unique_lock<std::mutex> l(mu);
                cv.wait(l, [&] { return release; });
              }).ok());
  for (size_t i = 1; i < PackQueue::kMaxQueued; ++i) ASSERT_TRUE(SubmitPiece(q, 1 + i).ok());
  std::atomic<bool> returned{false};
  auto blocked = std::async(std::launch::async, [&] {
    Status s = SubmitPiece(q, 99);
    returned = true;
    return s;
  });
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(returned.load()) << "a submit beyond kMaxQueued writes waits";
  {
    std::lock_guard<std::mutex> l(mu);
    release = true;
  }
  cv.notify_all();
  EXPECT_TRUE(blocked.get().ok());
  EXPECT_TRUE(q.Drain().ok());
  EXPECT_EQ(Pack().size(), (PackQueue::kMaxQueued + 1) * kPiece);
}

TEST(WriteBuffersTest, HandsOutAtMostCountAndTakeWaitsForOneToComeBack) {
  EXPECT_EQ(PackRunBufferBytes(kPackRunBytes + 5000), kPackRunBytes + 8192) << "whole pages, as O_DIRECT needs";
  EXPECT_EQ(PackRunBufferBytes(64 << 10), kPackRunBytes) << "at least one run";
  WriteBuffers buffers(8192, 2);
  auto a = buffers.Take();
  auto b = buffers.Take();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(*a) % kPackAlign, 0u);
  auto third = std::async(std::launch::async, [&] { return buffers.Take(); });
  EXPECT_EQ(third.wait_for(200ms), std::future_status::timeout) << "a third buffer waits";
  buffers.Give(*a);
  auto c = third.get();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, *a) << "the buffer given back is reused, not a new one";
  buffers.Give(*b);
  buffers.Give(*c);
}

// PackRun over a real pack: what is written where, and from which memory.
class PackRunTest : public PackQueueTest {
 protected:
  struct Placed {
    Digest digest;
    uint64_t offset, length;
  };
  // Adds `chunks` (digests numbered 0, 1, ...) to one run over `buffers` and writes it.
  std::vector<Placed> Run(StagingPool& buffers, const std::vector<ChunkView>& chunks, bool stable) {
    std::vector<Placed> placed;
    PackQueue q(buffers);
    PackRun run(
        q, [&]() -> Result<PackWriter*> { return writer_.get(); },
        [&](const Digest& d, uint64_t offset, uint64_t length) { placed.push_back({d, offset, length}); });
    for (size_t i = 0; i < chunks.size(); ++i) {
      Digest d;
      d.bytes[0] = static_cast<uint8_t>(i);
      EXPECT_TRUE(run.Add(d, chunks[i], stable).ok());
    }
    EXPECT_TRUE(run.Flush().ok());
    EXPECT_TRUE(q.Drain().ok());
    return placed;
  }
  WriteBuffers big_{kPackRunBytes, 2};
};

TEST_F(PackRunTest, GathersUnalignedChunksIntoOneWriteWithZeroedPadding) {
  std::vector<uint8_t> bytes = testing::RandomBytes(7, 3 * 5000 + 1);
  const std::vector<ChunkView> chunks = {
      {bytes.data() + 1, 5000}, {bytes.data() + 5001, 5000}, {bytes.data() + 10001, 5000}};
  for (bool stable : {true, false}) {
    SCOPED_TRACE(stable ? "stable: gathered at Flush" : "not stable: copied at Add");
    SetUp();  // a fresh pack
    const auto placed = Run(big_, chunks, stable);
    ASSERT_EQ(placed.size(), 3u);
    const std::string pack = Pack();
    ASSERT_EQ(pack.size(), 3 * 8192u) << "one extent, every chunk padded to whole pages";
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_EQ(placed[i].offset, i * 8192) << "chunk " << i;
      EXPECT_EQ(placed[i].length, 5000u);
      EXPECT_EQ(placed[i].digest.bytes[0], i);
      EXPECT_EQ(0, std::memcmp(pack.data() + placed[i].offset, chunks[i].data, 5000));
      EXPECT_EQ(pack.substr(placed[i].offset + 5000, 8192 - 5000), std::string(8192 - 5000, '\0'))
          << "padding is zeroed, never stale buffer bytes";
    }
  }
  EXPECT_EQ(big_.allocated_bytes(), kPackRunBytes) << "both runs used the same buffer";
}

TEST_F(PackRunTest, WritesBackToBackAlignedChunksStraightFromTheirMemoryInRunsOfOneBuffer) {
  // Page-aligned memory, whole pages: no copy. buffers_ hold kPiece, so four kPiece/2 chunks make
  // two writes of two, still back to back in the pack.
  WriteBuffers none_taken(kPiece, 1);
  const uint64_t n = 2 * kPiece;
  uint8_t* mem = static_cast<uint8_t*>(std::aligned_alloc(kPackAlign, n));
  testing::FillRandom(8, mem, n);
  std::vector<ChunkView> chunks;
  for (int i = 0; i < 4; ++i) chunks.push_back({mem + i * kPiece / 2, kPiece / 2});
  const auto placed = Run(none_taken, chunks, /*stable=*/true);
  ASSERT_EQ(placed.size(), 4u);
  EXPECT_EQ(Pack(), std::string(reinterpret_cast<const char*>(mem), n));
  EXPECT_EQ(none_taken.allocated_bytes(), 0u) << "written from the caller's memory, not a buffer";
  std::free(mem);
}

TEST_F(PackRunTest, ZeroPaddedSlotsBackToBackAreWrittenStraightFromTheirMemory) {
  // As a capture stages them: 5000-byte chunks, each at the start of its own two pages, the rest of
  // them zero. Flagged zero_padded they go out in place; without the flag the run is gathered.
  WriteBuffers none_taken(kPiece, 1);
  const uint64_t n = 3 * 8192;
  uint8_t* mem = static_cast<uint8_t*>(std::aligned_alloc(kPackAlign, n));
  std::memset(mem, 0, n);
  std::vector<ChunkView> chunks;
  for (int i = 0; i < 3; ++i) {
    testing::FillRandom(20 + i, mem + i * 8192, 5000);
    chunks.push_back({mem + i * 8192, 5000, /*zero_padded=*/true});
  }
  const auto placed = Run(none_taken, chunks, /*stable=*/true);
  ASSERT_EQ(placed.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(placed[i].offset, i * 8192);
  EXPECT_EQ(Pack(), std::string(reinterpret_cast<const char*>(mem), n));
  EXPECT_EQ(none_taken.allocated_bytes(), 0u) << "written from the staged memory, not a buffer";

  SetUp();  // a fresh pack
  for (ChunkView& c : chunks) c.zero_padded = false;
  std::memset(mem + 5000, 0xAB, 8192 - 5000);  // not zero now: it must not reach the pack
  const auto gathered = Run(big_, chunks, /*stable=*/true);
  ASSERT_EQ(gathered.size(), 3u);
  const std::string pack = Pack();
  EXPECT_EQ(pack.substr(5000, 8192 - 5000), std::string(8192 - 5000, '\0')) << "gathered with zeroed padding";
  EXPECT_EQ(big_.allocated_bytes(), kPackRunBytes) << "copied into a write buffer";
  std::free(mem);
}

TEST_F(PackRunTest, AChunkLargerThanTheBuffersIsRefused) {
  PackQueue q(buffers_);
  PackRun run(q, [&]() -> Result<PackWriter*> { return writer_.get(); }, [](const Digest&, uint64_t, uint64_t) {});
  std::vector<uint8_t> huge(kPiece + kPackAlign);
  const Status s = run.Add(Digest{}, ChunkView{huge.data(), huge.size()}, true);
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.ToString().find("larger than"), std::string::npos) << s.ToString();
}

}  // namespace
}  // namespace ckptdb

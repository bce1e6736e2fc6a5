// Specifies StagingPool::Reserve and Store::ReserveStaging: staging memory taken and touched ahead
// of the first asynchronous save, within the cap, counting blocks a capture holds, kept for later
// captures; and the errors of a store that cannot save.
#include <gtest/gtest.h>

#include <sys/mman.h>

#include <cstdint>
#include <fstream>
#include <span>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "ckptdb/ckptdb.h"
#include "store/staging_pool.h"
#include "tests/support/store_fixtures.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

using namespace store_tests;
using testing::ScratchDir;

constexpr uint64_t kBlock = 64 << 10;

// Host memory that counts what it hands out and fails once `limit` blocks are out.
class CountingAllocator final : public StagingAllocator {
 public:
  CountingAllocator(int* allocated, int limit) : allocated_(allocated), limit_(limit) {}
  Result<uint8_t*> Allocate(uint64_t bytes) override {
    if (*allocated_ == limit_) return Status::ResourceExhausted("test: no more staging memory");
    ++*allocated_;
    return static_cast<uint8_t*>(::operator new(bytes));
  }
  void Free(uint8_t* p, uint64_t) override { ::operator delete(p); }

 private:
  int* allocated_;
  const int limit_;
};

TEST(StagingReserve, AllocatesWhatIsMissingUpToTheCapAndLaterTakesReuseIt) {
  int allocated = 0;
  StagingPool pool(std::make_unique<CountingAllocator>(&allocated, 100), kBlock, 4 * kBlock);
  ASSERT_TRUE(pool.Reserve(kBlock + 1).ok());
  EXPECT_EQ(allocated, 2) << "rounded up to whole blocks";
  ASSERT_TRUE(pool.Reserve(kBlock).ok());
  EXPECT_EQ(allocated, 2) << "already held";
  ASSERT_TRUE(pool.Reserve(100 * kBlock).ok());
  EXPECT_EQ(allocated, 4) << "never more than the cap";
  EXPECT_EQ(pool.allocated_bytes(), 4 * kBlock);
  std::vector<uint8_t*> taken;
  for (int i = 0; i < 4; ++i) {
    auto b = pool.TryTake();
    ASSERT_TRUE(b.ok() && b->has_value());
    taken.push_back(**b);
  }
  EXPECT_EQ(allocated, 4) << "captures take the reserved blocks";
  for (uint8_t* b : taken) pool.Give(b);
}

TEST(StagingReserve, BlocksInUseCountAndAFailedAllocationKeepsWhatItGot) {
  int allocated = 0;
  StagingPool pool(std::make_unique<CountingAllocator>(&allocated, 3), kBlock, 8 * kBlock);
  auto busy = pool.TryTake();
  ASSERT_TRUE(busy.ok() && busy->has_value());
  ASSERT_TRUE(pool.Reserve(2 * kBlock).ok());
  EXPECT_EQ(allocated, 2) << "the block a capture holds counts";
  Status s = pool.Reserve(8 * kBlock);
  EXPECT_EQ(s.code(), Code::kResourceExhausted) << s.ToString();
  EXPECT_EQ(pool.allocated_bytes(), 3 * kBlock) << "the blocks allocated before the failure stay";
  pool.Give(**busy);
  for (int i = 0; i < 3; ++i) {
    auto b = pool.TryTake();
    ASSERT_TRUE(b.ok() && b->has_value()) << "every block is free again, none was lost";
  }
}

TEST(StagingReserve, ReservingBesideTakesAndGivesNeverPassesTheCapNorLosesABlock) {
  int allocated = 0;
  StagingPool pool(std::make_unique<CountingAllocator>(&allocated, 1000), kBlock, 4 * kBlock);
  std::atomic<bool> stop{false};
  std::thread captures([&] {  // what captures and persists do: take blocks, give them back
    while (!stop.load()) {
      std::vector<uint8_t*> held;
      for (int i = 0; i < 3; ++i) {
        auto b = pool.TryTake();
        ASSERT_TRUE(b.ok()) << b.status().ToString();
        if (b->has_value()) held.push_back(**b);
      }
      for (uint8_t* b : held) pool.Give(b);
    }
  });
  for (int i = 0; i < 2000; ++i) {
    ASSERT_TRUE(pool.Reserve((i % 5) * kBlock).ok());
    ASSERT_LE(pool.allocated_bytes(), 4 * kBlock);
  }
  stop.store(true);
  captures.join();
  EXPECT_EQ(allocated, 4) << "reserving never allocates past the cap, whatever captures hold";
  std::vector<uint8_t*> all;
  for (int i = 0; i < 4; ++i) {
    auto b = pool.TryTake();
    ASSERT_TRUE(b.ok() && b->has_value()) << "every block is free again";
    all.push_back(**b);
  }
  auto fifth = pool.TryTake();
  ASSERT_TRUE(fifth.ok());
  EXPECT_FALSE(fifth->has_value()) << "the cap holds";
  for (uint8_t* b : all) pool.Give(b);
}

uint64_t ResidentBytes() {
  std::ifstream f("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * 4096;
}

// Reserves staging for `sizes` and expects between `least` and `most` bytes to become resident now;
// then saves `state` asynchronously, expects its capture to fault nothing more in (16 MiB of
// slack for the save's own bookkeeping), and the checkpoint to restore exactly.
void ExpectReservedThenCapturedInPlace(Store& store, std::span<const uint64_t> sizes, const std::vector<Owned>& state,
                                       uint64_t least, uint64_t most) {
  const uint64_t before = ResidentBytes();
  ASSERT_TRUE(store.ReserveStaging(sizes).ok());
  const uint64_t reserved = ResidentBytes() - before;
  EXPECT_GE(reserved, least) << "touched now, not at the first capture";
  EXPECT_LE(reserved, most);
  const uint64_t after_reserve = ResidentBytes();
  auto h = store.SaveAsync(Refs(state), AtStep(1));
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_LE(ResidentBytes(), after_reserve + (16ull << 20)) << "the capture copied into the reserved memory";
  ASSERT_TRUE(h->Wait().ok());
  ExpectRestores(store, Selector::Step(1), state);
}

TEST(StoreReserveStaging, TouchesTheMemoryNowWithinStagingBytesAndTheFirstCaptureTakesNoMore) {
  ScratchDir dir;
  StoreOptions o = SmallChunks();
  o.staging_bytes = 128ull << 20;  // two 64 MiB blocks
  auto store = MustOpen(dir.path(), o);
  ASSERT_TRUE(store);
  // More than the cap is capped (all 128 MiB, no more), not refused.
  const std::vector<uint64_t> huge = {1ull << 40, UINT64_MAX};
  ExpectReservedThenCapturedInPlace(*store, huge, {MakeBytes("w", 64ull << 20, 1)}, 128ull << 20,
                                    (128ull << 20) + (16ull << 20));
}

// Many small tensors: each chunk starts page-aligned, so 9000 tensors of 4100 bytes (37 MB) take
// 8 KiB each, 74 MB, two 64 MiB blocks where their bytes alone would count one.
TEST(StoreReserveStaging, TakesTheBlocksTheCaptureLaysOutNotJustTheBytes) {
  ScratchDir dir;
  StoreOptions o = SmallChunks();
  o.staging_bytes = 256ull << 20;
  auto store = MustOpen(dir.path(), o);
  ASSERT_TRUE(store);
  std::vector<Owned> state;
  std::vector<uint64_t> sizes;
  for (int i = 0; i < 9000; ++i) {
    state.push_back(MakeBytes("t" + std::to_string(i), 4100, i));
    sizes.push_back(4100);
  }
  // Two blocks, alignment included; the capture finds every block it lays out.
  ExpectReservedThenCapturedInPlace(*store, sizes, state, 120ull << 20, (128ull << 20) + (16ull << 20));
}

TEST(StoreReserveStaging, RunsBesideAsynchronousSavesCapturedInPieces) {
  ScratchDir dir;
  StoreOptions o = SmallChunks();
  o.staging_bytes = 64ull << 20;  // one block: each 96 MiB state is captured in pieces
  o.max_pending_saves = 2;
  auto store = MustOpen(dir.path(), o);
  ASSERT_TRUE(store);
  std::atomic<bool> stop{false};
  std::atomic<int> reserved{0};
  const std::vector<uint64_t> block = {64ull << 20};
  std::thread reserver([&] {
    while (!stop.load()) {
      ASSERT_TRUE(store->ReserveStaging(block).ok());
      ++reserved;
    }
  });
  std::vector<std::vector<Owned>> states;
  std::vector<SaveHandle> handles;
  for (int step = 1; step <= 4; ++step) {
    states.push_back({MakeBytes("w", 96ull << 20, 10 + step), MakeBytes("b", 1000, 20 + step)});
    auto h = store->SaveAsync(Refs(states.back()), AtStep(step));
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    handles.push_back(*h);
  }
  for (SaveHandle& h : handles) ASSERT_TRUE(h.Wait().ok());
  stop.store(true);
  reserver.join();
  EXPECT_GT(reserved.load(), 0);
  for (int step = 1; step <= 4; ++step) ExpectRestores(*store, Selector::Step(step), states[step - 1]);
}

TEST(StoreReserveStaging, AReadOnlyOrClosedStoreRefusesIt) {
  ScratchDir dir;
  {
    auto store = MustOpen(dir.path());
    ASSERT_TRUE(store);
    MustSave(*store, {MakeBytes("a", 10, 1)});
    ASSERT_TRUE(store->Close().ok());
    Status s = store->ReserveStaging(std::vector<uint64_t>{kBlock});
    EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
    EXPECT_NE(s.message().find("closed"), std::string::npos) << s.ToString();
  }
  auto reader = Store::OpenReadOnly(dir.path());
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  Status s = (*reader)->ReserveStaging(std::vector<uint64_t>{kBlock});
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("read-only"), std::string::npos) << s.ToString();
}

}  // namespace
}  // namespace ckptdb

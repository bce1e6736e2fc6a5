// Open pack descriptors stay bounded: a store reads from any number of packs through a cache of
// at most PackReader::kDefaultMaxOpen descriptors, and evicting one never breaks a read in flight.
#include <dirent.h>
#include <gtest/gtest.h>

#include <cstring>
#include <thread>

#include "ckptdb/ckptdb.h"
#include "store/pack_file.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

constexpr uint64_t kChunk = 64 << 10;
constexpr int kPacks = 100;  // more than the cache holds

int OpenDescriptors() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  while (const dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
  ::closedir(d);
  return n;
}

class OpenFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions o;
    o.chunk_size = kChunk;
    o.threads = 2;
    auto opened = Store::Open(dir_.Join("s"), o);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(opened).value();
    for (int i = 0; i < kPacks; ++i) {  // one fresh chunk per save: one pack per checkpoint
      versions_.push_back(testing::RandomBytes(i + 1, kChunk));
      TensorRef t{"w", DType::kU8, {int64_t(kChunk)}, versions_.back().data(), kChunk};
      ASSERT_TRUE(store_->Save({&t, 1}, SaveOptions{}).ok());
    }
  }
  void ExpectRestores(int i) {
    auto r = store_->Restore(Selector::Id(i + 1));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(std::memcmp((*r)[0].bytes.data(), versions_[i].data(), kChunk), 0) << "checkpoint " << i + 1;
  }
  testing::ScratchDir dir_;
  std::unique_ptr<Store> store_;
  std::vector<std::vector<uint8_t>> versions_;
};

TEST_F(OpenFiles, ReadingMorePacksThanTheCacheHoldsKeepsDescriptorsBounded) {
  const int before = OpenDescriptors();
  for (int i = 0; i < kPacks; ++i) ExpectRestores(i);
  // A few descriptors of slack for RocksDB's own files.
  EXPECT_LE(OpenDescriptors() - before, int(PackReader::kDefaultMaxOpen) + 4);
}

TEST_F(OpenFiles, ConcurrentReadsSurviveEviction) {
  std::vector<std::thread> readers;
  for (int r = 0; r < 4; ++r)
    readers.emplace_back([&, r] {
      for (int i = 0; i < kPacks; ++i) ExpectRestores((i * 7 + r * 31) % kPacks);
    });
  for (auto& t : readers) t.join();
}

}  // namespace
}  // namespace ckptdb

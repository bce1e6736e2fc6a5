// Store::Space: logical, unique and on-disk bytes, the dedup ratio, and what each checkpoint alone
// holds, checked against numbers worked out by hand for stores with a 64 KiB chunk size.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <vector>

#include "ckptdb/ckptdb.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

constexpr uint64_t K = 64 << 10;  // the chunk size

class SpaceTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open() {
    StoreOptions o;
    o.chunk_size = K;
    auto s = Store::Open(dir_.Join("store"), o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }

  // Saves U8 tensors {name, bytes} as one checkpoint.
  void Save(int64_t step, const std::vector<std::pair<std::string, const std::vector<uint8_t>*>>& tensors) {
    std::vector<TensorRef> refs;
    for (const auto& [name, bytes] : tensors)
      refs.push_back({name, DType::kU8, {static_cast<int64_t>(bytes->size())}, bytes->data(), bytes->size()});
    SaveOptions o;
    o.step = step;
    auto info = store_->Save(refs, o);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
  }

  SpaceReport Space() {
    auto r = store_->Space();
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : SpaceReport{};
  }

  // Checkpoint 1: a (3 chunks) and b (one 40 KiB chunk). Checkpoint 2: a with its middle chunk
  // changed, b unchanged, and c (a 64 KiB and a 32 KiB chunk).
  void SaveTwoCheckpoints() {
    a1_ = testing::RandomBytes(1, 3 * K);
    a2_ = a1_;
    a2_[K + 5] ^= 0xFF;
    b_ = testing::RandomBytes(2, 40 << 10);
    c_ = testing::RandomBytes(3, K + K / 2);
    Save(100, {{"a", &a1_}, {"b", &b_}});
    Save(200, {{"a", &a2_}, {"b", &b_}, {"c", &c_}});
  }

  testing::ScratchDir dir_;
  std::unique_ptr<Store> store_;
  std::vector<uint8_t> a1_, a2_, b_, c_;
};

TEST_F(SpaceTest, CountsLogicalUniqueAndReclaimableBytes) {
  SaveTwoCheckpoints();
  const SpaceReport r = Space();
  const uint64_t b = 40 << 10;
  EXPECT_EQ(r.logical_bytes, (3 * K + b) + (3 * K + b + K + K / 2));  // 573440
  // a's three chunks, a's changed chunk, b, and c's two chunks.
  EXPECT_EQ(r.unique_bytes, 4 * K + b + K + K / 2);  // 401408
  EXPECT_DOUBLE_EQ(r.dedup_ratio, 10.0 / 7.0);        // 140 / 98 pages of 4 KiB
  ASSERT_EQ(r.checkpoints.size(), 2u);
  EXPECT_EQ(r.checkpoints[0].id, 1u);
  EXPECT_EQ(r.checkpoints[0].step, 100);
  EXPECT_EQ(r.checkpoints[0].reclaimable_bytes, K);  // a's original middle chunk
  EXPECT_EQ(r.checkpoints[1].id, 2u);
  EXPECT_EQ(r.checkpoints[1].step, 200);
  EXPECT_EQ(r.checkpoints[1].reclaimable_bytes, K + K + K / 2);  // a's new chunk and c
}

TEST_F(SpaceTest, AChunkSharedWithALaterCheckpointIsReclaimableFromNeither) {
  SaveTwoCheckpoints();
  Save(300, {{"a", &a2_}, {"b", &b_}, {"c", &c_}});  // the same content as checkpoint 2
  const SpaceReport r = Space();
  EXPECT_EQ(r.unique_bytes, 4 * K + (40 << 10) + K + K / 2);  // unchanged: nothing new was stored
  ASSERT_EQ(r.checkpoints.size(), 3u);
  EXPECT_EQ(r.checkpoints[0].reclaimable_bytes, K);
  EXPECT_EQ(r.checkpoints[1].reclaimable_bytes, 0u);
  EXPECT_EQ(r.checkpoints[2].reclaimable_bytes, 0u);
}

TEST_F(SpaceTest, ChunksRepeatedInsideACheckpointCountOnce) {
  const std::vector<uint8_t> twice(2 * K, 0), once(K, 0);  // three copies of one zero chunk
  Save(1, {{"z2", &twice}, {"z1", &once}});
  const SpaceReport r = Space();
  EXPECT_EQ(r.logical_bytes, 3 * K);
  EXPECT_EQ(r.unique_bytes, K);
  EXPECT_EQ(r.dedup_ratio, 3.0);
  ASSERT_EQ(r.checkpoints.size(), 1u);
  EXPECT_EQ(r.checkpoints[0].reclaimable_bytes, K);
}

TEST_F(SpaceTest, EmptyStore) {
  const SpaceReport r = Space();
  EXPECT_EQ(r.logical_bytes, 0u);
  EXPECT_EQ(r.unique_bytes, 0u);
  EXPECT_EQ(r.dedup_ratio, 1.0);
  EXPECT_TRUE(r.checkpoints.empty());
  EXPECT_GT(r.disk_bytes, 0u);  // RocksDB's files and the directories themselves
}

TEST_F(SpaceTest, DiskBytesCoverThePackFiles) {
  SaveTwoCheckpoints();
  uint64_t packs = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_.Join("store/packs"))) {
    struct stat st;
    ASSERT_EQ(::stat(e.path().c_str(), &st), 0);
    packs += st.st_size;
  }
  // Every chunk here is 32 KiB or more, so all of them live in packs, each padded to 4 KiB.
  EXPECT_GE(packs, Space().unique_bytes);
  EXPECT_GE(Space().disk_bytes, packs);
}

TEST_F(SpaceTest, DiskBytesCountAllocatedNotApparentSize) {
  SaveTwoCheckpoints();
  const uint64_t before = Space().disk_bytes;
  // A 1 GiB sparse file allocates (almost) nothing; 256 KiB of written data allocates 256 KiB.
  const std::string sparse = dir_.Join("store/sparse");
  const int fd = ::open(sparse.c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 1ll << 30), 0);
  ::close(fd);
  const uint64_t with_sparse = Space().disk_bytes;
  EXPECT_LT(with_sparse, before + (1 << 20));
  testing::WriteFileOrDie(dir_.Join("store/packs/extra"), std::string(256 << 10, 'x'));
  EXPECT_GE(Space().disk_bytes, with_sparse + (256 << 10));
}

TEST_F(SpaceTest, ReadsOnlyManifests) {
  SaveTwoCheckpoints();
  const SpaceReport before = Space();
  store_.reset();
  // With every pack file emptied the chunks are unreadable, yet the accounting is unchanged.
  for (const auto& e : std::filesystem::directory_iterator(dir_.Join("store/packs")))
    std::filesystem::resize_file(e.path(), 0);
  Open();
  const SpaceReport after = Space();
  EXPECT_EQ(after.logical_bytes, before.logical_bytes);
  EXPECT_EQ(after.unique_bytes, before.unique_bytes);
  EXPECT_EQ(after.checkpoints[1].reclaimable_bytes, before.checkpoints[1].reclaimable_bytes);
  auto verify = store_->Verify();
  ASSERT_TRUE(verify.ok());
  EXPECT_FALSE(verify->ok());
}

}  // namespace
}  // namespace ckptdb

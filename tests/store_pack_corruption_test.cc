// Specifies that damaged pack files (a flipped byte, a missing or truncated pack) are Corruption.
#include "ckptdb/ckptdb.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <boost/filesystem.hpp>
#include <cstdint>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "store/keys.h"
#include "tests/support/rocksdb_edit.h"
#include "tests/support/store_fixtures.h"
#include "tests/support/store_layout.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

namespace fs = boost::filesystem;
using namespace store_tests;
using testing::ScratchDir;

// Finds `needle` in the files of `dir` ending with one of `suffixes`: (file, offset) of each hit.
std::vector<std::pair<std::string, size_t>> FindInFiles(const std::string& dir, const std::vector<std::string>& suffixes,
                                                        const std::vector<uint8_t>& needle) {
  std::vector<std::pair<std::string, size_t>> hits;
  const std::string n(needle.begin(), needle.end());
  for (const auto& suffix : suffixes)
    for (const auto& file : FilesEndingWith(dir, suffix)) {
      const std::string bytes = testing::ReadFileOrDie(file);
      for (size_t at = bytes.find(n); at != std::string::npos; at = bytes.find(n, at + 1)) hits.emplace_back(file, at);
    }
  return hits;
}

void FlipByteInFile(const std::string& file, size_t offset, uint8_t mask) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f) << file;
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ mask);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
  ASSERT_TRUE(f) << file;
}

TEST(StoreCorruption, AFlippedChunkByteIsCorruptionNamingTensorAndCheckpoint) {
  ScratchDir dir;
  // "victim" is exactly one chunk (64 KiB, so it lives in a pack file, not inline in the index);
  // "bystander" shares no chunk with it. Both checkpoints use the victim's chunk.
  std::vector<Owned> ts = {MakeBytes("victim", kChunk, 1), MakeBytes("bystander", 2 * kChunk, 2)};
  {
    auto store = MustOpen(dir.path());
    ASSERT_TRUE(store);
    MustSave(*store, ts, AtStep(100));
    std::vector<Owned> ts2 = {ts[0], MakeBytes("bystander", 2 * kChunk, 3)};
    MustSave(*store, ts2, AtStep(200));
    auto report = store->Verify();
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_TRUE(report->ok());
    EXPECT_EQ(report->checkpoints, 2u);
    EXPECT_EQ(report->chunks_checked, 5u) << "distinct chunks: victim's 1 and two bystanders' 2 each";
    EXPECT_EQ(report->bytes_checked, 5 * kChunk);
  }
  // A distinctive 64-byte run from the middle of the victim's only chunk.
  constexpr size_t kAt = 20000;
  const std::vector<uint8_t> pattern(ts[0].bytes.begin() + kAt, ts[0].bytes.begin() + kAt + 64);
  auto hits = FindInFiles(dir.path(), {".pack", ".sst", ".log", ".blob"}, pattern);
  ASSERT_EQ(hits.size(), 1u) << "the chunk is stored exactly once, uncompressed";
  EXPECT_EQ(hits[0].first, PackFile(dir.path(), 1)) << "in the first save's pack file";
  EXPECT_EQ((hits[0].second - kAt) % 4096, 0u) << "chunks start at 4 KiB-aligned offsets";
  FlipByteInFile(hits[0].first, hits[0].second + 10, 0x04);

  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  for (CheckpointId id : {1u, 2u}) {
    SCOPED_TRACE("checkpoint " + std::to_string(id));
    auto r = store->Restore(Selector::Id(id));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
    EXPECT_TRUE(Contains(r.status().message(), "'victim'")) << r.status().ToString();
    EXPECT_TRUE(Contains(r.status().message(), "checkpoint " + std::to_string(id))) << r.status().ToString();
    EXPECT_TRUE(Contains(r.status().message(), dir.path())) << r.status().ToString();
    EXPECT_FALSE(Contains(r.status().message(), "'bystander'")) << r.status().ToString();
  }
  // A restore that does not name the damaged tensor is unaffected.
  std::vector<uint8_t> by(2 * kChunk);
  std::vector<TensorBuffer> only_bystander = {{"bystander", DType::kU8, {int64_t(2 * kChunk)}, by.data(), by.size()}};
  Status s = store->RestoreInto(Selector::Id(1), only_bystander);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(by, ts[1].bytes);

  std::vector<uint8_t> v(kChunk);
  std::vector<TensorBuffer> victim = {{"victim", DType::kU8, {int64_t(kChunk)}, v.data(), v.size()}};
  s = store->RestoreInto(Selector::Id(1), victim);
  EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
  EXPECT_TRUE(Contains(s.message(), "'victim'")) << s.ToString();

  auto report = store->Verify();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_FALSE(report->ok());
  EXPECT_EQ(report->checkpoints, 2u);
  EXPECT_EQ(report->chunks_checked, 5u);
  ASSERT_EQ(report->damage.size(), 2u) << "one entry per checkpoint that uses the bad chunk";
  std::set<CheckpointId> damaged;
  for (const Damage& d : report->damage) {
    EXPECT_EQ(d.tensor, "victim");
    EXPECT_EQ(d.chunk_index, 0u);
    EXPECT_EQ(d.chunk, HashBytes(ts[0].bytes.data(), kChunk));
    EXPECT_EQ(d.step, d.id == 1 ? 100 : 200);
    EXPECT_FALSE(d.problem.empty());
    damaged.insert(d.id);
  }
  EXPECT_EQ(damaged, (std::set<CheckpointId>{1, 2}));

  // Without the digest check nothing else covers pack bytes (no RocksDB checksum reaches them):
  // the flipped byte -- and only it -- comes back.
  ReadOptions no_verify;
  no_verify.verify_chunks = false;
  auto unchecked = store->Restore(Selector::Id(1), no_verify);
  ASSERT_TRUE(unchecked.ok()) << unchecked.status().ToString();
  ASSERT_EQ(unchecked->size(), 2u);
  std::vector<uint8_t> want = ts[0].bytes;
  want[kAt + 10] ^= 0x04;
  ExpectSameBytes((*unchecked)[0].bytes.data(), (*unchecked)[0].bytes.size(), want, "victim");
  ExpectSameBytes((*unchecked)[1].bytes.data(), (*unchecked)[1].bytes.size(), ts[1].bytes, "bystander");
}

TEST(StoreCorruption, AMissingPackFileIsCorruptionNamingThePack) {
  ScratchDir dir;
  std::vector<Owned> ts = {MakeBytes("victim", kChunk, 1), MakeBytes("bystander", 2 * kChunk, 2)};
  const std::vector<Owned> bystander2 = {MakeBytes("bystander", 2 * kChunk, 3)};  // checkpoint 2's
  const Digest d = SaveTwoCheckpointsSharingAChunk(dir.path(), ts);
  // Checkpoint 1 wrote pack 1 (victim's and bystander's chunks); checkpoint 2 wrote pack 2 with
  // only its own bystander's chunks, and uses the victim's chunk from pack 1.
  ASSERT_EQ(PackFiles(dir.path()), (Packs{{PackName(1), 3 * kChunk}, {PackName(2), 2 * kChunk}}));
  const std::string pack1 = PackFile(dir.path(), 1);
  ASSERT_TRUE(fs::remove(pack1));

  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  for (CheckpointId id : {1u, 2u}) {
    SCOPED_TRACE("checkpoint " + std::to_string(id));
    for (bool verify : {true, false}) {
      ReadOptions o;
      o.verify_chunks = verify;
      auto r = store->Restore(Selector::Id(id), o);
      ASSERT_FALSE(r.ok());
      const std::string& m = r.status().message();
      EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
      EXPECT_TRUE(Contains(m, "pack file " + pack1 + " is missing")) << m;
      EXPECT_TRUE(Contains(m, "checkpoint " + std::to_string(id))) << m;
      if (id == 2) {
        EXPECT_TRUE(Contains(m, "'victim'")) << m;
        EXPECT_TRUE(Contains(m, d.ToHex())) << m;
      } else {
        EXPECT_TRUE(Contains(m, "'victim'") || Contains(m, "'bystander'")) << m;
      }
    }
  }
  // Checkpoint 2's own bystander lives in pack 2 and is unaffected.
  std::vector<uint8_t> by(2 * kChunk);
  std::vector<TensorBuffer> only_bystander = {{"bystander", DType::kU8, {int64_t(2 * kChunk)}, by.data(), by.size()}};
  Status s = store->RestoreInto(Selector::Id(2), only_bystander);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(by, bystander2[0].bytes);

  // Verify reports every use of every chunk of pack 1: checkpoint 1's victim and two bystander
  // chunks, checkpoint 2's victim.
  auto report = store->Verify();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->chunks_checked, 5u);
  EXPECT_EQ(report->bytes_checked, 2 * kChunk) << "only checkpoint 2's bystander reads back";
  std::set<std::tuple<CheckpointId, std::string, uint64_t>> damaged;
  for (const Damage& dm : report->damage) {
    damaged.emplace(dm.id, dm.tensor, dm.chunk_index);
    EXPECT_TRUE(Contains(dm.problem, "pack file " + pack1 + " is missing")) << dm.problem;
  }
  EXPECT_EQ(report->damage.size(), 4u);
  EXPECT_EQ(damaged, (std::set<std::tuple<CheckpointId, std::string, uint64_t>>{
                         {1, "victim", 0}, {1, "bystander", 0}, {1, "bystander", 1}, {2, "victim", 0}}));
}

TEST(StoreCorruption, ATruncatedPackFileIsCorruption) {
  // Cut pack 1 in the middle of the victim's slot, or exactly where the slot starts.
  for (uint64_t keep_of_victim : {kChunk / 2, uint64_t{0}}) {
    SCOPED_TRACE("keeping " + std::to_string(keep_of_victim) + " bytes of the victim's chunk");
    ScratchDir dir;
    std::vector<Owned> ts = {MakeBytes("victim", kChunk, 1), MakeBytes("bystander", 2 * kChunk, 2)};
    const Digest d = SaveTwoCheckpointsSharingAChunk(dir.path(), ts);
    std::optional<keys::ChunkRef> where;
    EditRocksDb(dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
      std::string value;
      ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), h[2], keys::ChunkIndexKey(d), &value).ok());
      where = keys::DecodeChunkRef(value);
      if (where) where->bytes = {};  // points into `value`
    });
    ASSERT_TRUE(where.has_value());
    ASSERT_FALSE(where->is_inline);
    ASSERT_EQ(where->pack, 1u);
    ASSERT_EQ(where->length, kChunk);
    const std::string pack1 = PackFile(dir.path(), 1);
    fs::resize_file(pack1, where->offset + keep_of_victim);

    auto store = MustOpen(dir.path());
    ASSERT_TRUE(store);
    for (bool verify : {true, false}) {
      ReadOptions o;
      o.verify_chunks = verify;
      auto r = store->Restore(Selector::Id(2), o);
      ASSERT_FALSE(r.ok()) << "verify_chunks=" << verify;
      const std::string& m = r.status().message();
      EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
      EXPECT_TRUE(Contains(m, "pack file " + pack1 + " ends before offset " + std::to_string(where->offset + kChunk)))
          << m;
      EXPECT_TRUE(Contains(m, "'victim'")) << m;
      EXPECT_TRUE(Contains(m, "checkpoint 2")) << m;
      EXPECT_TRUE(Contains(m, d.ToHex())) << m;
      auto r1 = store->Restore(Selector::Id(1), o);
      ASSERT_FALSE(r1.ok());
      EXPECT_EQ(r1.status().code(), Code::kCorruption) << r1.status().ToString();
      EXPECT_TRUE(Contains(r1.status().message(), "checkpoint 1")) << r1.status().ToString();
    }
    // Verify reports the victim in both checkpoints (and, in checkpoint 1, whichever bystander
    // chunks lay after it in the pack), nothing else in checkpoint 2.
    auto report = store->Verify();
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    std::set<CheckpointId> victim_in;
    for (const Damage& dm : report->damage) {
      if (dm.tensor == "victim") {
        victim_in.insert(dm.id);
        EXPECT_TRUE(Contains(dm.problem, "ends before offset")) << dm.problem;
      } else {
        EXPECT_EQ(dm.id, 1u) << dm.tensor << ": " << dm.problem;
        EXPECT_EQ(dm.tensor, "bystander");
      }
    }
    EXPECT_EQ(victim_in, (std::set<CheckpointId>{1, 2}));
  }
}

// Verified reads land and are hashed 256 KiB at a time (blake3::HashFilled): a pack cut after the
// first pieces of a 1 MiB chunk fails the same way as one cut before it, naming the chunk's end.
TEST(StoreCorruption, APackCutInsideAChunkOfSeveralHashPiecesIsCorruptionNamingItsEnd) {
  constexpr uint64_t kBig = 1 << 20;
  ScratchDir dir;
  StoreOptions options;
  options.chunk_size = kBig;
  {
    auto store = MustOpen(dir.path(), options);
    ASSERT_TRUE(store);
    MustSave(*store, {MakeBytes("big", kBig, 3)});
  }
  const Digest d = HashBytes(MakeBytes("big", kBig, 3).bytes.data(), kBig);
  std::optional<keys::ChunkRef> where;
  EditRocksDb(dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
    std::string value;
    ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), h[2], keys::ChunkIndexKey(d), &value).ok());
    where = keys::DecodeChunkRef(value);
    if (where) where->bytes = {};
  });
  ASSERT_TRUE(where.has_value());
  ASSERT_FALSE(where->is_inline);
  const std::string pack = PackFile(dir.path(), where->pack);
  fs::resize_file(pack, where->offset + 300 * 1024);  // inside the second of four pieces
  auto store = MustOpen(dir.path(), options);
  ASSERT_TRUE(store);
  for (bool verify : {true, false}) {
    ReadOptions o;
    o.verify_chunks = verify;
    auto r = store->Restore(Selector::Latest(), o);
    ASSERT_FALSE(r.ok()) << "verify_chunks=" << verify;
    EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
    EXPECT_TRUE(Contains(r.status().message(), "pack file " + pack + " ends before offset " +
                                                   std::to_string(where->offset + kBig)))
        << r.status().ToString();
  }
}

}  // namespace
}  // namespace ckptdb

// Specifies ckptdb::Store through its public API, against a real store directory (the RocksDB
// database in STORE/db, chunk bytes in STORE/packs/*.pack): exact round trips, content-addressed
// dedup, selectors, input errors, opening, on-disk corruption of packs and index, malformed
// manifests, the pack/index layout, and concurrent use.
#include "ckptdb/ckptdb.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/filesystem.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <new>
#include <optional>
#include <mutex>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "schema/codec.h"
#include "store/keys.h"
#include "tests/support/checkpoint_expect.h"
#include "tests/support/test_support.h"

extern char** environ;

namespace ckptdb {
namespace {

namespace fs = boost::filesystem;
using testing::DirectoryBytes;
using testing::ExpectSameInfo;
using testing::RandomBytes;
using testing::ScratchDir;

constexpr uint64_t kChunk = 64ull << 10;  // the smallest chunk size keeps test data small

StoreOptions SmallChunks(int threads = 4) {
  StoreOptions o;
  o.chunk_size = kChunk;
  o.threads = threads;
  return o;
}

// A tensor the test owns: its bytes outlive every Save that views them.
struct Owned {
  std::string name;
  DType dtype = DType::kU8;
  Shape shape;
  std::vector<uint8_t> bytes;

  TensorRef ref() const { return {name, dtype, shape, bytes.empty() ? nullptr : bytes.data(), bytes.size()}; }
};

Owned MakeTensor(std::string name, DType dtype, Shape shape, uint64_t seed) {
  Owned t{std::move(name), dtype, std::move(shape), {}};
  auto n = ExpectedBytes(t.dtype, t.shape);
  EXPECT_TRUE(n.has_value());
  // RandomBytes(s + 1) is RandomBytes(s) shifted by 8 bytes (splitmix64 streams of consecutive
  // seeds overlap), so spread the seeds: tensors made here share no runs of bytes below 8 MB.
  t.bytes = RandomBytes(seed * 1'000'003 + 12345, static_cast<size_t>(n.value_or(0)));
  return t;
}

Owned MakeBytes(std::string name, uint64_t size, uint64_t seed) {
  return MakeTensor(std::move(name), DType::kU8, {static_cast<int64_t>(size)}, seed);
}

std::vector<TensorRef> Refs(const std::vector<Owned>& ts) {
  std::vector<TensorRef> refs;
  for (const auto& t : ts) refs.push_back(t.ref());
  return refs;
}

std::unique_ptr<Store> MustOpen(const std::string& path, const StoreOptions& options = SmallChunks()) {
  auto r = Store::Open(path, options);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : nullptr;
}

CheckpointInfo MustSave(Store& store, const std::vector<Owned>& ts, SaveOptions options = {}) {
  auto r = store.Save(Refs(ts), options);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r.value() : CheckpointInfo{};
}

SaveOptions AtStep(int64_t step) {
  SaveOptions o;
  o.step = step;
  return o;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

void ExpectSameBytes(const uint8_t* got, uint64_t got_size, const std::vector<uint8_t>& want,
                     const std::string& name) {
  ASSERT_EQ(got_size, want.size()) << name;
  if (want.empty()) return;
  if (std::memcmp(got, want.data(), want.size()) == 0) return;
  size_t i = 0;
  while (got[i] == want[i]) ++i;
  ADD_FAILURE() << name << ": first differing byte at offset " << i;
}

// `got` must be exactly `want`, in order: names, dtypes, shapes and bytes.
void ExpectRestored(const std::vector<Tensor>& got, const std::vector<Owned>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE("tensor " + std::to_string(i) + " '" + want[i].name + "'");
    EXPECT_EQ(got[i].name, want[i].name);
    EXPECT_EQ(got[i].dtype, want[i].dtype);
    EXPECT_EQ(got[i].shape, want[i].shape);
    ExpectSameBytes(got[i].bytes.data(), got[i].bytes.size(), want[i].bytes, want[i].name);
  }
}

void ExpectRestores(Store& store, const Selector& which, const std::vector<Owned>& want) {
  auto r = store.Restore(which);
  ASSERT_TRUE(r.ok()) << which.ToString() << ": " << r.status().ToString();
  ExpectRestored(*r, want);
}

// Restores every tensor of `want` with RestoreInto, into buffers that start filled with 0xAB.
void ExpectRestoresInto(Store& store, const Selector& which, const std::vector<Owned>& want) {
  std::vector<std::vector<uint8_t>> storage;
  std::vector<TensorBuffer> buffers;
  for (const auto& t : want) storage.emplace_back(t.bytes.size(), 0xAB);
  for (size_t i = 0; i < want.size(); ++i)
    buffers.push_back({want[i].name, want[i].dtype, want[i].shape,
                       storage[i].empty() ? nullptr : storage[i].data(), storage[i].size()});
  Status s = store.RestoreInto(which, buffers);
  ASSERT_TRUE(s.ok()) << s.ToString();
  for (size_t i = 0; i < want.size(); ++i)
    ExpectSameBytes(storage[i].data(), storage[i].size(), want[i].bytes, want[i].name);
}

std::vector<CheckpointInfo> MustList(Store& store) {
  auto r = store.List();
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r.value() : std::vector<CheckpointInfo>{};
}

// Sum of the sizes of the files under `dir` whose names end with `suffix`.
uint64_t BytesOfFilesEndingWith(const std::string& dir, const std::string& suffix) {
  uint64_t total = 0;
  for (fs::recursive_directory_iterator it(dir), end; it != end; ++it) {
    const std::string name = it->path().filename().string();
    if (fs::is_regular_file(it->status()) && name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      total += fs::file_size(it->path());
  }
  return total;
}

// The regular files under `dir` (recursively) whose names end with `suffix`, sorted.
std::vector<std::string> FilesEndingWith(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> out;
  for (fs::recursive_directory_iterator it(dir), end; it != end; ++it) {
    const std::string name = it->path().filename().string();
    if (fs::is_regular_file(it->status()) && name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      out.push_back(it->path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Layout of a store directory: STORE/db/ is the RocksDB database, STORE/packs/ the pack files.
std::string DbDir(const std::string& store) { return store + "/db"; }
std::string PacksDir(const std::string& store) { return store + "/packs"; }

// "00000000000000000042.pack": the pack id in twenty decimal digits, zero-padded.
std::string PackName(uint64_t pack_id) {
  char name[32];
  std::snprintf(name, sizeof name, "%020llu.pack", static_cast<unsigned long long>(pack_id));
  return name;
}
std::string PackFile(const std::string& store, uint64_t pack_id) { return PacksDir(store) + "/" + PackName(pack_id); }

// Every file in STORE/packs: file name -> size in bytes.
using Packs = std::map<std::string, uint64_t>;
Packs PackFiles(const std::string& store) {
  Packs out;
  for (fs::directory_iterator it(PacksDir(store)), end; it != end; ++it)
    out[it->path().filename().string()] = fs::is_regular_file(it->status()) ? fs::file_size(it->path()) : 0;
  return out;
}

// A snapshot of every regular file under `dir`: relative path -> contents.
std::map<std::string, std::string> Snapshot(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (fs::recursive_directory_iterator it(dir), end; it != end; ++it)
    out[fs::relative(it->path(), dir).string() + (fs::is_directory(it->status()) ? "/" : "")] =
        fs::is_regular_file(it->status()) ? testing::ReadFileOrDie(it->path().string()) : "";
  return out;
}

// ---------------------------------------------------------------------------------------------
// Round trips.

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

TEST(StoreCatalog, SaveRecordsStepParentIdsMetadataMetricsTagsAndCommitTime) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  auto now = [] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch()).count();
  };
  std::vector<CheckpointInfo> saved;
  std::vector<std::map<std::string, std::string>> metadata;
  std::vector<std::vector<Owned>> states;
  for (int i = 0; i < 3; ++i) {
    SaveOptions o;
    o.step = 100 * (i + 1);
    o.metadata = {{"run", "r" + std::to_string(i)}, {"配置", "值 " + std::to_string(i)}, {"empty", ""}};
    o.metrics = {{"loss", 1.0 / (i + 1)}, {"acc", 0.5 + i * 0.1}};
    if (i == 1) o.tags = {"zeta", "alpha", "mid"};
    if (i == 2) o.tags = {"final"};
    states.push_back({MakeBytes("w", kChunk + 10 * i, 10 + i), MakeTensor("b", DType::kF32, {i + 1}, 20 + i)});
    const int64_t before = now();
    CheckpointInfo info = MustSave(*store, states.back(), o);
    const int64_t after = now();
    SCOPED_TRACE("save " + std::to_string(i));
    EXPECT_EQ(info.id, static_cast<CheckpointId>(i + 1)) << "ids are 1, 2, 3, ...";
    EXPECT_EQ(info.step, o.step);
    if (i == 0) EXPECT_FALSE(info.parent.has_value());
    else EXPECT_EQ(info.parent, std::optional<CheckpointId>(i)) << "parent is the previous head";
    EXPECT_GE(info.commit_time_ns, before);
    EXPECT_LE(info.commit_time_ns, after);
    EXPECT_EQ(info.tensor_count, 2u);
    EXPECT_EQ(info.logical_bytes, kChunk + 10 * i + 4 * (i + 1));
    EXPECT_EQ(info.metrics, o.metrics);
    std::vector<std::string> sorted_tags = o.tags;
    std::sort(sorted_tags.begin(), sorted_tags.end());
    EXPECT_EQ(info.tags, sorted_tags) << "tags come back sorted";
    saved.push_back(info);
    metadata.push_back(o.metadata);
  }
  EXPECT_LT(saved[0].commit_time_ns, saved[2].commit_time_ns);
  EXPECT_LE(saved[0].commit_time_ns, saved[1].commit_time_ns);

  auto check = [&](Store& s) {
    auto list = MustList(s);
    ASSERT_EQ(list.size(), 3u);
    for (size_t i = 0; i < 3; ++i) ExpectSameInfo(list[i], saved[i]);
    for (size_t i = 0; i < 3; ++i) {
      auto m = s.Describe(Selector::Id(saved[i].id));
      ASSERT_TRUE(m.ok()) << m.status().ToString();
      ExpectSameInfo(m->info, saved[i]);
      EXPECT_EQ(m->metadata, metadata[i]);
      EXPECT_EQ(m->chunk_size, kChunk);
      ASSERT_EQ(m->tensors.size(), 2u);
      EXPECT_EQ(m->tensors[0].name, "w");
      EXPECT_EQ(m->tensors[1].name, "b");
      EXPECT_EQ(m->tensors[1].dtype, DType::kF32);
      EXPECT_EQ(m->tensors[1].shape, Shape{static_cast<int64_t>(i + 1)});
      ExpectRestores(s, Selector::Id(saved[i].id), states[i]);
    }
  };
  check(*store);
  // Everything survives closing and reopening.
  store.reset();
  store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  check(*store);
  // Ids keep increasing across reopen, and the head is remembered.
  CheckpointInfo next = MustSave(*store, states[0]);
  EXPECT_EQ(next.id, 4u);
  EXPECT_EQ(next.parent, std::optional<CheckpointId>(3));
}

// ---------------------------------------------------------------------------------------------
// Dedup.

TEST(StoreDedup, SavingTheSameStateTwiceAddsNoChunkBytes) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  std::vector<Owned> ts = {MakeBytes("a", 6 * kChunk + 5, 1), MakeTensor("b", DType::kF32, {50000}, 2),
                           MakeTensor("c", DType::kI8, {3}, 3)};
  CheckpointInfo first = MustSave(*store, ts, AtStep(1));
  const uint64_t logical = 6 * kChunk + 5 + 200000 + 3;
  EXPECT_EQ(first.logical_bytes, logical);
  EXPECT_EQ(first.new_bytes, logical);

  // Chunks of 32 KiB and more go to the save's pack file, each in its own 4 KiB-aligned slot:
  // here a's 6 full chunks and b's 3 (b's 3392-byte tail, a's 5-byte tail and c stay inline in
  // the index), all 64 KiB, so the one pack file holds exactly 9 chunks.
  const Packs packs_before = PackFiles(dir.path());
  EXPECT_EQ(packs_before, (Packs{{PackName(1), 9 * kChunk}}));
  const std::string pack_bytes_before = testing::ReadFileOrDie(PackFile(dir.path(), 1));
  const uint64_t ssts_before = BytesOfFilesEndingWith(DbDir(dir.path()), ".sst");
  const uint64_t dir_before = DirectoryBytes(dir.path());

  CheckpointInfo second = MustSave(*store, ts, AtStep(2));
  EXPECT_EQ(second.new_bytes, 0u);
  EXPECT_EQ(second.logical_bytes, logical);
  // Nothing new is written: no new pack file, the existing one is unchanged byte for byte, and no
  // SST is written. The directory as a whole grows only by the synced WAL record of the manifest,
  // next_id and head (well under a KiB here) and possibly a few RocksDB LOG lines; the 16 KiB
  // slack is a quarter of one chunk, so a single rewritten chunk would exceed it.
  EXPECT_EQ(PackFiles(dir.path()), packs_before);
  EXPECT_EQ(testing::ReadFileOrDie(PackFile(dir.path(), 1)), pack_bytes_before);
  EXPECT_EQ(BytesOfFilesEndingWith(DbDir(dir.path()), ".sst"), ssts_before);
  EXPECT_LE(DirectoryBytes(dir.path()), dir_before + 16 * 1024);

  // The index survives a reopen: the same state still adds nothing.
  store.reset();
  store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  CheckpointInfo third = MustSave(*store, ts, AtStep(3));
  EXPECT_EQ(third.new_bytes, 0u);
  EXPECT_EQ(PackFiles(dir.path()), packs_before);
  ExpectRestores(*store, Selector::Id(first.id), ts);
  ExpectRestores(*store, Selector::Id(third.id), ts);
}

TEST(StoreDedup, ChangingOneChunkOfOneTensorAddsExactlyThatChunk) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  std::vector<Owned> ts = {MakeBytes("big", 4 * kChunk, 1), MakeBytes("other", 2 * kChunk, 2),
                           MakeTensor("small", DType::kF16, {10}, 3)};
  CheckpointInfo first = MustSave(*store, ts);
  auto before = store->Describe(Selector::Id(first.id));
  ASSERT_TRUE(before.ok());
  // big's 4 and other's 2 chunks are packed; small's 20 bytes are inline.
  ASSERT_EQ(PackFiles(dir.path()), (Packs{{PackName(1), 6 * kChunk}}));
  const std::string pack1 = testing::ReadFileOrDie(PackFile(dir.path(), 1));

  std::vector<Owned> changed = ts;
  changed[0].bytes[2 * kChunk + 12345] ^= 0x5A;  // inside chunk 2 of "big"
  CheckpointInfo second = MustSave(*store, changed);
  EXPECT_EQ(second.new_bytes, kChunk);
  EXPECT_EQ(second.logical_bytes, first.logical_bytes);

  auto after = store->Describe(Selector::Id(second.id));
  ASSERT_TRUE(after.ok());
  for (size_t k = 0; k < 4; ++k) {
    if (k == 2) EXPECT_NE(after->tensors[0].chunks[k], before->tensors[0].chunks[k]);
    else EXPECT_EQ(after->tensors[0].chunks[k], before->tensors[0].chunks[k]) << "chunk " << k;
  }
  EXPECT_EQ(after->tensors[1].chunks, before->tensors[1].chunks);
  EXPECT_EQ(after->tensors[2].chunks, before->tensors[2].chunks);
  // On disk: one new pack file holding exactly the one 64 KiB chunk (a 4 KiB-aligned slot, so no
  // padding), and the first pack untouched: packs are append-only and never rewritten.
  EXPECT_EQ(PackFiles(dir.path()),
            (Packs{{PackName(1), 6 * kChunk}, {PackName(2), kChunk}}));
  EXPECT_EQ(testing::ReadFileOrDie(PackFile(dir.path(), 1)), pack1);
  const std::string pack2 = testing::ReadFileOrDie(PackFile(dir.path(), 2));
  EXPECT_TRUE(pack2.size() == kChunk && std::memcmp(pack2.data(), changed[0].bytes.data() + 2 * kChunk, kChunk) == 0)
      << "the new pack holds the changed chunk's bytes";

  ExpectRestores(*store, Selector::Id(first.id), ts);
  ExpectRestores(*store, Selector::Id(second.id), changed);
}

TEST(StoreDedup, ChangingTheShortLastChunkAddsOnlyItsBytes) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  std::vector<Owned> ts = {MakeBytes("w", 3 * kChunk + 100, 1)};
  MustSave(*store, ts);
  ts[0].bytes.back() ^= 1;
  EXPECT_EQ(MustSave(*store, ts).new_bytes, 100u);
  ExpectRestores(*store, Selector::Latest(), ts);
}

TEST(StoreDedup, TiedWeightsInOneCheckpointAreStoredOnce) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  Owned embed = MakeBytes("embed.weight", 3 * kChunk + 7, 1);
  Owned head = embed;
  head.name = "lm_head.weight";
  Owned as_f32 = embed;  // the same bytes under another dtype and shape are the same chunks
  as_f32.name = "as_f32";
  as_f32.bytes.resize(3 * kChunk);
  as_f32.dtype = DType::kF32;
  as_f32.shape = {3, int64_t(kChunk) / 4};
  std::vector<Owned> ts = {embed, head, as_f32};
  CheckpointInfo info = MustSave(*store, ts);
  EXPECT_EQ(info.logical_bytes, 2 * (3 * kChunk + 7) + 3 * kChunk);
  EXPECT_EQ(info.new_bytes, 3 * kChunk + 7) << "one copy of the tied weights";
  ExpectRestores(*store, Selector::Latest(), ts);
}

TEST(StoreDedup, IdenticalChunksInsideOneTensorAreStoredOnce) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  Owned zeros{"zeros", DType::kF32, {int64_t(8 * kChunk / 4)}, std::vector<uint8_t>(8 * kChunk, 0)};
  CheckpointInfo info = MustSave(*store, {zeros});
  EXPECT_EQ(info.logical_bytes, 8 * kChunk);
  EXPECT_EQ(info.new_bytes, kChunk);

  // A B A B A: two distinct chunks plus a distinct short tail.
  Owned pattern = MakeBytes("abab", 4 * kChunk + 10, 0);
  auto a = RandomBytes(11'000'000, kChunk), b = RandomBytes(12'000'000, kChunk);
  for (int k = 0; k < 4; ++k) std::memcpy(pattern.bytes.data() + k * kChunk, (k % 2 ? b : a).data(), kChunk);
  std::memcpy(pattern.bytes.data() + 4 * kChunk, a.data(), 10);
  CheckpointInfo second = MustSave(*store, {pattern});
  EXPECT_EQ(second.new_bytes, 2 * kChunk + 10);
  ExpectRestores(*store, Selector::Id(info.id), {zeros});
  ExpectRestores(*store, Selector::Id(second.id), {pattern});
}

// ---------------------------------------------------------------------------------------------
// Selectors.

TEST(StoreSelectors, LatestIsTheMostRecentlyCommittedNotTheHighestStep) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  std::vector<std::vector<Owned>> states;
  for (int64_t step : {10, 30, 20}) {
    states.push_back({MakeBytes("w", 100, step)});
    MustSave(*store, states.back(), AtStep(step));
  }
  auto m = store->Describe(Selector::Latest());
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->info.id, 3u);
  EXPECT_EQ(m->info.step, 20);
  ExpectRestores(*store, Selector::Latest(), states[2]);
}

TEST(StoreSelectors, StepPicksTheMostRecentlyCommittedCheckpointWithThatStep) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  std::vector<Owned> a = {MakeBytes("w", 100, 1)}, b = {MakeBytes("w", 100, 2)}, c = {MakeBytes("w", 100, 3)};
  MustSave(*store, a, AtStep(5));
  MustSave(*store, b, AtStep(6));
  MustSave(*store, c, AtStep(5));
  MustSave(*store, b, AtStep(-1));
  auto m = store->Describe(Selector::Step(5));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->info.id, 3u);
  ExpectRestores(*store, Selector::Step(5), c);
  ExpectRestoresInto(*store, Selector::Step(5), c);
  ExpectRestores(*store, Selector::Step(6), b);
  ExpectRestores(*store, Selector::Step(-1), b);
}

TEST(StoreSelectors, IdPicksExactlyThatCheckpoint) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  std::vector<std::vector<Owned>> states;
  for (int i = 0; i < 4; ++i) {
    states.push_back({MakeBytes("w", kChunk + i, 100 + i)});
    MustSave(*store, states.back(), AtStep(7));
  }
  for (int i = 0; i < 4; ++i) {
    ExpectRestores(*store, Selector::Id(i + 1), states[i]);
    ExpectRestoresInto(*store, Selector::Id(i + 1), states[i]);
  }
}

TEST(StoreSelectors, SelectorsSpellThemselvesForMessages) {
  EXPECT_EQ(Selector::Latest().ToString(), "latest");
  EXPECT_EQ(Selector::Step(42).ToString(), "step 42");
  EXPECT_EQ(Selector::Step(-3).ToString(), "step -3");
  EXPECT_EQ(Selector::Id(7).ToString(), "id 7");
}

TEST(StoreSelectors, NotFoundNamesTheStoreAndTheSelector) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  auto check = [&](const Selector& which, const std::string& when) {
    SCOPED_TRACE(when + ", " + which.ToString());
    auto d = store->Describe(which);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.status().code(), Code::kNotFound);
    EXPECT_TRUE(Contains(d.status().message(), dir.path())) << d.status().ToString();
    EXPECT_TRUE(Contains(d.status().message(), which.ToString())) << d.status().ToString();
    auto r = store->Restore(which);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kNotFound);
    EXPECT_TRUE(Contains(r.status().message(), dir.path())) << r.status().ToString();
    EXPECT_TRUE(Contains(r.status().message(), which.ToString())) << r.status().ToString();
    std::vector<uint8_t> buf(4);
    std::vector<TensorBuffer> bufs = {{"w", DType::kU8, {4}, buf.data(), 4}};
    Status s = store->RestoreInto(which, bufs);
    EXPECT_EQ(s.code(), Code::kNotFound);
    EXPECT_TRUE(Contains(s.message(), which.ToString())) << s.ToString();
  };
  check(Selector::Latest(), "empty store");
  check(Selector::Step(42), "empty store");
  check(Selector::Id(7), "empty store");
  MustSave(*store, {MakeBytes("w", 4, 1)}, AtStep(1));
  check(Selector::Step(42), "one checkpoint");
  check(Selector::Id(7), "one checkpoint");
  check(Selector::Id(0), "one checkpoint");
}

// ---------------------------------------------------------------------------------------------
// Input errors.

// Saving `ts` fails with InvalidArgument whose message contains every string in `must_name`, and
// nothing is committed.
void ExpectSaveRejected(Store& store, const std::vector<TensorRef>& ts, const std::vector<std::string>& must_name,
                        const std::string& what) {
  SCOPED_TRACE(what);
  const auto before = MustList(store);
  auto r = store.Save(ts, AtStep(77));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << r.status().ToString();
  for (const auto& s : must_name) EXPECT_TRUE(Contains(r.status().message(), s)) << r.status().ToString();
  const auto after = MustList(store);
  ASSERT_EQ(after.size(), before.size()) << "a failed save committed a checkpoint";
  for (size_t i = 0; i < before.size(); ++i) ExpectSameInfo(after[i], before[i]);
}

TEST(StoreErrors, SaveRejectsMalformedTensorsNamingThemAndCommitsNothing) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  std::vector<Owned> good = {MakeBytes("good", 2 * kChunk, 1)};
  CheckpointInfo first = MustSave(*store, good, AtStep(1));
  std::vector<uint8_t> data(64, 1);
  const TensorRef ok = good[0].ref();

  ExpectSaveRejected(*store, {ok, {"dup", DType::kU8, {4}, data.data(), 4}, {"dup", DType::kU8, {4}, data.data(), 4}},
                     {"'dup'", dir.path()}, "duplicate names");
  ExpectSaveRejected(*store, {ok, {"short", DType::kF32, {4}, data.data(), 15}}, {"'short'", "16", "15"},
                     "size one byte short");
  ExpectSaveRejected(*store, {ok, {"long", DType::kF32, {4}, data.data(), 17}}, {"'long'"}, "size one byte over");
  ExpectSaveRejected(*store, {ok, {"f64_size_of_f32", DType::kF64, {4}, data.data(), 16}},
                     {"'f64_size_of_f32'", "F64", "32"}, "dtype disagrees with size");
  ExpectSaveRejected(*store, {ok, {"shape", DType::kU8, {2, 3}, data.data(), 5}}, {"'shape'", "[2, 3]"},
                     "shape disagrees with size");
  ExpectSaveRejected(*store, {ok, {"neg", DType::kU8, {-4}, data.data(), 4}}, {"'neg'"}, "negative dimension");
  ExpectSaveRejected(*store, {ok, {"overflow", DType::kU8, {int64_t(1) << 62, 8}, data.data(), 0}}, {"'overflow'"},
                     "element count overflows");
  ExpectSaveRejected(*store, {ok, {"bad_dtype", static_cast<DType>(0), {4}, data.data(), 4}}, {"'bad_dtype'"},
                     "dtype 0");
  ExpectSaveRejected(*store, {ok, {"bad_dtype", static_cast<DType>(99), {4}, data.data(), 4}}, {"'bad_dtype'"},
                     "dtype 99");
  ExpectSaveRejected(*store, {ok, {"", DType::kU8, {4}, data.data(), 4}}, {"name", "empty"}, "empty name");
  ExpectSaveRejected(*store, {ok, {"bad\xff\xfename", DType::kU8, {4}, data.data(), 4}}, {"name", "UTF-8"},
                     "invalid UTF-8 name");
  ExpectSaveRejected(*store, {ok, {"\xed\xa0\x80", DType::kU8, {4}, data.data(), 4}}, {"UTF-8"},
                     "surrogate code point in name");
  ExpectSaveRejected(*store, {ok, {"null_data", DType::kU8, {4}, nullptr, 4}}, {"'null_data'", "null"},
                     "null data");

  // The failures consumed nothing: the next save is checkpoint 2 with checkpoint 1 as parent.
  CheckpointInfo next = MustSave(*store, good, AtStep(2));
  EXPECT_EQ(next.id, first.id + 1);
  EXPECT_EQ(next.parent, std::optional<CheckpointId>(first.id));
}

TEST(StoreErrors, SaveRejectsBadTagsMetricsAndMetadataAndCommitsNothing) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  std::vector<Owned> ts = {MakeBytes("w", 10, 1)};
  auto rejected = [&](SaveOptions o, const std::string& what) {
    SCOPED_TRACE(what);
    auto r = store->Save(Refs(ts), o);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << r.status().ToString();
    EXPECT_TRUE(MustList(*store).empty());
  };
  SaveOptions o;
  o.tags = {"a", "a"};
  rejected(o, "tag given twice");
  o.tags = {""};
  rejected(o, "empty tag");
  o.tags = {"\xff"};
  rejected(o, "non-UTF-8 tag");
  o = {};
  o.metrics = {{"", 1.0}};
  rejected(o, "empty metric name");
  o = {};
  o.metadata = {{"", "x"}};
  rejected(o, "empty metadata key");
  o.metadata = {{"k", "\xc0\xaf"}};
  rejected(o, "non-UTF-8 metadata value");
}

TEST(StoreErrors, TagAlreadyInUseIsAlreadyExistsAndSavesNothing) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  SaveOptions o = AtStep(1);
  o.tags = {"best"};
  CheckpointInfo first = MustSave(*store, {MakeBytes("w", 10, 1)}, o);

  std::vector<Owned> second_state = {MakeBytes("w", 3 * kChunk, 2)};
  SaveOptions again = AtStep(2);
  again.tags = {"new", "best"};
  auto r = store->Save(Refs(second_state), again);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kAlreadyExists) << r.status().ToString();
  EXPECT_TRUE(Contains(r.status().message(), "'best'")) << r.status().ToString();
  EXPECT_TRUE(Contains(r.status().message(), dir.path())) << r.status().ToString();

  auto list = MustList(*store);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].tags, std::vector<std::string>{"best"});
  // Nothing was saved: not the tag "new", and not the chunks -- saving that state now adds them all.
  SaveOptions retry = AtStep(3);
  retry.tags = {"new"};
  CheckpointInfo third = MustSave(*store, second_state, retry);
  EXPECT_EQ(third.id, first.id + 1);
  EXPECT_EQ(third.parent, std::optional<CheckpointId>(first.id));
  EXPECT_EQ(third.new_bytes, 3 * kChunk);
  list = MustList(*store);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].tags, std::vector<std::string>{"best"});
  EXPECT_EQ(list[1].tags, std::vector<std::string>{"new"});
}

TEST(StoreErrors, RestoreIntoRejectsMismatchedBuffersNamingTheTensor) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  std::vector<Owned> ts = {MakeTensor("w", DType::kF32, {2, 8}, 1), MakeBytes("other", 5, 2)};
  MustSave(*store, ts);
  std::vector<uint8_t> buf(64, 0);
  struct Case {
    TensorBuffer b;
    Code code;
    const char* what;
  };
  const Case cases[] = {
      {{"w", DType::kI32, {2, 8}, buf.data(), 64}, Code::kInvalidArgument, "wrong dtype, same size"},
      {{"w", DType::kF16, {2, 8}, buf.data(), 32}, Code::kInvalidArgument, "wrong dtype and size"},
      {{"w", DType::kF32, {8, 2}, buf.data(), 64}, Code::kInvalidArgument, "transposed shape"},
      {{"w", DType::kF32, {16}, buf.data(), 64}, Code::kInvalidArgument, "flattened shape"},
      {{"w", DType::kF32, {2, 8}, buf.data(), 60}, Code::kInvalidArgument, "short buffer"},
      {{"w", DType::kF32, {2, 8}, nullptr, 64}, Code::kInvalidArgument, "null data"},
      {{"missing", DType::kF32, {2, 8}, buf.data(), 64}, Code::kNotFound, "unknown name"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    std::vector<uint8_t> other(5);
    std::vector<TensorBuffer> bufs = {{"other", DType::kU8, {5}, other.data(), 5}, c.b};
    Status s = store->RestoreInto(Selector::Latest(), bufs);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.code(), c.code) << s.ToString();
    EXPECT_TRUE(Contains(s.message(), "'" + c.b.name + "'")) << s.ToString();
  }
}

// ---------------------------------------------------------------------------------------------
// Buffer: the owned bytes Restore hands back.

TEST(Buffer, AllocatesAlignedBytesOfTheRequestedSize) {
  for (uint64_t n : {uint64_t{0}, uint64_t{1}, uint64_t{63}, uint64_t{64}, uint64_t{65}, kChunk + 1}) {
    Buffer b = Buffer::Allocate(n);
    EXPECT_EQ(b.size(), n);
    ASSERT_NE(b.data(), nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % 64, 0u);
    if (n) {
      std::memset(b.data(), 0x5A, n);  // every byte is writable
      EXPECT_EQ(b.data()[n - 1], 0x5A);
    }
  }
}

TEST(Buffer, FromOneMiBUpIsPageAligned) {
  // tensor.h: 4 KiB aligned from 1 MiB up, so that restores can read into it with O_DIRECT.
  for (uint64_t n : {uint64_t{1} << 20, (uint64_t{1} << 20) + 1, (uint64_t{3} << 20) + 5, uint64_t{16} << 20}) {
    SCOPED_TRACE("size " + std::to_string(n));
    Buffer b = Buffer::Allocate(n);
    EXPECT_EQ(b.size(), n);
    ASSERT_NE(b.data(), nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % 4096, 0u);
    std::memset(b.data(), 0x5A, n);  // every byte is writable
    EXPECT_EQ(b.data()[0], 0x5A);
    EXPECT_EQ(b.data()[n - 1], 0x5A);
  }
}

TEST(Buffer, AnImpossibleSizeFailsInsteadOfReturningAShortBuffer) {
  // tensor.h: Allocate "aborts on out-of-memory like new". Rounding a size near 2^64 up to a
  // multiple of 64 must not wrap around to a 64-byte allocation that claims to be huge.
  for (uint64_t n : {std::numeric_limits<uint64_t>::max(), std::numeric_limits<uint64_t>::max() - 1,
                     std::numeric_limits<uint64_t>::max() - 62}) {
    SCOPED_TRACE("size " + std::to_string(n));
    bool threw = false;
    try {
      Buffer b = Buffer::Allocate(n);
      ADD_FAILURE() << "returned a buffer claiming " << b.size() << " bytes";
    } catch (const std::bad_alloc&) {
      threw = true;
    }
    EXPECT_TRUE(threw);
  }
}

// ---------------------------------------------------------------------------------------------
// Opening.

TEST(StoreOpen, MissingStoreWithoutCreateIsNotFoundNamingThePath) {
  ScratchDir dir;
  const std::string path = dir.Join("no-such-store");
  StoreOptions o = SmallChunks();
  o.create_if_missing = false;
  auto r = Store::Open(path, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound) << r.status().ToString();
  EXPECT_TRUE(Contains(r.status().message(), path)) << r.status().ToString();
  EXPECT_FALSE(fs::exists(path)) << "a failed open created the directory";

  // An existing but empty directory is no store either, and stays empty.
  auto empty = Store::Open(dir.path(), o);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), Code::kNotFound) << empty.status().ToString();
  EXPECT_TRUE(Contains(empty.status().message(), dir.path())) << empty.status().ToString();
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(StoreOpen, CreatesMissingDirectoriesWhenAllowed) {
  ScratchDir dir;
  const std::string path = dir.Join("a/b/store");
  auto store = MustOpen(path);
  ASSERT_TRUE(store);
  EXPECT_EQ(store->path(), path);
  EXPECT_EQ(store->chunk_size(), kChunk);
  EXPECT_TRUE(MustList(*store).empty());
}

TEST(StoreOpen, BadChunkSizeIsInvalidArgumentAndCreatesNothing) {
  ScratchDir dir;
  for (uint64_t c : {uint64_t{0}, uint64_t{1000}, kChunk / 2, kChunk - 1, kChunk + 1, 3 * kChunk,
                     uint64_t{64} << 20 | 1, uint64_t{128} << 20, uint64_t{1} << 63}) {
    SCOPED_TRACE("chunk size " + std::to_string(c));
    const std::string path = dir.Join("s" + std::to_string(c));
    StoreOptions o;
    o.chunk_size = c;
    auto r = Store::Open(path, o);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << r.status().ToString();
    EXPECT_TRUE(Contains(r.status().message(), std::to_string(c))) << r.status().ToString();
    EXPECT_FALSE(fs::exists(path));
  }
  for (uint64_t c : {kChunk, uint64_t{64} << 20}) {
    StoreOptions o;
    o.chunk_size = c;
    auto store = MustOpen(dir.Join("ok" + std::to_string(c)), o);
    ASSERT_TRUE(store);
    EXPECT_EQ(store->chunk_size(), c);
  }
}

TEST(StoreOpen, NonEmptyDirectoryThatIsNotAStoreIsRefusedAndLeftUntouched) {
  ScratchDir dir;
  testing::WriteFileOrDie(dir.Join("notes.txt"), "my thesis, final version");
  fs::create_directories(dir.Join("sub"));
  testing::WriteFileOrDie(dir.Join("sub/data.bin"), std::string(1000, '\x01'));
  const auto before = Snapshot(dir.path());
  for (bool create : {true, false}) {
    SCOPED_TRACE("create_if_missing=" + std::to_string(create));
    StoreOptions o = SmallChunks();
    o.create_if_missing = create;
    auto r = Store::Open(dir.path(), o);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(Contains(r.status().message(), dir.path())) << r.status().ToString();
    EXPECT_EQ(Snapshot(dir.path()), before) << "the directory was changed";
  }
}

TEST(StoreOpen, AFileInPlaceOfTheDirectoryIsAnError) {
  ScratchDir dir;
  const std::string path = dir.Join("file");
  testing::WriteFileOrDie(path, "x");
  auto r = Store::Open(path, SmallChunks());
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), path)) << r.status().ToString();
  EXPECT_EQ(testing::ReadFileOrDie(path), "x");
}

TEST(StoreOpen, ReopeningKeepsTheChunkSizeRecordedAtCreation) {
  ScratchDir dir;
  {
    auto store = MustOpen(dir.path(), SmallChunks());
    ASSERT_TRUE(store);
    MustSave(*store, {MakeBytes("w", 2 * kChunk, 1)});
  }
  StoreOptions other;
  other.chunk_size = 1ull << 20;
  auto store = MustOpen(dir.path(), other);
  ASSERT_TRUE(store);
  EXPECT_EQ(store->chunk_size(), kChunk);
  CheckpointInfo info = MustSave(*store, {MakeBytes("v", 2 * kChunk, 2)});
  auto m = store->Describe(Selector::Id(info.id));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->chunk_size, kChunk);
  EXPECT_EQ(m->tensors[0].chunks.size(), 2u) << "cut at the store's 64 KiB, not the option's 1 MiB";
}

TEST(StoreOpen, ReopeningIgnoresAnInvalidChunkSizeOption) {
  // options.h: chunk_size is "ignored when opening an existing one"; store.h: InvalidArgument for a
  // bad chunk_size "when creating".
  ScratchDir dir;
  { ASSERT_TRUE(MustOpen(dir.path(), SmallChunks())); }
  StoreOptions other;
  other.chunk_size = 12345;
  other.create_if_missing = false;
  auto r = Store::Open(dir.path(), other);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->chunk_size(), kChunk);
}

TEST(StoreOpen, SecondOpenInTheSameProcessIsBusyNamingThePath) {
  ScratchDir dir;
  auto first = MustOpen(dir.path());
  ASSERT_TRUE(first);
  std::vector<Owned> ts = {MakeBytes("w", 100, 1)};
  MustSave(*first, ts);
  for (bool create : {true, false}) {
    StoreOptions o = SmallChunks();
    o.create_if_missing = create;
    auto second = Store::Open(dir.path(), o);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.status().code(), Code::kBusy) << second.status().ToString();
    EXPECT_TRUE(Contains(second.status().message(), dir.path())) << second.status().ToString();
  }
  // The refused open did not disturb the first.
  ExpectRestores(*first, Selector::Latest(), ts);
  MustSave(*first, ts);
  // Once the first closes, the store opens again.
  first.reset();
  auto third = MustOpen(dir.path());
  ASSERT_TRUE(third);
  EXPECT_EQ(MustList(*third).size(), 2u);
}

TEST(StoreOpen, SecondOpenFromAnotherProcessIsBusyNamingThePath) {
  // The other process is the real ckptdb tool: RocksDB's LOCK is per process, so only a separate
  // process shows what a second trainer or a CLI user would see.
  ScratchDir dir;
  const std::string store_path = dir.Join("store");
  auto first = MustOpen(store_path);
  ASSERT_TRUE(first);
  MustSave(*first, {MakeBytes("w", 100, 1)});
  std::string output;
  EXPECT_EQ(testing::RunProcess({testing::CliPath(), "verify", store_path}, &output), 1) << output;
  EXPECT_TRUE(Contains(output, "open in another process")) << output;
  EXPECT_TRUE(Contains(output, store_path)) << output;
  // After the first process lets go, the other process may open it.
  first.reset();
  EXPECT_EQ(testing::RunProcess({testing::CliPath(), "verify", store_path}, &output), 0) << output;
}

// ---------------------------------------------------------------------------------------------
// On-disk damage.

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

// Opens the RocksDB database of the store at `path` (STORE/db; the store must be closed) directly,
// with the three column families and default options -- none needs BlobDB or any other option to
// be read -- applies `edit` to it (handles: default, manifests, chunks), and closes it.
void EditRocksDb(const std::string& path,
                 const std::function<void(rocksdb::DB&, const std::vector<rocksdb::ColumnFamilyHandle*>&)>& edit) {
  rocksdb::DBOptions dbo;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {{keys::kMetaCf, rocksdb::ColumnFamilyOptions()},
                                                      {keys::kManifestCf, rocksdb::ColumnFamilyOptions()},
                                                      {keys::kChunkCf, rocksdb::ColumnFamilyOptions()}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(dbo, DbDir(path), cfs, &handles, &raw);
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::unique_ptr<rocksdb::DB> db(raw);
  edit(*db, handles);
  for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
  ASSERT_TRUE(db->Close().ok());
}

struct TwoCheckpointStore {
  ScratchDir dir;
  std::vector<Owned> first = {MakeBytes("a", kChunk + 3, 1)};
  std::vector<Owned> second = {MakeBytes("b", 100, 2)};

  TwoCheckpointStore() {
    auto store = MustOpen(dir.path());
    if (!store) return;
    MustSave(*store, first, AtStep(10));
    MustSave(*store, second, AtStep(20));
  }
};

// Whether `message` names checkpoint `id` ("checkpoint 2" or "id 2").
bool NamesCheckpoint(const std::string& message, CheckpointId id) {
  return Contains(message, "checkpoint " + std::to_string(id)) || Contains(message, "id " + std::to_string(id));
}

void ExpectCheckpointCorrupt(Store& store, CheckpointId bad, const std::string& what) {
  SCOPED_TRACE(what);
  auto list = store.List();
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.status().code(), Code::kCorruption) << list.status().ToString();
  EXPECT_TRUE(NamesCheckpoint(list.status().message(), bad)) << list.status().ToString();
  EXPECT_TRUE(Contains(list.status().message(), store.path())) << list.status().ToString();
  for (const Selector& which : {Selector::Id(bad), Selector::Latest(), Selector::Step(20)}) {
    SCOPED_TRACE(which.ToString());
    auto d = store.Describe(which);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.status().code(), Code::kCorruption) << d.status().ToString();
    EXPECT_TRUE(NamesCheckpoint(d.status().message(), bad)) << d.status().ToString();
    auto r = store.Restore(which);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
  }
  // Verify does not stop at the undecodable manifest: it reports it as damage to the whole
  // checkpoint (empty tensor, step 0) and still checks the other checkpoints' chunks.
  auto v = store.Verify();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_FALSE(v->ok());
  EXPECT_EQ(v->checkpoints, 2u);
  ASSERT_EQ(v->damage.size(), 1u);
  EXPECT_EQ(v->damage[0].id, bad);
  EXPECT_EQ(v->damage[0].step, 0);
  EXPECT_EQ(v->damage[0].tensor, "");
  EXPECT_FALSE(v->damage[0].problem.empty());
}

// Saves two checkpoints that both use the one chunk of "victim", closes the store, and returns
// that chunk's digest.
Digest SaveTwoCheckpointsSharingAChunk(const std::string& path, const std::vector<Owned>& ts) {
  auto store = MustOpen(path);
  if (!store) return {};
  MustSave(*store, ts, AtStep(100));
  MustSave(*store, {ts[0], MakeBytes("bystander", 2 * kChunk, 3)}, AtStep(200));
  return HashBytes(ts[0].bytes.data(), ts[0].bytes.size());
}

// Restoring either checkpoint fails with Corruption naming the store, the checkpoint, the tensor
// "victim", its chunk 0 and the chunk's digest, and saying `problem_contains`; Verify reports the
// chunk once per checkpoint, with that problem.
void ExpectVictimDamaged(Store& store, const Digest& victim, const std::string& problem_contains) {
  for (CheckpointId id : {1u, 2u}) {
    SCOPED_TRACE("checkpoint " + std::to_string(id));
    auto r = store.Restore(Selector::Id(id));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
    EXPECT_TRUE(Contains(r.status().message(), store.path())) << r.status().ToString();
    EXPECT_TRUE(Contains(r.status().message(), "'victim'")) << r.status().ToString();
    EXPECT_TRUE(Contains(r.status().message(), "checkpoint " + std::to_string(id))) << r.status().ToString();
    EXPECT_TRUE(Contains(r.status().message(), "chunk 0")) << r.status().ToString();
    EXPECT_TRUE(Contains(r.status().message(), victim.ToHex())) << r.status().ToString();
    EXPECT_TRUE(Contains(r.status().message(), problem_contains)) << r.status().ToString();
  }
  auto report = store.Verify();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(report->damage.size(), 2u);
  for (const Damage& d : report->damage) {
    EXPECT_EQ(d.tensor, "victim");
    EXPECT_EQ(d.chunk_index, 0u);
    EXPECT_EQ(d.chunk, victim);
    EXPECT_TRUE(Contains(d.problem, problem_contains)) << d.problem;
  }
  EXPECT_EQ(report->damage[0].id + report->damage[1].id, 3u) << "checkpoints 1 and 2";
}

TEST(StoreCorruption, AMissingChunkIsCorruptionAndVerifyReportsItMissing) {
  ScratchDir dir;
  std::vector<Owned> ts = {MakeBytes("victim", kChunk, 1), MakeBytes("bystander", 2 * kChunk, 2)};
  const Digest d = SaveTwoCheckpointsSharingAChunk(dir.path(), ts);
  EditRocksDb(dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
    std::string value;
    ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), h[2], keys::ChunkIndexKey(d), &value).ok()) << "no index entry";
    rocksdb::WriteOptions wo;
    wo.sync = true;
    ASSERT_TRUE(db.Delete(wo, h[2], keys::ChunkIndexKey(d)).ok());
  });
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  ExpectVictimDamaged(*store, d, "chunk " + d.ToHex() + " is missing");
  ReadOptions fast;
  fast.verify_chunks = false;
  auto r = store->Restore(Selector::Id(1), fast);
  ASSERT_FALSE(r.ok()) << "a missing chunk is an error even without digest checks";
  EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
}

TEST(StoreCorruption, AChunkOfTheWrongLengthIsCorruption) {
  // The index entry of the victim's 64 KiB chunk claims another length: a packed entry (same pack
  // and offset) claiming fewer or more bytes, or an inline entry holding 10 bytes.
  struct Case {
    const char* what;
    uint64_t length;
    std::function<std::string(const keys::ChunkRef&)> value;
  };
  const Case cases[] = {
      {"packed, 10 bytes", 10, [](const keys::ChunkRef& r) { return keys::EncodePackedChunk(r.pack, r.offset, 10); }},
      {"packed, one byte short", kChunk - 1,
       [](const keys::ChunkRef& r) { return keys::EncodePackedChunk(r.pack, r.offset, kChunk - 1); }},
      {"packed, 4 KiB over", kChunk + 4096,
       [](const keys::ChunkRef& r) { return keys::EncodePackedChunk(r.pack, r.offset, kChunk + 4096); }},
      {"inline, 10 bytes", 10, [](const keys::ChunkRef&) { return keys::EncodeInlineChunk("0123456789", 10); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    ScratchDir dir;
    std::vector<Owned> ts = {MakeBytes("victim", kChunk, 1), MakeBytes("bystander", 2 * kChunk, 2)};
    const Digest d = SaveTwoCheckpointsSharingAChunk(dir.path(), ts);
    EditRocksDb(dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
      std::string value;
      ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), h[2], keys::ChunkIndexKey(d), &value).ok());
      auto ref = keys::DecodeChunkRef(value);
      ASSERT_TRUE(ref.has_value());
      ASSERT_FALSE(ref->is_inline);
      rocksdb::WriteOptions wo;
      wo.sync = true;
      ASSERT_TRUE(db.Put(wo, h[2], keys::ChunkIndexKey(d), c.value(*ref)).ok());
    });
    auto store = MustOpen(dir.path());
    ASSERT_TRUE(store);
    ExpectVictimDamaged(*store, d, "holds " + std::to_string(c.length) + " bytes, expected " + std::to_string(kChunk));
    ReadOptions fast;
    fast.verify_chunks = false;
    auto r = store->Restore(Selector::Id(1), fast);
    ASSERT_FALSE(r.ok()) << "lengths are checked even without digest checks";
    EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
  }
}

TEST(StoreCorruption, AMalformedIndexEntryIsCorruption) {
  const std::pair<const char*, std::string> cases[] = {
      {"3 bytes", std::string("P\0\0", 3)},
      {"empty", ""},
      {"packed entry one byte short", "P" + std::string(23, '\0')},
      {"packed entry one byte long", "P" + std::string(25, '\0')},
      {"unknown kind", "X" + std::string(24, '\0')},
  };
  for (const auto& [what, value] : cases) {
    SCOPED_TRACE(what);
    ScratchDir dir;
    std::vector<Owned> ts = {MakeBytes("victim", kChunk, 1), MakeBytes("bystander", 2 * kChunk, 2)};
    const Digest d = SaveTwoCheckpointsSharingAChunk(dir.path(), ts);
    EditRocksDb(dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
      rocksdb::WriteOptions wo;
      wo.sync = true;
      ASSERT_TRUE(db.Put(wo, h[2], keys::ChunkIndexKey(d), value).ok());
    });
    auto store = MustOpen(dir.path());
    ASSERT_TRUE(store);
    ExpectVictimDamaged(*store, d, "index entry of chunk " + d.ToHex() + " is malformed");
    ReadOptions fast;
    fast.verify_chunks = false;
    auto r = store->Restore(Selector::Id(1), fast);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
    // The bystander's chunks are intact.
    std::vector<uint8_t> by(2 * kChunk);
    std::vector<TensorBuffer> only_bystander = {{"bystander", DType::kU8, {int64_t(2 * kChunk)}, by.data(), by.size()}};
    Status s = store->RestoreInto(Selector::Id(1), only_bystander);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(by, ts[1].bytes);
  }
}

TEST(StoreCorruption, AnIndexEntryPointingElsewhereIsCorruptionWithAndWithoutDirectIo) {
  // The victim's packed entry is rewritten to point at bytes that are not its chunk: one byte
  // further (an offset no save writes, since slots are 4 KiB-aligned), the next slot, past the end
  // of the pack, or a pack that does not exist. Damage in the index is Corruption like damage in the
  // pack, whatever the I/O mode.
  struct Case {
    const char* what;
    std::function<std::string(const keys::ChunkRef&)> value;
    std::string problem;
  };
  const Case cases[] = {
      {"offset + 1", [](const keys::ChunkRef& r) { return keys::EncodePackedChunk(r.pack, r.offset + 1, r.length); },
       ""},
      {"offset + 4096", [](const keys::ChunkRef& r) { return keys::EncodePackedChunk(r.pack, r.offset + 4096, r.length); },
       ""},
      {"past the end", [](const keys::ChunkRef& r) { return keys::EncodePackedChunk(r.pack, 1 << 30, r.length); },
       "ends before offset"},
      {"pack 99", [](const keys::ChunkRef& r) { return keys::EncodePackedChunk(99, r.offset, r.length); },
       "is missing"},
      {"offset 2^63", [](const keys::ChunkRef& r) { return keys::EncodePackedChunk(r.pack, 1ull << 63, r.length); },
       ""},
  };
  for (bool direct : {true, false}) {
    for (const Case& c : cases) {
      SCOPED_TRACE(std::string(c.what) + ", direct=" + std::to_string(direct));
      ScratchDir dir;
      std::vector<Owned> ts = {MakeBytes("victim", kChunk, 1), MakeBytes("bystander", 2 * kChunk, 2)};
      const Digest d = SaveTwoCheckpointsSharingAChunk(dir.path(), ts);
      EditRocksDb(dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
        std::string value;
        ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), h[2], keys::ChunkIndexKey(d), &value).ok());
        auto ref = keys::DecodeChunkRef(value);
        ASSERT_TRUE(ref.has_value());
        rocksdb::WriteOptions wo;
        wo.sync = true;
        ASSERT_TRUE(db.Put(wo, h[2], keys::ChunkIndexKey(d), c.value(*ref)).ok());
      });
      StoreOptions o = SmallChunks();
      o.use_direct_io = direct;
      auto store = MustOpen(dir.path(), o);
      ASSERT_TRUE(store);
      auto r = store->Restore(Selector::Id(2));
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
      EXPECT_TRUE(Contains(r.status().message(), "'victim'")) << r.status().ToString();
      EXPECT_TRUE(Contains(r.status().message(), "checkpoint 2")) << r.status().ToString();
      EXPECT_TRUE(Contains(r.status().message(), c.problem)) << r.status().ToString();
      auto report = store->Verify();
      ASSERT_TRUE(report.ok()) << report.status().ToString();
      ASSERT_EQ(report->damage.size(), 2u);
      for (const Damage& dm : report->damage) EXPECT_EQ(dm.tensor, "victim");
    }
  }
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

TEST(StoreCorruption, MalformedNextIdIsCorruptionAndSavesNothing) {
  TwoCheckpointStore s;
  EditRocksDb(s.dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), h[0], std::string(keys::kNextId), "xyz").ok());
  });
  auto store = MustOpen(s.dir.path());
  ASSERT_TRUE(store);
  auto r = store->Save(Refs(s.first), AtStep(30));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
  EXPECT_TRUE(Contains(r.status().message(), s.dir.path())) << r.status().ToString();
  EXPECT_EQ(MustList(*store).size(), 2u);
}

TEST(StoreCorruption, MalformedNextPackIsCorruptionAndSavesNothing) {
  TwoCheckpointStore s;
  EditRocksDb(s.dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
    std::string next_pack;
    ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), h[0], std::string(keys::kNextPack), &next_pack).ok());
    EXPECT_EQ(next_pack, keys::EncodeU64(2)) << "one save wrote a pack file, so the next pack is 2";
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), h[0], std::string(keys::kNextPack), "bad").ok());
  });
  const Packs packs_before = PackFiles(s.dir.path());
  auto store = MustOpen(s.dir.path());
  ASSERT_TRUE(store);
  auto r = store->Save(Refs({MakeBytes("new", 2 * kChunk, 40)}), AtStep(30));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
  EXPECT_TRUE(Contains(r.status().message(), s.dir.path())) << r.status().ToString();
  EXPECT_TRUE(Contains(r.status().message(), "next_pack")) << r.status().ToString();
  EXPECT_EQ(MustList(*store).size(), 2u);
  EXPECT_EQ(PackFiles(s.dir.path()), packs_before) << "no pack file was written or overwritten";
}

TEST(StoreCorruption, MalformedHeadIsAnErrorNotASilentlyMissingParent) {
  // `head` names the parent of the next checkpoint. If it cannot be decoded, saving must not go
  // ahead and record a checkpoint with no parent as if the store were empty.
  TwoCheckpointStore s;
  EditRocksDb(s.dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), h[0], std::string(keys::kHead), "bad").ok());
  });
  auto store = MustOpen(s.dir.path());
  ASSERT_TRUE(store);
  auto r = store->Save(Refs(s.first), AtStep(30));
  if (r.ok()) {
    ADD_FAILURE() << "saved checkpoint " << r->id << " with parent "
                  << (r->parent ? std::to_string(*r->parent) : std::string("none"))
                  << " although head is unreadable";
  } else {
    EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
    EXPECT_EQ(MustList(*store).size(), 2u);
  }
}

TEST(StoreCorruption, MalformedManifestsAreCorruptionNamingTheCheckpoint) {
  struct Case {
    const char* what;
    std::function<std::string(const std::string& m1, const std::string& m2)> value;
  };
  const Case cases[] = {
      {"garbage", [](const std::string&, const std::string&) { return std::string("this is not a manifest"); }},
      {"empty value", [](const std::string&, const std::string&) { return std::string(); }},
      {"truncated to half", [](const std::string&, const std::string& m2) { return m2.substr(0, m2.size() / 2); }},
      {"truncated by 9 bytes", [](const std::string&, const std::string& m2) { return m2.substr(0, m2.size() - 9); }},
      {"random bytes", [](const std::string&, const std::string& m2) {
         auto r = RandomBytes(99'000'000, m2.size());
         return std::string(r.begin(), r.end());
       }},
      {"checkpoint 1's manifest under id 2", [](const std::string& m1, const std::string&) { return m1; }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    TwoCheckpointStore s;
    std::string m1, m2;
    EditRocksDb(s.dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
      ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), h[1], keys::EncodeU64(1), &m1).ok());
      ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), h[1], keys::EncodeU64(2), &m2).ok());
      rocksdb::WriteOptions wo;
      wo.sync = true;
      ASSERT_TRUE(db.Put(wo, h[1], keys::EncodeU64(2), c.value(m1, m2)).ok());
    });
    auto store = MustOpen(s.dir.path());
    ASSERT_TRUE(store);
    ExpectCheckpointCorrupt(*store, 2, c.what);
    auto v = store->Verify();
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_EQ(v->chunks_checked, 2u) << "checkpoint 1's chunks are still checked";
    EXPECT_EQ(v->bytes_checked, kChunk + 3);
    // The sound checkpoint stays readable by id.
    auto m = store->Describe(Selector::Id(1));
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    ExpectRestores(*store, Selector::Id(1), s.first);
  }
}

TEST(StoreCorruption, AManifestWithAnImpossibleTensorSizeIsCorruption) {
  // A U8 tensor of shape [2^63 - 1, 2] claims 2^64 - 2 bytes and would need 2^48 chunks; this one
  // lists none. Accepting it would make Restore plan 2^48 chunk reads into a buffer whose padded
  // size wraps around. Only List and Describe run here: they must reject it.
  TwoCheckpointStore s;
  CheckpointManifest m;
  m.chunk_size = kChunk;
  m.info.id = 2;
  m.info.step = 20;
  m.info.parent = 1;
  TensorInfo t;
  t.name = "huge";
  t.dtype = DType::kU8;
  t.shape = {std::numeric_limits<int64_t>::max(), 2};
  t.size_bytes = std::numeric_limits<uint64_t>::max() - 1;
  m.tensors.push_back(t);
  m.info.logical_bytes = t.size_bytes;
  EditRocksDb(s.dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), h[1], keys::EncodeU64(2), schema::EncodeManifest(m)).ok());
  });
  auto store = MustOpen(s.dir.path());
  ASSERT_TRUE(store);
  auto list = store->List();
  EXPECT_FALSE(list.ok()) << "listed a checkpoint with a 16 EiB tensor and no chunks";
  if (!list.ok()) {
    EXPECT_EQ(list.status().code(), Code::kCorruption) << list.status().ToString();
    EXPECT_TRUE(NamesCheckpoint(list.status().message(), 2)) << list.status().ToString();
  }
  auto d = store->Describe(Selector::Id(2));
  EXPECT_FALSE(d.ok()) << "described a checkpoint with a 16 EiB tensor and no chunks";
  if (!d.ok()) {
    EXPECT_EQ(d.status().code(), Code::kCorruption) << d.status().ToString();
  }
}

TEST(StoreCorruption, AManifestKeyThatIsNotAnIdIsCorruption) {
  TwoCheckpointStore s;
  EditRocksDb(s.dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), h[1], "abc", "x").ok());
  });
  auto store = MustOpen(s.dir.path());
  ASSERT_TRUE(store);
  auto list = store->List();
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.status().code(), Code::kCorruption) << list.status().ToString();
  EXPECT_TRUE(Contains(list.status().message(), s.dir.path())) << list.status().ToString();
}

TEST(StoreCorruption, UnreadableStoreMetadataIsCorruptionNamingThePath) {
  const std::pair<const char*, std::string> cases[] = {
      {"garbage", "not a flatbuffer"},
      {"bad chunk size", [] {
         schema::StoreMeta meta;
         meta.chunk_size = 12345;
         return schema::EncodeStoreMeta(meta);
       }()},
      {"future version", [] {
         schema::StoreMeta meta;
         meta.chunk_size = kChunk;
         meta.format_version = 2;
         return schema::EncodeStoreMeta(meta);
       }()},
      {"unknown hash", [] {
         schema::StoreMeta meta;
         meta.chunk_size = kChunk;
         meta.hash = "sha256";
         return schema::EncodeStoreMeta(meta);
       }()},
  };
  for (const auto& [what, value] : cases) {
    SCOPED_TRACE(what);
    TwoCheckpointStore s;
    EditRocksDb(s.dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
      rocksdb::WriteOptions wo;
      wo.sync = true;
      ASSERT_TRUE(db.Put(wo, h[0], std::string(keys::kStoreMeta), value).ok());
    });
    auto r = Store::Open(s.dir.path(), SmallChunks());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
    EXPECT_TRUE(Contains(r.status().message(), s.dir.path())) << r.status().ToString();
  }
}

TEST(StoreCorruption, MissingStoreMetadataInAStoreWithCheckpointsIsCorruption) {
  // Without it the chunk size is unknown; recreating it from the options could cut differently.
  TwoCheckpointStore s;
  EditRocksDb(s.dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    ASSERT_TRUE(db.Delete(wo, h[0], std::string(keys::kStoreMeta)).ok());
  });
  StoreOptions o = SmallChunks();
  o.chunk_size = 1ull << 20;
  auto r = Store::Open(s.dir.path(), o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
  EXPECT_TRUE(Contains(r.status().message(), s.dir.path())) << r.status().ToString();
}

// ---------------------------------------------------------------------------------------------
// Pack files and the chunk index.

// The chunk index, read straight from the store's RocksDB: key -> value, in key order.
std::map<std::string, std::string> ReadChunkIndex(const std::string& store) {
  std::map<std::string, std::string> out;
  EditRocksDb(store, [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions(), h[2]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) out[it->key().ToString()] = it->value().ToString();
    ASSERT_TRUE(it->status().ok()) << it->status().ToString();
  });
  return out;
}

TEST(StorePacks, TheIndexNamesAlignedPackSlotsOrHoldsShortChunksInline) {
  ScratchDir dir;
  // big: two 64 KiB chunks and a 40000-byte tail (>= 32 KiB: packed, in a 40960-byte slot);
  // at_limit: exactly 32 KiB (packed); below: 32 KiB - 1 (inline); tiny: 1 byte (inline).
  const std::vector<Owned> ts = {MakeBytes("big", 2 * kChunk + 40000, 1), MakeBytes("at_limit", 32 << 10, 2),
                                 MakeBytes("below", (32 << 10) - 1, 3), MakeBytes("tiny", 1, 4)};
  ASSERT_EQ(keys::kInlineChunkMax, uint64_t{32} << 10);
  {
    auto store = MustOpen(dir.path());
    ASSERT_TRUE(store);
    CheckpointInfo info = MustSave(*store, ts);
    EXPECT_EQ(info.new_bytes, info.logical_bytes) << "inline bytes count as new bytes too";
  }
  const uint64_t packed_bytes = 2 * kChunk + 40960 + (32 << 10);
  ASSERT_EQ(PackFiles(dir.path()), (Packs{{PackName(1), packed_bytes}}));
  const std::string pack = testing::ReadFileOrDie(PackFile(dir.path(), 1));

  struct Want {
    const Owned* tensor;
    uint64_t offset, length;
  };
  const std::vector<Want> chunks = {{&ts[0], 0, kChunk}, {&ts[0], kChunk, kChunk}, {&ts[0], 2 * kChunk, 40000},
                                    {&ts[1], 0, 32 << 10}, {&ts[2], 0, (32 << 10) - 1}, {&ts[3], 0, 1}};
  const auto index = ReadChunkIndex(dir.path());
  EXPECT_EQ(index.size(), chunks.size()) << "one 'i' + digest entry per distinct chunk, nothing else";
  std::map<uint64_t, uint64_t> slots;  // offset -> length of each packed chunk
  for (const Want& w : chunks) {
    SCOPED_TRACE(w.tensor->name + " at " + std::to_string(w.offset));
    const uint8_t* bytes = w.tensor->bytes.data() + w.offset;
    const Digest d = HashBytes(bytes, w.length);
    const std::string key = keys::ChunkIndexKey(d);
    ASSERT_EQ(key.size(), 33u);
    EXPECT_EQ(key[0], 'i');
    EXPECT_EQ(0, std::memcmp(key.data() + 1, d.bytes.data(), 32));
    auto it = index.find(key);
    ASSERT_NE(it, index.end());
    const std::string& value = it->second;
    if (w.length < (32u << 10)) {
      // 'V' + the chunk's bytes.
      ASSERT_EQ(value.size(), 1 + w.length);
      EXPECT_EQ(value[0], 'V');
      EXPECT_EQ(0, std::memcmp(value.data() + 1, bytes, w.length));
      continue;
    }
    // 'P' + pack id + offset + length, 8 bytes big-endian each.
    ASSERT_EQ(value.size(), 25u);
    EXPECT_EQ(value[0], 'P');
    EXPECT_EQ(keys::DecodeU64(value.substr(1, 8)), std::optional<uint64_t>(1));
    const uint64_t offset = keys::DecodeU64(value.substr(9, 8)).value_or(~0ull);
    EXPECT_EQ(keys::DecodeU64(value.substr(17, 8)), std::optional<uint64_t>(w.length));
    EXPECT_EQ(offset % 4096, 0u);
    const uint64_t slot = (w.length + 4095) / 4096 * 4096;
    ASSERT_LE(offset + slot, pack.size());
    EXPECT_EQ(0, std::memcmp(pack.data() + offset, bytes, w.length)) << "the pack holds the chunk's bytes";
    EXPECT_EQ(pack.substr(offset + w.length, slot - w.length), std::string(slot - w.length, '\0'))
        << "the slot is zero-padded to 4 KiB";
    slots[offset] = slot;
  }
  // The slots tile the pack file: no overlap, no gap.
  uint64_t end = 0;
  for (const auto& [offset, slot] : slots) {
    EXPECT_EQ(offset, end);
    end = offset + slot;
  }
  EXPECT_EQ(end, pack.size());
  // The next save that writes chunks uses pack 2.
  EditRocksDb(dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
    std::string next_pack;
    ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), h[0], std::string(keys::kNextPack), &next_pack).ok());
    EXPECT_EQ(next_pack, keys::EncodeU64(2));
  });
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  ExpectRestores(*store, Selector::Latest(), ts);
  ExpectRestoresInto(*store, Selector::Latest(), ts);
}

TEST(StorePacks, TensorsOfOnlyShortChunksCreateNoPackFile) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  std::vector<Owned> ts = {MakeBytes("one", 1, 1), MakeTensor("f32", DType::kF32, {7, 11}, 2),
                           MakeBytes("below_limit", (32 << 10) - 1, 3), MakeTensor("scalar", DType::kF64, {}, 4),
                           MakeTensor("empty", DType::kF32, {0}, 5)};
  CheckpointInfo first = MustSave(*store, ts, AtStep(1));
  EXPECT_EQ(first.new_bytes, first.logical_bytes);
  EXPECT_TRUE(PackFiles(dir.path()).empty()) << "chunks under 32 KiB live inline in the index";
  ExpectRestores(*store, Selector::Latest(), ts);
  ExpectRestoresInto(*store, Selector::Latest(), ts);
  // Inline chunks dedup like packed ones.
  EXPECT_EQ(MustSave(*store, ts, AtStep(2)).new_bytes, 0u);
  ts[1].bytes[5] ^= 1;
  EXPECT_EQ(MustSave(*store, ts, AtStep(3)).new_bytes, 7u * 11 * 4);
  EXPECT_TRUE(PackFiles(dir.path()).empty());
  // They survive a reopen, and Verify checks them.
  store.reset();
  store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  ExpectRestores(*store, Selector::Step(3), ts);
  auto report = store->Verify();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->ok());
  EXPECT_EQ(report->chunks_checked, 5u);
  EXPECT_TRUE(PackFiles(dir.path()).empty());
}

TEST(StorePacks, AFailedSaveLeavesAnUnreferencedPackThatTheNextSaveReuses) {
  // A save that fails after writing its pack file (here: next_id is unreadable, which the save
  // finds only when it is about to commit) commits nothing, so next_pack does not advance; the next
  // save that writes chunks truncates and reuses that pack id instead of leaking a file per failure.
  TwoCheckpointStore s;  // checkpoint 1 wrote pack 1; checkpoint 2 is all inline
  ASSERT_EQ(PackFiles(s.dir.path()), (Packs{{PackName(1), kChunk}}));
  EditRocksDb(s.dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), h[0], std::string(keys::kNextId), "xyz").ok());
  });
  const std::string pack1 = testing::ReadFileOrDie(PackFile(s.dir.path(), 1));
  const std::vector<Owned> failed = {MakeBytes("failed", 3 * kChunk, 60)};
  {
    auto store = MustOpen(s.dir.path());
    ASSERT_TRUE(store);
    auto r = store->Save(Refs(failed), AtStep(30));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
    EXPECT_EQ(MustList(*store).size(), 2u);
  }
  ASSERT_EQ(PackFiles(s.dir.path()), (Packs{{PackName(1), kChunk}, {PackName(2), 3 * kChunk}}))
      << "precondition: the failed save got as far as writing pack 2";

  EditRocksDb(s.dir.path(), [&](rocksdb::DB& db, const std::vector<rocksdb::ColumnFamilyHandle*>& h) {
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), h[0], std::string(keys::kNextId), keys::EncodeU64(3)).ok());
  });
  auto store = MustOpen(s.dir.path());
  ASSERT_TRUE(store);
  // A save of one new chunk reuses pack 2: it is truncated to that one chunk.
  const std::vector<Owned> third = {MakeBytes("third", kChunk, 61)};
  CheckpointInfo info3 = MustSave(*store, third, AtStep(30));
  EXPECT_EQ(info3.id, 3u);
  EXPECT_EQ(info3.new_bytes, kChunk);
  EXPECT_EQ(PackFiles(s.dir.path()), (Packs{{PackName(1), kChunk}, {PackName(2), kChunk}}));
  EXPECT_EQ(testing::ReadFileOrDie(PackFile(s.dir.path(), 1)), pack1);
  // Nothing of the failed save counts as stored: saving its state again writes all of it, to pack 3.
  CheckpointInfo info4 = MustSave(*store, failed, AtStep(40));
  EXPECT_EQ(info4.new_bytes, 3 * kChunk);
  EXPECT_EQ(PackFiles(s.dir.path()),
            (Packs{{PackName(1), kChunk}, {PackName(2), kChunk}, {PackName(3), 3 * kChunk}}));
  ExpectRestores(*store, Selector::Id(1), s.first);
  ExpectRestores(*store, Selector::Id(2), s.second);
  ExpectRestores(*store, Selector::Id(3), third);
  ExpectRestores(*store, Selector::Id(4), failed);
  auto report = store->Verify();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->ok());
}

// ---------------------------------------------------------------------------------------------
// Concurrency.

TEST(StoreConcurrency, TwoThreadsSavingAtOnceBothSucceedWithDistinctIds) {
  ScratchDir dir;
  auto store = MustOpen(dir.path(), SmallChunks(4));
  ASSERT_TRUE(store);
  constexpr int kPerThread = 5;
  std::mutex mu;
  std::map<CheckpointId, std::vector<Owned>> by_id;
  std::atomic<int> failures{0};
  auto saver = [&](int who) {
    for (int i = 0; i < kPerThread; ++i) {
      std::vector<Owned> ts = {MakeBytes("w" + std::to_string(who), 3 * kChunk + i, 1000 * who + i),
                               MakeBytes("shared", kChunk, 7)};
      auto r = store->Save(Refs(ts), AtStep(who * 100 + i));
      if (!r.ok()) {
        failures.fetch_add(1);
        continue;
      }
      std::lock_guard<std::mutex> l(mu);
      EXPECT_TRUE(by_id.emplace(r->id, std::move(ts)).second) << "id " << r->id << " given twice";
    }
  };
  std::thread a(saver, 1), b(saver, 2);
  a.join();
  b.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_EQ(by_id.size(), 2u * kPerThread);
  auto list = MustList(*store);
  ASSERT_EQ(list.size(), 2u * kPerThread);
  for (size_t i = 0; i < list.size(); ++i) {
    EXPECT_EQ(list[i].id, i + 1);
    // Saves are serialised, so each one's parent is the one committed just before it.
    if (i == 0) EXPECT_FALSE(list[i].parent.has_value());
    else EXPECT_EQ(list[i].parent, std::optional<CheckpointId>(i));
  }
  uint64_t new_bytes = 0;
  for (const auto& info : list) new_bytes += info.new_bytes;
  uint64_t distinct = kChunk;  // "shared" once
  for (const auto& [id, ts] : by_id) distinct += ts[0].bytes.size();
  EXPECT_EQ(new_bytes, distinct) << "the shared chunk is counted by exactly one save";
  for (const auto& [id, ts] : by_id) ExpectRestores(*store, Selector::Id(id), ts);
}

TEST(StoreConcurrency, TwoSavesRacingForOneTagCommitExactlyOne) {
  for (int round = 0; round < 5; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    ScratchDir dir;
    auto store = MustOpen(dir.path(), SmallChunks(2));
    ASSERT_TRUE(store);
    std::vector<Owned> a = {MakeBytes("w", 2 * kChunk, 1)}, b = {MakeBytes("w", 2 * kChunk, 2)};
    SaveOptions o;
    o.tags = {"best"};
    Result<CheckpointInfo> ra = Status::Internal("not run"), rb = Status::Internal("not run");
    std::thread ta([&] { ra = store->Save(Refs(a), o); });
    std::thread tb([&] { rb = store->Save(Refs(b), o); });
    ta.join();
    tb.join();
    ASSERT_NE(ra.ok(), rb.ok()) << ra.status().ToString() << " / " << rb.status().ToString();
    const Status& loser = ra.ok() ? rb.status() : ra.status();
    EXPECT_EQ(loser.code(), Code::kAlreadyExists) << loser.ToString();
    auto list = MustList(*store);
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0].tags, std::vector<std::string>{"best"});
    ExpectRestores(*store, Selector::Latest(), ra.ok() ? a : b);
  }
}

TEST(StoreConcurrency, ReadsWhileSavingSeeOnlyCommittedCheckpoints) {
  ScratchDir dir;
  auto store = MustOpen(dir.path(), SmallChunks(4));
  ASSERT_TRUE(store);
  std::vector<Owned> base = {MakeBytes("base", 2 * kChunk + 1, 1)};
  MustSave(*store, base, AtStep(0));

  std::atomic<bool> done{false};
  std::atomic<int> save_failures{0};
  std::thread writer([&] {
    for (int i = 1; i <= 12; ++i) {
      std::vector<Owned> ts = {MakeBytes("w", 4 * kChunk, 50 + i), MakeTensor("b", DType::kF32, {i}, 80 + i)};
      if (!store->Save(Refs(ts), AtStep(i)).ok()) save_failures.fetch_add(1);
    }
    done = true;
  });
  // One round of reads; false (after recording the failure) if anything was wrong.
  size_t last_count = 1;
  auto read_once = [&]() -> bool {
    auto list = store->List();
    if (!list.ok()) return ADD_FAILURE() << list.status().ToString(), false;
    if (list->size() < last_count) return ADD_FAILURE() << "a checkpoint disappeared", false;
    last_count = list->size();
    for (size_t i = 0; i < list->size(); ++i)
      if ((*list)[i].id != i + 1) return ADD_FAILURE() << "ids are not 1..n", false;
    auto first = store->Restore(Selector::Id(1));
    if (!first.ok()) return ADD_FAILURE() << first.status().ToString(), false;
    ExpectRestored(*first, base);
    // Whatever is latest now is complete: its manifest and every chunk it names are readable.
    auto latest = store->Restore(Selector::Latest());
    if (!latest.ok()) return ADD_FAILURE() << latest.status().ToString(), false;
    auto m = store->Describe(Selector::Id(list->back().id));
    if (!m.ok()) return ADD_FAILURE() << m.status().ToString(), false;
    return true;
  };
  int reads = 0;
  while ((!done.load() || reads < 5) && read_once()) ++reads;
  writer.join();
  EXPECT_EQ(save_failures.load(), 0);
  EXPECT_EQ(MustList(*store).size(), 13u);
  auto report = store->Verify();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->ok());
}

}  // namespace
}  // namespace ckptdb

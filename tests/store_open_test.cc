// Specifies Store::Open: creating, refusing non-stores and bad chunk sizes, reopening, one opener at a time.
#include "ckptdb/ckptdb.h"

#include <gtest/gtest.h>

#include <boost/filesystem.hpp>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tests/support/store_fixtures.h"
#include "tests/support/test_support.h"
#include "tests/support/tree_bytes.h"

namespace ckptdb {
namespace {

namespace fs = boost::filesystem;
using namespace store_tests;
using testing::ScratchDir;
using testing::TreeBytes;  // every file under a directory with its bytes


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
  const auto before = TreeBytes(dir.path());
  for (bool create : {true, false}) {
    SCOPED_TRACE("create_if_missing=" + std::to_string(create));
    StoreOptions o = SmallChunks();
    o.create_if_missing = create;
    auto r = Store::Open(dir.path(), o);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(Contains(r.status().message(), dir.path())) << r.status().ToString();
    EXPECT_EQ(TreeBytes(dir.path()), before) << "the directory was changed";
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
  EXPECT_EQ(testing::RunProcess({testing::CliPath(), "gc", store_path}, &output), 1) << output;
  EXPECT_TRUE(Contains(output, "open in another process")) << output;
  EXPECT_TRUE(Contains(output, store_path)) << output;
  // Reading needs no writer's lock: verify opens the store read-only beside the writer.
  EXPECT_EQ(testing::RunProcess({testing::CliPath(), "verify", store_path}, &output), 0) << output;
  // After the first process lets go, the other process may open it for writing.
  first.reset();
  EXPECT_EQ(testing::RunProcess({testing::CliPath(), "gc", store_path}, &output), 0) << output;
}

// "<code>: <message>" of opening `path` with create_if_missing, as the unprivileged child sees it.
std::string OpenAsUnprivileged(const std::string& path) {
  return testing::InChild([&] {
    // Root bypasses permission bits: drop to user and group 65534 first.
    if (::geteuid() == 0 && (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0))
      return std::string("cannot drop privileges");
    StoreOptions o = SmallChunks();
    o.create_if_missing = true;
    auto s = Store::Open(path, o);
    return s.ok() ? std::string("opened") : s.status().ToString();
  });
}

// A directory the opener cannot read is an error to report, not an absent store to create.
TEST(StoreOpen, AnUnreadableDirectoryIsAnIOErrorAndNothingIsCreated) {
  ScratchDir dir;
  ::chmod(dir.path().c_str(), 0755);  // the child may enter the scratch directory itself
  const std::string locked = dir.Join("locked");  // holds the store path; only its owner may enter
  const std::string sealed = dir.Join("sealed");  // is the store path; nobody but root may read it
  fs::create_directory(locked);
  fs::create_directory(sealed);
  ASSERT_EQ(::chmod(locked.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(sealed.c_str(), 0), 0);
  const auto before = TreeBytes(dir.path());
  for (const std::string& path : {locked + "/store", sealed}) {
    const std::string got = OpenAsUnprivileged(path);
    EXPECT_TRUE(Contains(got, "IO error: cannot read store " + path + ": Permission denied")) << got;
  }
  EXPECT_EQ(TreeBytes(dir.path()), before);
  EXPECT_FALSE(fs::exists(locked + "/store"));
  EXPECT_TRUE(fs::is_empty(sealed));
}

// A db/ that holds RocksDB's files but lost CURRENT is a damaged store: never "no store", so never
// created over or reported absent.
TEST(StoreOpen, AStoreWhoseCurrentFileIsMissingIsCorruptionNamingIt) {
  ScratchDir dir;
  const std::string path = dir.Join("store");
  {
    auto store = MustOpen(path);
    ASSERT_TRUE(store);
    MustSave(*store, {MakeBytes("w", 100, 1)});
  }
  fs::remove(path + "/db/CURRENT");
  const auto before = TreeBytes(path);
  for (bool create : {true, false}) {
    StoreOptions o = SmallChunks();
    o.create_if_missing = create;
    auto s = Store::Open(path, o);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), Code::kCorruption) << s.status().ToString();
    EXPECT_TRUE(Contains(s.status().message(), path)) << s.status().ToString();
    EXPECT_TRUE(Contains(s.status().message(), "db/CURRENT is missing")) << s.status().ToString();
  }
  EXPECT_EQ(TreeBytes(path), before);
}

}  // namespace
}  // namespace ckptdb

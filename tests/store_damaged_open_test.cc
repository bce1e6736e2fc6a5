// Specifies opening a damaged store: a directory that carries a store's marks but lost part of its
// catalog (db/, db/CURRENT, the MANIFEST CURRENT names) is Corruption naming the store and what is
// missing, from Open (with or without create_if_missing) and OpenReadOnly, and is left exactly as
// it was; a directory that never was a store is still "no store".
#include "ckptdb/ckptdb.h"

#include <gtest/gtest.h>

#include <boost/filesystem.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/cli_runner.h"
#include "tests/support/store_fixtures.h"
#include "tests/support/test_support.h"
#include "tests/support/tree_bytes.h"

namespace ckptdb {
namespace {

namespace fs = boost::filesystem;
using namespace store_tests;
using testing::ScratchDir;
using testing::TreeBytes;  // every file under a directory with its bytes


// A real store at `path` with one checkpoint, closed.
void MakeStore(const std::string& path) {
  auto store = MustOpen(path);
  ASSERT_TRUE(store);
  MustSave(*store, {MakeBytes("w", 3 * kChunk, 1)});
}

std::string ManifestName(const std::string& path) {
  std::string current = testing::ReadFileOrDie(path + "/db/CURRENT");
  if (!current.empty() && current.back() == '\n') current.pop_back();
  return current;
}

// The status of each of the three ways to open a store (OK if it opened), the one that may create
// a store last.
std::map<std::string, Status> OpenEveryWay(const std::string& path) {
  std::map<std::string, Status> out;
  auto r = Store::OpenReadOnly(path, SmallChunks());
  out["OpenReadOnly"] = r.ok() ? Status::OK() : r.status();
  for (bool create : {false, true}) {
    StoreOptions o = SmallChunks();
    o.create_if_missing = create;
    auto s = Store::Open(path, o);
    out[create ? "Open(create_if_missing)" : "Open"] = s.ok() ? Status::OK() : s.status();
  }
  return out;
}

struct Damage {
  std::string what;  // the message's tail after "is damaged: "
  std::function<void(const std::string& store)> apply;
};

TEST(StoreDamagedOpen, AStoreMissingPartOfItsCatalogIsCorruptionNamingWhatIsMissing) {
  const std::vector<Damage> damages = {
      {"db/ is missing", [](const std::string& s) { fs::remove_all(s + "/db"); }},
      {"db/CURRENT is missing",
       [](const std::string& s) {  // every catalog file gone, db/ itself left
         for (fs::directory_iterator it(s + "/db"), end; it != end; ++it) fs::remove_all(it->path());
       }},
      {"", [](const std::string& s) { fs::remove(s + "/db/" + ManifestName(s)); }},  // what: filled in below
      {"db/CURRENT names no MANIFEST file",
       [](const std::string& s) { testing::WriteFileOrDie(s + "/db/CURRENT", "not a manifest\n"); }},
  };
  for (const Damage& damage : damages) {
    ScratchDir dir;
    const std::string path = dir.Join("store");
    MakeStore(path);
    const std::string what = damage.what.empty()
                                 ? "db/" + ManifestName(path) + ", which db/CURRENT names, is missing"
                                 : damage.what;
    SCOPED_TRACE(what);
    damage.apply(path);
    const auto before = TreeBytes(dir.path());  // the store and what lies beside it
    for (const auto& [how, status] : OpenEveryWay(path)) {
      SCOPED_TRACE(how);
      EXPECT_EQ(status.code(), Code::kCorruption) << status.ToString();
      EXPECT_EQ(status.message(), "store " + path + " is damaged: " + what) << status.ToString();
    }
    EXPECT_EQ(TreeBytes(dir.path()), before) << "opening a damaged store created or changed files";
  }
}

// The RocksDB files RocksDB leaves when CURRENT alone is lost keep their own, more telling message.
TEST(StoreDamagedOpen, ALostCurrentBesideCatalogFilesNamesOneOfThem) {
  ScratchDir dir;
  const std::string path = dir.Join("store");
  MakeStore(path);
  fs::remove(path + "/db/CURRENT");
  for (const auto& [how, status] : OpenEveryWay(path)) {
    SCOPED_TRACE(how);
    EXPECT_EQ(status.code(), Code::kCorruption) << status.ToString();
    EXPECT_TRUE(Contains(status.message(), "store " + path + " is damaged: db/CURRENT is missing but db/ holds "))
        << status.ToString();
  }
}

// A directory that never was a store is not called a damaged one: NotFound where nothing may be
// created, and left as it was.
TEST(StoreDamagedOpen, ADirectoryThatNeverWasAStoreIsStillNoStore) {
  const std::vector<std::function<void(const std::string&)>> layouts = {
      [](const std::string&) {},  // empty
      [](const std::string& d) { testing::WriteFileOrDie(d + "/packs/notes.txt", "mine"); },
      [](const std::string& d) { testing::WriteFileOrDie(d + "/db/app.sqlite", "SQLite format 3"); },
      [](const std::string& d) { testing::WriteFileOrDie(d + "/packs", "a file, not a directory"); },
  };
  for (size_t i = 0; i < layouts.size(); ++i) {
    SCOPED_TRACE("layout " + std::to_string(i));
    ScratchDir dir;
    const std::string path = dir.Join("notastore");
    fs::create_directories(path);
    if (i == 1) fs::create_directories(path + "/packs");
    if (i == 2) fs::create_directories(path + "/db");
    layouts[i](path);
    const auto before = TreeBytes(path);
    for (const auto& [how, status] : OpenEveryWay(path)) {
      SCOPED_TRACE(how);
      if (how == "Open(create_if_missing)" && i == 0) {
        EXPECT_TRUE(status.ok()) << "an empty directory becomes a store: " << status.ToString();
        continue;
      }
      if (how == "Open(create_if_missing)") {
        EXPECT_EQ(status.code(), Code::kInvalidArgument) << status.ToString();
        EXPECT_TRUE(Contains(status.message(), "is not a ckptdb store and is not empty")) << status.ToString();
      } else {
        EXPECT_EQ(status.code(), Code::kNotFound) << status.ToString();
        EXPECT_EQ(status.message(), "no store at " + path) << status.ToString();
      }
    }
    if (i != 0) {
      EXPECT_EQ(TreeBytes(path), before);
    }
  }
}

// A new store's packs/ is empty until its first save; losing its db/ is still damage.
TEST(StoreDamagedOpen, ANewStoreThatLostItsCatalogIsDamagedToo) {
  ScratchDir dir;
  const std::string path = dir.Join("store");
  { ASSERT_TRUE(MustOpen(path)); }
  ASSERT_TRUE(fs::is_empty(path + "/packs"));
  fs::remove_all(path + "/db");
  for (const auto& [how, status] : OpenEveryWay(path)) {
    SCOPED_TRACE(how);
    EXPECT_EQ(status.code(), Code::kCorruption) << status.ToString();
    EXPECT_EQ(status.message(), "store " + path + " is damaged: db/ is missing") << status.ToString();
  }
  EXPECT_FALSE(fs::exists(path + "/db"));
}

// The damage checks run beside a live writer: each writer's open replaces the MANIFEST (a new one,
// CURRENT renamed to it, the old one deleted), and readers opening meanwhile must never take that
// for damage. (The window in which CURRENT names a file just deleted is too narrow to hit here at
// will; FindStore looks again when it is hit. This checks everything around it.)
TEST(StoreDamagedOpen, ReadersBesideAWriterReopeningNeverSeeDamage) {
  ScratchDir dir;
  const std::string path = dir.Join("store");
  MakeStore(path);
  std::atomic<bool> stop{false}, writer_failed{false};
  std::atomic<int> reopened{0};
  std::thread writer([&] {
    while (!stop) {
      auto s = Store::Open(path, SmallChunks());
      EXPECT_TRUE(s.ok()) << s.status().ToString();
      if (!s.ok()) return void(writer_failed = true);
      ++reopened;
    }
  });
  int opened = 0;
  std::map<std::string, int> failures;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1000);
  while (!writer_failed && (std::chrono::steady_clock::now() < until || reopened < 20)) {
    auto r = Store::OpenReadOnly(path, SmallChunks());
    if (r.ok()) ++opened;
    else ++failures[r.status().ToString()];
  }
  stop = true;
  writer.join();
  for (const auto& [why, n] : failures) EXPECT_EQ(why.find("Corruption"), std::string::npos) << n << " times: " << why;
  EXPECT_GT(opened, 0);
  EXPECT_GE(reopened, 20);
}

// What the CLI shows: the damage, named, and exit status 1; never "no store".
TEST(StoreDamagedOpen, TheCliReportsTheDamage) {
  ScratchDir dir;
  const std::string path = dir.Join("store");
  MakeStore(path);
  fs::remove_all(path + "/db");
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"log", path}, {"verify", path}, {"gc", path}}) {
    cli_tests::CliRun r = cli_tests::Cli(args);
    EXPECT_EQ(r.code, 1) << args[0];
    EXPECT_EQ(r.err, "ckptdb: error: store " + path + " is damaged: db/ is missing\n") << args[0];
  }
}

}  // namespace
}  // namespace ckptdb

// Creating a store: whole or not at all, wherever the path points.
#include <unistd.h>

#include <algorithm>

#include <boost/filesystem.hpp>
#include <gtest/gtest.h>

#include "ckptdb/ckptdb.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

namespace fs = boost::filesystem;

// Runs `body` with the working directory set to `dir`, restoring it afterwards.
template <typename F>
void InDirectory(const std::string& dir, F body) {
  const fs::path before = fs::current_path();
  fs::current_path(dir);
  body();
  fs::current_path(before);
}

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(StoreCreate, ARelativePathCreatesTheStoreInTheWorkingDirectory) {
  testing::ScratchDir dir;
  InDirectory(dir.path(), [] {
    auto store = Store::Open("run1");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    EXPECT_EQ((*store)->path(), "run1");
  });
  EXPECT_TRUE(fs::exists(dir.Join("run1/db/CURRENT")));
  EXPECT_TRUE(fs::is_directory(dir.Join("run1/packs")));
}

TEST(StoreCreate, NestedMissingParentsAreCreated) {
  testing::ScratchDir dir;
  auto store = Store::Open(dir.Join("a/b/c/store"));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_TRUE(fs::exists(dir.Join("a/b/c/store/db/CURRENT")));
}

TEST(StoreCreate, AnExistingEmptyDirectoryBecomesTheStore) {
  testing::ScratchDir dir;
  fs::create_directory(dir.Join("empty"));
  auto store = Store::Open(dir.Join("empty"));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_TRUE(fs::exists(dir.Join("empty/db/CURRENT")));
}

TEST(StoreCreate, ATrailingSlashNamesTheSameStore) {
  testing::ScratchDir dir;
  ASSERT_TRUE(Store::Open(dir.Join("s") + "/").ok());
  StoreOptions existing;
  existing.create_if_missing = false;
  EXPECT_TRUE(Store::Open(dir.Join("s"), existing).ok());
}

TEST(StoreCreate, LeavesNoTemporaryDirectoryBehind) {
  testing::ScratchDir dir;
  ASSERT_TRUE(Store::Open(dir.Join("store")).ok());
  EXPECT_EQ(Entries(dir.path()), std::vector<std::string>{"store"});
  // readers/ is made with the store, so read-only opens add nothing to its tree (FORMAT.md).
  EXPECT_EQ(Entries(dir.Join("store")), (std::vector<std::string>{"db", "packs", "readers"}));
}

TEST(StoreCreate, OpeningWithoutCreateWritesNothing) {
  testing::ScratchDir dir;
  StoreOptions existing;
  existing.create_if_missing = false;
  auto store = Store::Open(dir.Join("absent"), existing);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Code::kNotFound);
  EXPECT_TRUE(Entries(dir.path()).empty());
}

}  // namespace
}  // namespace ckptdb

// Specifies store/thread_name.h and StoreOptions::threads: the store's threads carry names that
// `top -H`, `ps -L` and debuggers show from the moment they exist, and they go with the store.
#include <gtest/gtest.h>

#include <dirent.h>

#include <chrono>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "ckptdb/ckptdb.h"
#include "tests/support/store_fixtures.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

using namespace store_tests;
using testing::ScratchDir;

// How many of this process's threads carry each name (/proc/self/task/*/comm).
std::map<std::string, int> ThreadNames() {
  std::map<std::string, int> names;
  DIR* d = ::opendir("/proc/self/task");
  if (d == nullptr) return names;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream f(std::string("/proc/self/task/") + e->d_name + "/comm");
    std::string name;
    if (std::getline(f, name)) ++names[name];
  }
  ::closedir(d);
  return names;
}

TEST(ThreadNames, TheStoresPoolsAndPersistThreadAreNamedAndGoWithIt) {
  ScratchDir dir;
  StoreOptions o = SmallChunks();
  o.threads = 3;  // the caller and two workers per pool
  {
    auto store = MustOpen(dir.path(), o);
    ASSERT_TRUE(store);
    std::vector<Owned> state = {MakeBytes("w", 3 * kChunk, 1)};
    auto h = store->SaveAsync(Refs(state), AtStep(1));
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    ASSERT_TRUE(h->Wait().ok());
    std::map<std::string, int> names = ThreadNames();
    EXPECT_EQ(names["ckptdb:save"], 2);
    EXPECT_EQ(names["ckptdb:read"], 2);
    EXPECT_EQ(names["ckptdb:persist"], 1);
    ASSERT_TRUE(store->Close().ok());
  }
  std::map<std::string, int> after = ThreadNames();
  EXPECT_EQ(after.count("ckptdb:save") + after.count("ckptdb:read") + after.count("ckptdb:persist"), 0u)
      << "a destroyed store leaves no thread behind";
}

TEST(ThreadNames, ASavesPackWriterAndTheBackgroundCollectorAreNamed) {
  ScratchDir dir;
  auto store = MustOpen(dir.path());
  ASSERT_TRUE(store);
  RetentionPolicy p;
  p.max_to_keep = 1;  // the second save retires the first, which wakes the background collector
  ASSERT_TRUE(store->SetRetention(p).ok());
  std::vector<Owned> state = {MakeBytes("w", 8 * kChunk, 1)};
  std::map<std::string, int> during;
  SaveOptions o = AtStep(1);
  // The first report (done 0) comes before the hash-and-write stage; lingering in it makes the
  // first chunk done due for a report of its own, made while that stage's pack writer lives.
  o.progress = [&](const Progress& r) {
    if (r.done_bytes == 0) std::this_thread::sleep_for(std::chrono::milliseconds(150));
    else if (r.done_bytes < r.total_bytes && during.empty()) during = ThreadNames();
  };
  ASSERT_TRUE(store->Save(Refs(state), o).ok());
  EXPECT_EQ(during["ckptdb:writer"], 1) << "the pack writer of the save in progress";
  MustSave(*store, {MakeBytes("w", 8 * kChunk, 2)}, AtStep(2));
  ASSERT_EQ(store->List()->size(), 1u) << "the first checkpoint was retired";
  EXPECT_EQ(ThreadNames()["ckptdb:gc"], 1) << "started by the retirement's commit";
}

}  // namespace
}  // namespace ckptdb

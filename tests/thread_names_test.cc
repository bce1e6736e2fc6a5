// Specifies store/thread_name.h: the store's threads carry names that `top -H`, `ps -L` and
// debuggers show, and they go with the store.
#include <gtest/gtest.h>

#include <dirent.h>

#include <fstream>
#include <map>
#include <string>
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

}  // namespace
}  // namespace ckptdb

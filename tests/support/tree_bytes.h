// Every file under a directory with its bytes, to show that a command changed nothing on disk.
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "tests/support/test_support.h"

namespace ckptdb::testing {

// relative path -> contents ("<dir>" for directories), for every entry under `root`. A file deleted
// between the listing and its read is left out, as a listing after the deletion would: an open
// store's RocksDB deletes obsolete files in the background, and the callers compare trees (or wait
// for them to settle), so a vanished file shows as a change rather than aborting the test.
inline std::map<std::string, std::string> TreeBytes(const std::string& root) {
  std::map<std::string, std::string> tree;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    const std::string rel = e.path().lexically_relative(root).string();  // relative() stats the file
    if (e.is_directory()) {
      tree[rel] = "<dir>";
      continue;
    }
    std::ifstream in(e.path(), std::ios::binary);
    if (!in && !std::filesystem::exists(e.path())) continue;
    if (!in) tree[rel] = ReadFileOrDie(e.path().string());  // unreadable: says which file, aborts
    std::ostringstream bytes;
    bytes << in.rdbuf();  // an open file stays readable after it is unlinked
    tree[rel] = bytes.str();
  }
  return tree;
}

// The paths that differ between two TreeBytes (added, removed or changed), for failure messages.
inline std::string ChangedPaths(const std::map<std::string, std::string>& a,
                                const std::map<std::string, std::string>& b) {
  std::string changed;
  for (const auto& [path, bytes] : a)
    if (!b.count(path) || b.at(path) != bytes) changed += " " + path;
  for (const auto& [path, bytes] : b)
    if (!a.count(path)) changed += " +" + path;
  return changed;
}

}  // namespace ckptdb::testing

// Every file under a directory with its bytes, to show that a command changed nothing on disk.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "tests/support/test_support.h"

namespace ckptdb::testing {

// relative path -> contents ("<dir>" for directories), for every entry under `root`.
inline std::map<std::string, std::string> TreeBytes(const std::string& root) {
  std::map<std::string, std::string> tree;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    const std::string rel = std::filesystem::relative(e.path(), root).string();
    tree[rel] = e.is_directory() ? "<dir>" : ReadFileOrDie(e.path().string());
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

#include "tests/support/store_layout.h"

#include <algorithm>
#include <boost/filesystem.hpp>
#include <cstdio>

namespace fs = boost::filesystem;

namespace ckptdb::store_tests {

std::string DbDir(const std::string& store) { return store + "/db"; }
std::string PacksDir(const std::string& store) { return store + "/packs"; }

std::string PackName(uint64_t pack_id) {
  char name[32];
  std::snprintf(name, sizeof name, "%020llu.pack", static_cast<unsigned long long>(pack_id));
  return name;
}
std::string PackFile(const std::string& store, uint64_t pack_id) { return PacksDir(store) + "/" + PackName(pack_id); }

Packs PackFiles(const std::string& store) {
  Packs out;
  for (fs::directory_iterator it(PacksDir(store)), end; it != end; ++it)
    out[it->path().filename().string()] = fs::is_regular_file(it->status()) ? fs::file_size(it->path()) : 0;
  return out;
}

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

uint64_t BytesOfFilesEndingWith(const std::string& dir, const std::string& suffix) {
  uint64_t total = 0;
  for (const std::string& file : FilesEndingWith(dir, suffix)) total += fs::file_size(file);
  return total;
}

}  // namespace ckptdb::store_tests

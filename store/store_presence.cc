#include "store/store_presence.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>

#include <boost/filesystem.hpp>

namespace fs = boost::filesystem;

namespace ckptdb {
namespace {

bool IsPackFileName(const std::string& name) {  // "00000000000000000001.pack", as pack_file.cc names them
  return name.size() == 25 && name.compare(20, 5, ".pack") == 0 &&
         name.find_first_not_of("0123456789") == 20;
}

bool IsRocksDbFileName(const std::string& name) {
  return name.rfind("MANIFEST-", 0) == 0 || name.rfind("OPTIONS-", 0) == 0 || name == "IDENTITY" ||
         fs::extension(name) == ".sst" || fs::extension(name) == ".log" || fs::extension(name) == ".blob";
}

Status Damaged(const std::string& dir, const std::string& what) {
  return Status::Corruption("store " + dir + " is damaged: " + what);
}

Status Unreadable(const std::string& what, const std::string& why) {
  return Status::IOError("cannot read store " + what + ": " + why);
}

// The name of the first entry of `dir` that `match` accepts, or "" if none does; a missing `dir`
// (ENOENT, ENOTDIR) has no entries.
Result<std::string> FirstEntry(const fs::path& dir, const std::function<bool(const std::string&)>& match) {
  boost::system::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (match(name)) return name;
  }
  if (ec && ec != boost::system::errc::no_such_file_or_directory && ec != boost::system::errc::not_a_directory)
    return Unreadable(dir.string(), ec.message());
  return std::string();
}

// The MANIFEST file db/CURRENT names, or "" if CURRENT does not name one. ENOENT is reported as
// Status::NotFound so the caller can tell a CURRENT that went away.
Result<std::string> ReadCurrent(const fs::path& current) {
  const int fd = ::open(current.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? Status::NotFound(current.string())
                           : Unreadable(current.string(), std::strerror(errno));
  char buf[128];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  const int err = errno;
  ::close(fd);
  if (n < 0) return Unreadable(current.string(), std::strerror(err));
  std::string name(buf, size_t(n));
  if (!name.empty() && name.back() == '\n') name.pop_back();
  const bool ok = name.size() > 9 && name.size() < sizeof buf - 1 && name.rfind("MANIFEST-", 0) == 0 &&
                  name.find_first_not_of("0123456789", 9) == std::string::npos;
  return ok ? name : std::string();
}

// With db/CURRENT present: whether the MANIFEST it names is there.
Result<bool> CheckCatalog(const std::string& dir, const fs::path& db) {
  std::string previous;
  // RocksDB writes a new MANIFEST, points CURRENT at it (an atomic rename), then deletes the old
  // one: a live writer can do that between our reading CURRENT and looking for what it named. A
  // CURRENT that still names the same missing file once read again is damage, not a race.
  for (int attempt = 0; attempt < 8; ++attempt) {
    auto manifest = ReadCurrent(db / "CURRENT");
    if (!manifest.ok() && manifest.status().code() == Code::kNotFound)
      return Damaged(dir, std::string(kStoreDbDir) + "/CURRENT is missing");
    if (!manifest.ok()) return manifest.status();
    if (manifest->empty()) return Damaged(dir, std::string(kStoreDbDir) + "/CURRENT names no MANIFEST file");
    struct stat st;
    if (::stat((db / *manifest).c_str(), &st) == 0) return true;
    if (errno != ENOENT) return Unreadable((db / *manifest).string(), std::strerror(errno));
    if (*manifest == previous)
      return Damaged(dir, std::string(kStoreDbDir) + "/" + *manifest + ", which " + kStoreDbDir +
                              "/CURRENT names, is missing");
    previous = *manifest;
  }
  return Status::Busy("store " + dir + ": its catalog kept changing while it was being opened; try again");
}

}  // namespace

Result<bool> FindStore(const std::string& dir) {
  struct stat st;
  const fs::path db = fs::path(dir) / kStoreDbDir;
  if (::stat((db / "CURRENT").c_str(), &st) == 0) return CheckCatalog(dir, db);
  if (errno != ENOENT && errno != ENOTDIR) return Unreadable(dir, std::strerror(errno));
  auto rocks = FirstEntry(db, IsRocksDbFileName);
  if (!rocks.ok()) return rocks.status();
  if (!rocks->empty())
    return Damaged(dir, std::string(kStoreDbDir) + "/CURRENT is missing but " + kStoreDbDir +
                            "/ holds RocksDB files (" + *rocks + ")");
  // No catalog files at all: a store only if packs/ says so.
  const fs::path packs = fs::path(dir) / kStorePacksDir;
  if (::stat(packs.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return false;
    return Unreadable(packs.string(), std::strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) return false;
  auto other = FirstEntry(packs, [](const std::string& name) { return !IsPackFileName(name); });
  if (!other.ok()) return other.status();
  if (!other->empty()) return false;  // someone else's packs/
  if (::stat(db.c_str(), &st) == 0) return Damaged(dir, std::string(kStoreDbDir) + "/CURRENT is missing");
  if (errno == ENOENT || errno == ENOTDIR) return Damaged(dir, std::string(kStoreDbDir) + "/ is missing");
  return Unreadable(db.string(), std::strerror(errno));
}

}  // namespace ckptdb

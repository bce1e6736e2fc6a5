// Space: what the checkpoints hold (from the manifests alone) and what the store directory costs.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <unordered_map>
#include <utility>

#include "store/store_impl.h"

namespace ckptdb {
namespace {

// Adds the allocated bytes of `st` to `*total` unless that inode was already counted (hard links
// are counted once, as du does).
void Count(const struct stat& st, std::set<std::pair<dev_t, ino_t>>* seen, uint64_t* total) {
  if (seen->emplace(st.st_dev, st.st_ino).second) *total += static_cast<uint64_t>(st.st_blocks) * 512;
}

// Sums the allocated size of everything inside the open directory `fd` (which it takes over).
// RocksDB deletes files while it compacts, and a save may create a pack, so an entry that vanishes
// between readdir and stat is simply gone; any other failure is an IOError naming the path.
Status WalkDirectory(int fd, const std::string& where, std::set<std::pair<dev_t, ino_t>>* seen,
                     uint64_t* total) {
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    const int err = errno;
    ::close(fd);
    return Status::IOError("cannot list " + where + ": " + std::strerror(err));
  }
  Status status;
  for (;;) {
    errno = 0;  // readdir reports failure only through errno
    const struct dirent* e = ::readdir(dir);
    if (e == nullptr) {
      if (errno != 0) status = Status::IOError("cannot list " + where + ": " + std::strerror(errno));
      break;
    }
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st;
    if (::fstatat(::dirfd(dir), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      status = Status::IOError("cannot stat " + where + "/" + name + ": " + std::strerror(errno));
      break;
    }
    Count(st, seen, total);
    if (S_ISDIR(st.st_mode)) {
      const int sub = ::openat(::dirfd(dir), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0 && errno == ENOENT) continue;
      if (sub < 0) {
        status = Status::IOError("cannot open " + where + "/" + name + ": " + std::strerror(errno));
        break;
      }
      status = WalkDirectory(sub, where + "/" + name, seen, total);
      if (!status.ok()) break;
    }
  }
  ::closedir(dir);
  return status;
}

// What `du -s` says of `path`, in bytes: st_blocks x 512 over the directory and everything in it.
Result<uint64_t> AllocatedBytes(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::IOError("cannot open store directory " + path + ": " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::IOError("cannot stat store directory " + path + ": " + std::strerror(err));
  }
  std::set<std::pair<dev_t, ino_t>> seen;
  uint64_t total = 0;
  Count(st, &seen, &total);
  if (Status s = WalkDirectory(fd, path, &seen, &total); !s.ok()) return s;
  return total;
}

}  // namespace

Result<SpaceReport> StoreImpl::Space() {
  Reading read = BeginRead();
  auto all = LoadAll(read.at());
  if (!all.ok()) return all.status();

  // Each distinct chunk: its length, the first checkpoint (index into *all) that references it, and
  // whether any other checkpoint does too. Two users are as good as many: a shared chunk is freed
  // by deleting no single checkpoint.
  struct Use {
    uint64_t length;
    size_t owner;
    bool shared;
  };
  std::unordered_map<Digest, Use, DigestHash> uses;
  SpaceReport report;
  report.checkpoints.reserve(all->size());
  for (size_t k = 0; k < all->size(); ++k) {
    const CheckpointManifest& m = (*all)[k];
    report.logical_bytes += m.info.logical_bytes;
    report.checkpoints.push_back({m.info.id, m.info.step, 0});
    for (const TensorInfo& t : m.tensors)
      for (size_t i = 0; i < t.chunks.size(); ++i) {
        const uint64_t length = ChunkLength(t.size_bytes, i, m.chunk_size);
        auto [it, fresh] = uses.try_emplace(t.chunks[i], Use{length, k, false});
        if (!fresh && it->second.owner != k) it->second.shared = true;
      }
  }
  for (const auto& [digest, use] : uses) {
    report.unique_bytes += use.length;
    if (!use.shared) report.checkpoints[use.owner].reclaimable_bytes += use.length;
  }
  report.dedup_ratio = report.unique_bytes == 0
                           ? 1.0
                           : static_cast<double>(report.logical_bytes) / static_cast<double>(report.unique_bytes);

  auto disk = AllocatedBytes(path_);
  if (!disk.ok()) return disk.status();
  report.disk_bytes = *disk;
  return report;
}

}  // namespace ckptdb

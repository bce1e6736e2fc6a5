#include "store/reader_holds.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <initializer_list>
#include <string_view>
#include <random>
#include <vector>

namespace ckptdb {
namespace {

constexpr const char* kPending = "pending";
// A hold is created and locked under this prefix, then renamed into view, so the writer never sees
// a reader's file before its lock is in place.
constexpr const char* kUnlocked = "new";
// A file left by a reader killed between creating and renaming it is removed after this long.
constexpr time_t kStaleSeconds = 60;

bool LockWhole(int fd) {
  struct flock lk {};
  lk.l_type = F_WRLCK;
  lk.l_whence = SEEK_SET;
  return ::fcntl(fd, F_OFD_SETLK, &lk) == 0;
}

// The epoch a hold's name carries: 0 for a pending one; nullopt for a name that is not a hold.
std::optional<uint64_t> EpochOf(const std::string& name) {
  const size_t dot = name.find('.');
  if (dot == std::string::npos) return std::nullopt;
  const std::string_view head(name.data(), dot);
  if (head == kPending) return 0;
  uint64_t epoch = 0;
  auto [end, ec] = std::from_chars(head.data(), head.data() + head.size(), epoch);
  if (ec != std::errc() || end != head.data() + head.size() || head.empty()) return std::nullopt;
  return epoch;
}

// Built by appending: GCC 12 -O2 warns falsely (-Wrestrict) on chains of operator+ here.
std::string Cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) out.append(p);
  return out;
}

bool CannotWrite(int err) { return err == EROFS || err == EACCES || err == EPERM || err == ENOSPC || err == EDQUOT; }

}  // namespace

Result<std::unique_ptr<ReaderHold>> ReaderHold::Take(const std::string& store_dir) {
  const std::string dir = Cat({store_dir, "/", kReaderHoldsDir});
  auto empty = [&] { return std::unique_ptr<ReaderHold>(new ReaderHold(dir, "", -1)); };
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    if (CannotWrite(errno)) return empty();
    return Status::IOError("cannot create " + dir + ": " + std::strerror(errno));
  }
  std::random_device rd;
  const std::string tail = Cat({".", std::to_string(::getpid()), ".", std::to_string(rd()), std::to_string(rd())});
  const std::string unlocked = Cat({dir, "/", kUnlocked, tail});
  const int fd = ::open(unlocked.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (CannotWrite(errno)) return empty();
    return Status::IOError("cannot create reader hold " + unlocked + ": " + std::strerror(errno));
  }
  const std::string pending = Cat({kPending, tail});
  // The writer's probe of a young unlocked file holds its lock for an instant: try again.
  bool locked = false;
  for (int attempt = 0; attempt < 100 && !(locked = LockWhole(fd)); ++attempt) ::usleep(1000);
  if (!locked || ::rename(unlocked.c_str(), Cat({dir, "/", pending}).c_str()) != 0) {
    const int err = errno;
    ::unlink(unlocked.c_str());
    ::close(fd);
    return Status::IOError("cannot take reader hold in " + dir + ": " + std::strerror(err));
  }
  auto hold = std::unique_ptr<ReaderHold>(new ReaderHold(dir, pending, fd));
  hold->nonce_ = tail;
  return hold;
}

ReaderHold::~ReaderHold() {
  if (fd_ < 0) return;
  ::unlink(Cat({dir_, "/", name_}).c_str());
  ::close(fd_);
}

Status ReaderHold::Advance(uint64_t epoch) {
  if (fd_ < 0) return Status::OK();
  const std::string name = Cat({std::to_string(epoch), nonce_});
  if (name == name_) return Status::OK();
  if (::rename(Cat({dir_, "/", name_}).c_str(), Cat({dir_, "/", name}).c_str()) != 0)
    return Status::IOError("cannot advance reader hold " + dir_ + "/" + name_ + ": " + std::strerror(errno));
  name_ = name;
  return Status::OK();
}

std::optional<uint64_t> OldestReaderEpoch(const std::string& store_dir) {
  const std::string dir = Cat({store_dir, "/", kReaderHoldsDir});
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) names.emplace_back(e->d_name);
    ::closedir(d);
  }
  std::optional<uint64_t> oldest;
  for (const std::string& name : names) {
    const bool unlocked = name.rfind(Cat({kUnlocked, "."}), 0) == 0;
    const auto epoch = EpochOf(name);
    if (!epoch && !unlocked) continue;
    const std::string path = Cat({dir, "/", name});
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      // Renamed by a reader advancing its hold since the listing: alive, and as old as can be.
      if (errno == ENOENT && epoch) oldest = 0;
      continue;
    }
    struct stat st {};
    const bool stale = ::fstat(fd, &st) == 0 && st.st_mtime + kStaleSeconds < ::time(nullptr);
    if (LockWhole(fd)) {
      // Nobody holds it: its reader is gone (or, for an unlocked name, is about to lock it: leave
      // young ones alone).
      if (!unlocked || stale) ::unlink(path.c_str());
    } else if (epoch) {
      oldest = oldest ? std::min(*oldest, *epoch) : *epoch;
    }
    ::close(fd);
  }
  return oldest;
}

}  // namespace ckptdb

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "store/io/file_system.h"

namespace ckptdb::io {
namespace {

Status Errno(const std::string& what, int err = errno) {
  return Status::IOError(what + ": " + std::strerror(err));
}

// Opens with O_DIRECT if asked and supported (tmpfs and some others refuse it), else buffered.
int OpenMaybeDirect(const std::string& path, int flags, bool direct, bool* is_direct) {
  if (direct) {
    int fd = ::open(path.c_str(), flags | O_DIRECT | O_CLOEXEC, 0644);
    if (fd >= 0 || errno != EINVAL) {
      *is_direct = fd >= 0;
      return fd;
    }
  }
  *is_direct = false;
  return ::open(path.c_str(), flags | O_CLOEXEC, 0644);
}

class PosixWritable final : public WritableFile {
 public:
  PosixWritable(std::string path, int fd, bool direct) : path_(std::move(path)), fd_(fd), direct_(direct) {}
  ~PosixWritable() override { ::close(fd_); }
  Status WriteAt(uint64_t offset, const void* data, uint64_t len) override {
    for (uint64_t done = 0; done < len;) {
      ssize_t n = ::pwrite(fd_, static_cast<const uint8_t*>(data) + done, len - done, offset + done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Errno("cannot write " + path_);
      done += n;
    }
    return Status::OK();
  }
  Status Sync() override {
    if (::fdatasync(fd_) != 0) return Errno("cannot sync " + path_);
    return Status::OK();
  }
  bool direct() const override { return direct_; }

 private:
  const std::string path_;
  const int fd_;
  const bool direct_;
};

class PosixReadable final : public ReadableFile {
 public:
  PosixReadable(std::string path, int fd, bool direct) : path_(std::move(path)), fd_(fd), direct_(direct) {}
  ~PosixReadable() override { ::close(fd_); }
  Result<uint64_t> ReadAt(uint64_t offset, uint64_t len, void* dest) override {
    uint64_t got = 0;
    while (got < len) {
      ssize_t n = ::pread(fd_, static_cast<uint8_t*>(dest) + got, len - got, offset + got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Errno("cannot read " + path_);
      if (n == 0) break;
      got += n;
    }
    return got;
  }
  bool direct() const override { return direct_; }

 private:
  const std::string path_;
  const int fd_;
  const bool direct_;
};

class Posix final : public FileSystem {
 public:
  Result<std::unique_ptr<WritableFile>> CreateFile(const std::string& path, bool direct) override {
    bool is_direct = false;
    int fd = OpenMaybeDirect(path, O_WRONLY | O_CREAT | O_TRUNC, direct, &is_direct);
    if (fd < 0) return Errno("cannot create " + path);
    return std::unique_ptr<WritableFile>(new PosixWritable(path, fd, is_direct));
  }
  Result<std::unique_ptr<ReadableFile>> OpenForRead(const std::string& path, bool direct) override {
    bool is_direct = false;
    int fd = OpenMaybeDirect(path, O_RDONLY, direct, &is_direct);
    if (fd < 0 && errno == ENOENT) return Status::NotFound(path + " does not exist");
    if (fd < 0) return Errno("cannot open " + path);
    return std::unique_ptr<ReadableFile>(new PosixReadable(path, fd, is_direct));
  }
  Status SyncDir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Errno("cannot open directory " + dir);
    int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) return Errno("cannot sync directory " + dir, err);
    return Status::OK();
  }
  Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return Errno("cannot rename " + from + " to " + to);
    return Status::OK();
  }
  Status Remove(const std::string& path) override {
    if (::unlink(path.c_str()) == 0) return Status::OK();
    if (errno == ENOENT) return Status::NotFound(path + " does not exist");
    return Errno("cannot delete " + path);
  }
  Result<std::vector<std::string>> ListDir(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (!d) return Errno("cannot list " + dir);
    std::vector<std::string> out;
    for (;;) {
      errno = 0;
      const dirent* e = ::readdir(d);
      if (!e) {
        const int err = errno;
        ::closedir(d);
        if (err != 0) return Errno("cannot list " + dir, err);
        return out;
      }
      const std::string name = e->d_name;
      if (name != "." && name != "..") out.push_back(name);
    }
  }
  Result<uint64_t> AllocatedBytes(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) return Status::NotFound(path + " does not exist");
      return Errno("cannot stat " + path);
    }
    return uint64_t(st.st_blocks) * 512;
  }
};

}  // namespace

std::shared_ptr<FileSystem> PosixFileSystem() {
  static const std::shared_ptr<FileSystem> fs = std::make_shared<Posix>();
  return fs;
}

}  // namespace ckptdb::io

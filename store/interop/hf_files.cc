#include "store/interop/hf_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ckptdb::hf {
namespace {

Status Io(const std::string& path, const std::string& what) {
  return Status::IOError(path + ": " + what + ": " + std::strerror(errno));
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::string Trimmed(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

}  // namespace

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

Result<std::string> ReadSmallFile(const std::string& path, uint64_t limit) {
  // stat first: opening a FIFO for reading would block until a writer appears.
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::NotFound(path + ": no such file");
    return Io(path, "cannot stat");
  }
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(path + ": not a regular file");
  if (uint64_t(st.st_size) > limit)
    return Status::Corruption(path + ": " + std::to_string(st.st_size) + " bytes, over the " + std::to_string(limit) +
                              "-byte limit for this file");
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)};
  if (f.fd < 0) return Io(path, "cannot open");
  if (::fstat(f.fd, &st) != 0 || !S_ISREG(st.st_mode)) return Status::InvalidArgument(path + ": not a regular file");
  std::string out;
  char buf[1 << 16];
  for (;;) {
    ssize_t r = ::read(f.fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Io(path, "cannot read");
    if (r == 0) break;
    out.append(buf, size_t(r));
    if (out.size() > limit) return Status::Corruption(path + ": grew over the " + std::to_string(limit) + "-byte limit while being read");
  }
  return out;
}

Status WriteNewFile(const std::string& path, const std::string& bytes) {
  Fd f{::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)};
  if (f.fd < 0) return Io(path, "cannot create");
  for (size_t done = 0; done < bytes.size();) {
    ssize_t w = ::write(f.fd, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return Io(path, "cannot write");
    done += size_t(w);
  }
  if (::fsync(f.fd) != 0) return Io(path, "cannot fsync");
  const int fd = f.fd;
  f.fd = -1;
  if (::close(fd) != 0) return Io(path, "cannot close");
  return Status::OK();
}

Status SyncDir(const std::string& dir) {
  Fd f{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (f.fd < 0) return Io(dir, "cannot open directory to fsync it");
  if (::fsync(f.fd) != 0) return Io(dir, "cannot fsync directory");
  return Status::OK();
}

std::string ParentOf(const std::string& path) {
  const std::string p = Trimmed(path);
  const size_t slash = p.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : p.substr(0, slash);
}

std::string BaseOf(const std::string& path) {
  const std::string p = Trimmed(path);
  const size_t slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

}  // namespace ckptdb::hf

#include "store/interop/safetensors_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "store/human_text.h"

namespace ckptdb {
namespace {

// What a non-regular file is, for the message that refuses it.
const char* KindOf(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

Status NotRegular(const std::string& path, mode_t mode) {
  return Status::InvalidArgument(path + ": is " + KindOf(mode) + ", not a regular file (give a .safetensors file)");
}

// Closes the descriptor on every return path.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Reads exactly `len` bytes at `offset`. A short read means the file shrank after it was
// measured: `size` is what fstat said.
Status ReadExactly(int fd, const std::string& path, uint64_t offset, uint64_t len, uint8_t* dest, uint64_t size) {
  uint64_t done = 0;
  while (done < len) {
    // At most 64 MiB per call, so no single call asks the kernel for more than it may return.
    ssize_t r = ::pread(fd, dest + done, std::min<uint64_t>(len - done, 64ull << 20), off_t(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Status::IOError(path + ": cannot read: " + std::strerror(errno));
    if (r == 0)
      return Status::IOError(path + ": truncated while being read (the file was " + std::to_string(size) +
                             " bytes when opened, but ends at byte " + std::to_string(offset + done) + ")");
    done += uint64_t(r);
  }
  return Status::OK();
}

}  // namespace

Result<SafetensorsFile> SafetensorsFile::Open(const std::string& path) { return OpenWithHook(path, {}); }

Result<SafetensorsFile> SafetensorsFile::OpenWithHook(const std::string& path, const std::function<void()>& before_data) {
  auto fail = [&](Code code, const std::string& what) { return Status(code, path + ": " + what); };
  // Refuse what is not a regular file before opening it: opening a FIFO for reading blocks until a
  // writer appears, and reading a device may never end.
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    return fail(err == ENOENT ? Code::kNotFound : Code::kIOError, std::string("cannot open: ") + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) return NotRegular(path, st.st_mode);
  // O_NONBLOCK: should the path have become a FIFO since the stat, the open returns at once and
  // the fstat below refuses it.
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)};
  if (f.fd < 0) {
    int err = errno;
    return fail(err == ENOENT ? Code::kNotFound : Code::kIOError, std::string("cannot open: ") + std::strerror(err));
  }
  if (::fstat(f.fd, &st) != 0) return fail(Code::kIOError, std::string("cannot stat: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return NotRegular(path, st.st_mode);
  // A regular file it is: reads may block as reads of files do (some network filesystems honour
  // O_NONBLOCK with EAGAIN, which would read as a failure).
  if (int flags = ::fcntl(f.fd, F_GETFL); flags < 0 || ::fcntl(f.fd, F_SETFL, flags & ~O_NONBLOCK) != 0)
    return fail(Code::kIOError, std::string("cannot clear O_NONBLOCK: ") + std::strerror(errno));
  const uint64_t size = uint64_t(st.st_size);
  if (size < 8)
    return fail(Code::kCorruption, "file is " + Plural(size, "byte") + ", shorter than the 8-byte header length");

  SafetensorsFile out;
  out.path_ = path;
  uint8_t prefix[8];
  if (Status s = ReadExactly(f.fd, path, 0, 8, prefix, size); !s.ok()) return s;
  auto n = ParseSafetensorsPrefix(prefix, size);
  if (!n.ok()) return n.status().WithContext(path);
  out.header_length_ = *n;
  std::string text(*n, '\0');
  if (Status s = ReadExactly(f.fd, path, 8, *n, reinterpret_cast<uint8_t*>(text.data()), size); !s.ok()) return s;
  const uint64_t data_size = size - 8 - *n;
  auto header = ParseSafetensorsHeader(text, data_size);
  if (!header.ok()) return header.status().WithContext(path);
  out.header_ = std::move(header).value();
  if (before_data) before_data();
  out.data_ = Buffer::Allocate(data_size);
  if (Status s = ReadExactly(f.fd, path, 8 + *n, data_size, out.data_.data(), size); !s.ok()) return s;
  return out;
}

const SafetensorsEntry* SafetensorsFile::find(std::string_view name) const {
  for (const auto& e : header_.tensors)
    if (e.name == name) return &e;
  return nullptr;
}

TensorRef SafetensorsFile::ref(const SafetensorsEntry& e) const {
  return TensorRef{e.name, e.dtype, e.shape, data(e), e.end - e.begin};
}

}  // namespace ckptdb

#include "store/interop/safetensors_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "store/interop/safetensors_header.h"

namespace ckptdb {
bool WriteAllToFd(int fd, const void* p, uint64_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  while (n > 0) {
    ssize_t w = ::write(fd, b, std::min<uint64_t>(n, 1u << 30));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      if (w == 0) errno = EIO;
      return false;
    }
    b += w;
    n -= uint64_t(w);
  }
  return true;
}

// The temporary file: closed, and removed unless it was renamed into place.
struct SafetensorsWriter::Temp {
  std::string path;  // the final name
  std::string name;  // the temporary's
  int fd = -1;
  bool renamed = false;
  // Where each tensor's bytes end in the data section, to name the tensor a failed write was in.
  std::vector<std::pair<uint64_t, std::string>> ends;
  uint64_t written = 0;
  ~Temp() {
    if (fd >= 0) ::close(fd);
    if (!renamed) ::unlink(name.c_str());
  }
  // Reads errno before building any string, so the message reports the failing call's error.
  Status Io(std::string_view what, std::string_view detail = {}) const {
    int err = errno;
    return Status::IOError(path + ": " + std::string(what) + std::string(detail) + ": " + std::strerror(err));
  }
};

SafetensorsWriter::SafetensorsWriter(std::unique_ptr<Temp> t) : t_(std::move(t)) {}
SafetensorsWriter::SafetensorsWriter(SafetensorsWriter&&) noexcept = default;
SafetensorsWriter& SafetensorsWriter::operator=(SafetensorsWriter&&) noexcept = default;
SafetensorsWriter::~SafetensorsWriter() = default;

Result<SafetensorsWriter> SafetensorsWriter::Create(const std::string& path, std::span<const TensorRef> tensors,
                                                    const std::map<std::string, std::string>& metadata) {
  auto header = EncodeSafetensorsHeader(tensors, metadata);
  if (!header.ok()) return header.status().WithContext(path);
  auto t = std::make_unique<Temp>();
  t->path = path;
  t->name = path + ".tmp-XXXXXX";
  uint64_t end = 0;
  for (const TensorRef& r : tensors) t->ends.emplace_back(end += r.size_bytes, r.name);
  t->fd = ::mkostemp(t->name.data(), O_CLOEXEC);
  if (t->fd < 0) {
    t->renamed = true;  // nothing was created, so nothing to remove
    return t->Io("cannot create a temporary file in its directory");
  }
  // mkostemp makes the file 0600; an exported checkpoint should be as readable as any other file.
  if (::fchmod(t->fd, 0644) != 0) return t->Io("cannot chmod ", t->name);
  if (!WriteAllToFd(t->fd, header->data(), header->size())) return t->Io("cannot write");
  return SafetensorsWriter(std::move(t));
}

Status SafetensorsWriter::Append(const void* data, uint64_t n) {
  if (n == 0) return Status::OK();
  if (!WriteAllToFd(t_->fd, data, n)) {
    int err = errno;
    auto it = std::upper_bound(t_->ends.begin(), t_->ends.end(), t_->written,
                               [](uint64_t at, const auto& e) { return at < e.first; });
    errno = err;
    return it == t_->ends.end() ? t_->Io("cannot write") : t_->Io("cannot write tensor ", it->second);
  }
  t_->written += n;
  return Status::OK();
}

Status SafetensorsWriter::Finish() {
  Temp& t = *t_;
  const uint64_t want = t.ends.empty() ? 0 : t.ends.back().first;
  if (t.written != want)
    return Status::Internal(t.path + ": " + std::to_string(t.written) + " data bytes were written, the header says " +
                            std::to_string(want));
  if (::fsync(t.fd) != 0) return t.Io("cannot fsync ", t.name);
  int fd = std::exchange(t.fd, -1);
  if (::close(fd) != 0) return t.Io("cannot close ", t.name);
  if (::rename(t.name.c_str(), t.path.c_str()) != 0) return t.Io("cannot rename over it from ", t.name);
  t.renamed = true;
  // The rename is durable only once the directory entry is on disk.
  size_t slash = t.path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : t.path.substr(0, slash);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return t.Io("cannot open directory to fsync it: ", dir);
  bool synced = ::fsync(dfd) == 0;
  int err = errno;
  ::close(dfd);
  errno = err;
  return synced ? Status::OK() : t.Io("cannot fsync directory ", dir);
}

Status WriteSafetensors(const std::string& path, const std::vector<TensorRef>& tensors,
                        const std::map<std::string, std::string>& metadata) {
  for (const TensorRef& t : tensors)
    if (Status s = ValidateTensorRef(t); !s.ok()) return s.WithContext(path);
  auto w = SafetensorsWriter::Create(path, tensors, metadata);
  if (!w.ok()) return w.status();
  for (const TensorRef& t : tensors)
    if (Status s = w->Append(t.data, t.size_bytes); !s.ok()) return s;
  return w->Finish();
}

}  // namespace ckptdb

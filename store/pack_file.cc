#include "store/pack_file.h"

#include <cstdio>
#include <cstring>

#include "store/blake3.h"
#include "store/host_memory.h"

namespace ckptdb {
namespace {

bool Aligned(const void* p, uint64_t len) {
  return reinterpret_cast<uintptr_t>(p) % kPackAlign == 0 && len % kPackAlign == 0;
}

struct Scratch {
  uint8_t* data = nullptr;
  uint64_t size = 0;
  ~Scratch() {
    UnmapHostMemory(data, size);
  }
};

}  // namespace

std::string PackPath(const std::string& dir, uint64_t pack_id) {
  char name[32];
  std::snprintf(name, sizeof name, "%020llu.pack", static_cast<unsigned long long>(pack_id));
  return dir + "/" + name;
}

uint8_t* ThreadScratch(uint64_t size) {
  thread_local Scratch s;
  if (s.size < size) {
    UnmapHostMemory(s.data, s.size);
    s.size = PackPadded(size);
    s.data = MapHostMemory(s.size);
    if (s.data == nullptr) {
      s.size = 0;
      return nullptr;
    }
  }
  return s.data;
}

Result<std::unique_ptr<PackWriter>> PackWriter::Create(io::FileSystem& fs, const std::string& dir, uint64_t pack_id,
                                                      bool direct_io) {
  const std::string path = PackPath(dir, pack_id);
  auto file = fs.CreateFile(path, direct_io);
  if (!file.ok()) return file.status();  // names the path
  return std::unique_ptr<PackWriter>(new PackWriter(fs, dir, std::move(file).value()));
}

PackWriter::PackWriter(io::FileSystem& fs, std::string dir, std::unique_ptr<io::WritableFile> file)
    : fs_(fs), dir_(std::move(dir)), file_(std::move(file)) {}

uint64_t PackWriter::Reserve(uint64_t len) { return end_.fetch_add(PackPadded(len)); }

Status PackWriter::Write(uint64_t offset, const void* data, uint64_t len) {
  const uint64_t padded = PackPadded(len);
  const void* src = data;
  if (!Aligned(data, padded) || padded != len) {
    // O_DIRECT needs aligned memory and lengths; copy (cheap next to the disk) into scratch.
    uint8_t* scratch = ThreadScratch(padded);
    if (!scratch) return Status::IOError("out of memory for a " + std::to_string(padded) + "-byte write buffer");
    std::memcpy(scratch, data, len);
    std::memset(scratch + len, 0, padded - len);
    src = scratch;
  }
  return file_->WriteAt(offset, src, padded);
}

Status PackWriter::Finish() {
  if (Status s = file_->Sync(); !s.ok()) return s;
  return fs_.SyncDir(dir_);
}

void PackReader::Evict(uint64_t pack_id) {
  std::lock_guard<std::mutex> l(mu_);
  if (auto it = open_.find(pack_id); it != open_.end()) {
    lru_.erase(it->second.lru);
    open_.erase(it);
  }
}

Result<std::shared_ptr<io::ReadableFile>> PackReader::File(uint64_t pack_id) {
  std::lock_guard<std::mutex> l(mu_);
  if (auto it = open_.find(pack_id); it != open_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return it->second.file;
  }
  const std::string path = PackPath(dir_, pack_id);
  auto opened = fs_->OpenForRead(path, direct_io_);
  if (!opened.ok()) {
    if (opened.status().code() == Code::kNotFound) return Status::Corruption("pack file " + path + " is missing");
    return opened.status();
  }
  std::shared_ptr<io::ReadableFile> file = std::move(opened).value();
  lru_.push_front(pack_id);
  open_[pack_id] = {file, lru_.begin()};
  // Readers still holding an evicted file keep it open until their read ends.
  while (open_.size() > max_open_) {
    open_.erase(lru_.back());
    lru_.pop_back();
  }
  return file;
}

Status PackReader::ShortRead(uint64_t pack_id, uint64_t end) const {
  return Status::Corruption("pack file " + PackPath(dir_, pack_id) + " ends before offset " + std::to_string(end));
}

Result<Digest> PackReader::ReadHashed(uint64_t pack_id, uint64_t offset, uint64_t len, uint8_t* dest) {
  auto file = File(pack_id);
  if (!file.ok()) return file.status();
  if ((*file)->direct()) {
    if (Status s = Read(**file, pack_id, offset, len, dest); !s.ok()) return s;
    return HashBytes(dest, len);
  }
  Status failed;
  Digest d;
  const bool read = blake3::HashFilled(dest, len, [&](size_t at, size_t n) {
    auto got = (*file)->ReadAt(offset + at, n, dest + at);
    if (!got.ok()) failed = got.status();
    else if (*got < n) failed = ShortRead(pack_id, offset + len);
    return failed.ok();
  }, d.bytes.data());
  if (!read) return failed;
  return d;
}

Status PackReader::Read(uint64_t pack_id, uint64_t offset, uint64_t len, uint8_t* dest) {
  auto file = File(pack_id);
  if (!file.ok()) return file.status();
  return Read(**file, pack_id, offset, len, dest);
}

Status PackReader::Read(io::ReadableFile& file, uint64_t pack_id, uint64_t offset, uint64_t len, uint8_t* dest) {
  const uint64_t padded = PackPadded(len);
  // Straight into the caller's memory when O_DIRECT allows it; otherwise through scratch.
  const bool direct_into_dest = !file.direct() || (Aligned(dest, padded) && padded == len);
  uint8_t* buf = direct_into_dest ? dest : ThreadScratch(padded);
  if (!buf) return Status::IOError("out of memory for a " + std::to_string(padded) + "-byte read buffer");
  const uint64_t want = direct_into_dest ? len : padded;
  auto got = file.ReadAt(offset, want, buf);
  if (!got.ok()) return got.status();
  if (*got < len) return ShortRead(pack_id, offset + len);
  if (!direct_into_dest) std::memcpy(dest, buf, len);
  return Status::OK();
}

}  // namespace ckptdb

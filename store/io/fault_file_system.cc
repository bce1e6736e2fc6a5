#include "store/io/fault_file_system.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace ckptdb::io {
namespace {

std::string Normal(const std::string& path) {
  std::string s = std::filesystem::path(path).lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

std::string Parent(const std::string& path) { return std::filesystem::path(Normal(path)).parent_path().string(); }

std::optional<std::string> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), {});
}

Status WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  out.close();
  if (!out) return Status::IOError("power cut: cannot restore " + path);
  return Status::OK();
}

class FaultWritable final : public WritableFile {
 public:
  FaultWritable(FaultFileSystem& fs, std::string path, std::unique_ptr<WritableFile> target)
      : fs_(fs), path_(std::move(path)), target_(std::move(target)) {}
  Status WriteAt(uint64_t offset, const void* data, uint64_t len) override {
    if (Status s = fs_.BeforeMutation("write " + path_); !s.ok()) return s;
    if (Status s = target_->WriteAt(offset, data, len); !s.ok()) return s;
    fs_.NoteWrite(path_, offset, len);
    return Status::OK();
  }
  Status Sync() override {
    if (Status s = fs_.BeforeSync("fdatasync " + path_); !s.ok()) return s;
    if (Status s = target_->Sync(); !s.ok()) return s;
    fs_.NoteSynced(path_);
    return Status::OK();
  }
  bool direct() const override { return target_->direct(); }

 private:
  FaultFileSystem& fs_;
  const std::string path_;
  const std::unique_ptr<WritableFile> target_;
};

}  // namespace

FaultFileSystem::FaultFileSystem(std::shared_ptr<FileSystem> target) : target_(std::move(target)) {}

Result<std::unique_ptr<WritableFile>> FaultFileSystem::CreateFile(const std::string& path, bool direct) {
  if (Status s = BeforeMutation("create " + path); !s.ok()) return s;
  std::error_code ec;
  const bool existed = std::filesystem::exists(path, ec);
  auto file = target_->CreateFile(path, direct);
  if (!file.ok()) return file.status();
  NoteCreated(path, existed);
  return std::unique_ptr<WritableFile>(new FaultWritable(*this, Normal(path), std::move(file).value()));
}

Result<std::unique_ptr<ReadableFile>> FaultFileSystem::OpenForRead(const std::string& path, bool direct) {
  return target_->OpenForRead(path, direct);
}

Status FaultFileSystem::SyncDir(const std::string& dir) {
  if (Status s = BeforeSync("fsync directory " + dir); !s.ok()) return s;
  if (Status s = target_->SyncDir(dir); !s.ok()) return s;
  NoteDirSynced(dir);
  return Status::OK();
}

Status FaultFileSystem::Rename(const std::string& from, const std::string& to) {
  if (Status s = BeforeMutation("rename " + from); !s.ok()) return s;
  return RecordRename(from, to, [&] { return target_->Rename(from, to); });
}

Status FaultFileSystem::Remove(const std::string& path) {
  if (Status s = BeforeMutation("delete " + path); !s.ok()) return s;
  return RecordUnlink(path, [&] { return target_->Remove(path); });
}

Result<std::vector<std::string>> FaultFileSystem::ListDir(const std::string& dir) { return target_->ListDir(dir); }

Result<uint64_t> FaultFileSystem::AllocatedBytes(const std::string& path) { return target_->AllocatedBytes(path); }

void FaultFileSystem::CutAtSync(uint64_t k) {
  std::lock_guard<std::mutex> l(mu_);
  cut_at_ = k;
  syncs_ = 0;
  sync_log_.clear();
}

uint64_t FaultFileSystem::syncs() const {
  std::lock_guard<std::mutex> l(mu_);
  return syncs_;
}

std::vector<std::string> FaultFileSystem::sync_log() const {
  std::lock_guard<std::mutex> l(mu_);
  return sync_log_;
}

bool FaultFileSystem::cut() const {
  std::lock_guard<std::mutex> l(mu_);
  return cut_;
}

void FaultFileSystem::IgnoreFileSyncsUnder(std::string prefix) {
  std::lock_guard<std::mutex> l(mu_);
  ignore_syncs_under_ = prefix.empty() ? prefix : Normal(prefix);
}

Status FaultFileSystem::BeforeMutation(const std::string& what) {
  std::lock_guard<std::mutex> l(mu_);
  if (cut_) return Status::IOError("simulated power cut: " + what + " did not happen");
  return Status::OK();
}

Status FaultFileSystem::BeforeSync(const std::string& what) {
  std::lock_guard<std::mutex> l(mu_);
  if (cut_) return Status::IOError("simulated power cut: " + what + " did not happen");
  ++syncs_;
  sync_log_.push_back(what);
  if (syncs_ == cut_at_) {
    cut_ = true;
    return Status::IOError("simulated power cut at sync point " + std::to_string(syncs_) + " (" + what + ")");
  }
  return Status::OK();
}

void FaultFileSystem::NoteCreated(const std::string& path_in, bool existed) {
  const std::string path = Normal(path_in);
  std::lock_guard<std::mutex> l(mu_);
  // Truncating an existing file is taken as durable at once: the store only truncates files no
  // index entry names, so losing their old bytes is the pessimistic outcome.
  files_[path] = FileState{};
  if (!existed) ops_.push_back({DirOp::kCreate, Parent(path), path, {}, std::nullopt});
}

void FaultFileSystem::NoteOpened(const std::string& path_in, uint64_t size) {
  const std::string path = Normal(path_in);
  std::lock_guard<std::mutex> l(mu_);
  if (!files_.count(path)) files_[path] = FileState{size, size, {}};
}

void FaultFileSystem::NoteWrite(const std::string& path_in, uint64_t offset, uint64_t len) {
  const std::string path = Normal(path_in);
  std::lock_guard<std::mutex> l(mu_);
  FileState& f = files_[path];
  f.size = std::max(f.size, offset + len);
  if (offset < f.synced_size) f.unsynced.emplace_back(offset, len);
}

void FaultFileSystem::NoteTruncated(const std::string& path_in, uint64_t size) {
  const std::string path = Normal(path_in);
  std::lock_guard<std::mutex> l(mu_);
  FileState& f = files_[path];
  f.size = size;
  f.synced_size = std::min(f.synced_size, size);
}

void FaultFileSystem::NoteSynced(const std::string& path_in) {
  const std::string path = Normal(path_in);
  std::lock_guard<std::mutex> l(mu_);
  if (!ignore_syncs_under_.empty() && path.rfind(ignore_syncs_under_, 0) == 0) return;
  FileState& f = files_[path];
  f.synced_size = f.size;
  f.unsynced.clear();
}

void FaultFileSystem::NoteDirSynced(const std::string& dir_in) {
  const std::string dir = Normal(dir_in);
  std::lock_guard<std::mutex> l(mu_);
  std::erase_if(ops_, [&](const DirOp& op) { return op.dir == dir; });
}

std::optional<std::string> FaultFileSystem::DurableContent(const std::string& path) {
  std::optional<std::string> bytes = ReadAll(path);
  auto it = files_.find(path);
  if (!bytes || it == files_.end()) return bytes;
  const FileState& f = it->second;
  bytes->resize(std::min<uint64_t>(bytes->size(), f.synced_size));
  for (const auto& [off, len] : f.unsynced)
    if (off < bytes->size()) std::fill_n(bytes->begin() + off, std::min<uint64_t>(len, bytes->size() - off), '\0');
  return bytes;
}

Status FaultFileSystem::RecordRename(const std::string& from_in, const std::string& to_in,
                                     const std::function<Status()>& rename) {
  const std::string from = Normal(from_in), to = Normal(to_in);
  std::lock_guard<std::mutex> l(mu_);
  std::optional<std::string> saved = DurableContent(to);
  if (Status s = rename(); !s.ok()) return s;
  ops_.push_back({DirOp::kRename, Parent(to), to, from, std::move(saved)});
  files_.erase(to);
  if (auto it = files_.find(from); it != files_.end()) {
    files_[to] = it->second;
    files_.erase(from);
  }
  return Status::OK();
}

Status FaultFileSystem::RecordUnlink(const std::string& path_in, const std::function<Status()>& unlink) {
  const std::string path = Normal(path_in);
  std::lock_guard<std::mutex> l(mu_);
  std::optional<std::string> saved = DurableContent(path);
  if (Status s = unlink(); !s.ok()) return s;
  ops_.push_back({DirOp::kUnlink, Parent(path), path, {}, std::move(saved)});
  files_.erase(path);
  return Status::OK();
}

Status FaultFileSystem::PowerCut() {
  std::lock_guard<std::mutex> l(mu_);
  std::error_code ec;
  // Undo the directory operations no directory fsync made durable, newest first.
  for (auto op = ops_.rbegin(); op != ops_.rend(); ++op) {
    switch (op->kind) {
      case DirOp::kCreate:
        std::filesystem::remove(op->path, ec);
        files_.erase(op->path);
        break;
      case DirOp::kRename:
        std::filesystem::rename(op->path, op->from, ec);
        if (auto it = files_.find(op->path); it != files_.end()) {
          files_[op->from] = it->second;
          files_.erase(it);
        }
        if (op->saved)
          if (Status s = WriteAll(op->path, *op->saved); !s.ok()) return s;
        break;
      case DirOp::kUnlink:
        if (op->saved)
          if (Status s = WriteAll(op->path, *op->saved); !s.ok()) return s;
        files_.erase(op->path);
        break;
    }
  }
  // Then cut every surviving file back to what its last sync covered.
  for (const auto& [path, f] : files_) {
    if (!std::filesystem::exists(path, ec)) continue;
    std::optional<std::string> durable = DurableContent(path);
    if (durable && durable->size() != std::filesystem::file_size(path, ec)) {
      std::filesystem::resize_file(path, durable->size(), ec);
      if (ec) return Status::IOError("power cut: cannot truncate " + path + ": " + ec.message());
    }
    if (!f.unsynced.empty() && durable)
      if (Status s = WriteAll(path, *durable); !s.ok()) return s;
  }
  files_.clear();
  ops_.clear();
  cut_ = false;
  cut_at_ = 0;
  syncs_ = 0;
  sync_log_.clear();
  return Status::OK();
}

}  // namespace ckptdb::io

#include "store/io/fault_rocksdb_fs.h"

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

namespace ckptdb::io {
namespace {

using rocksdb::DataVerificationInfo;
using rocksdb::FileOptions;
using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;
using rocksdb::Slice;

IOStatus ToIo(const Status& s) { return s.ok() ? IOStatus::OK() : IOStatus::IOError(s.message()); }
Status FromIo(const IOStatus& s) { return s.ok() ? Status::OK() : Status::IOError(s.ToString()); }

class Writable final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  Writable(FaultFileSystem& model, std::string path, uint64_t pos, std::unique_ptr<rocksdb::FSWritableFile> t)
      : FSWritableFileOwnerWrapper(std::move(t)), model_(model), path_(std::move(path)), pos_(pos) {}

  IOStatus Append(const Slice& data, const IOOptions& o, IODebugContext* dbg) override {
    return Note(data.size(), pos_, [&] { return target()->Append(data, o, dbg); });
  }
  IOStatus Append(const Slice& data, const IOOptions& o, const DataVerificationInfo& v, IODebugContext* dbg) override {
    return Note(data.size(), pos_, [&] { return target()->Append(data, o, v, dbg); });
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t off, const IOOptions& o, IODebugContext* dbg) override {
    return Note(data.size(), off, [&] { return target()->PositionedAppend(data, off, o, dbg); });
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t off, const IOOptions& o, const DataVerificationInfo& v,
                            IODebugContext* dbg) override {
    return Note(data.size(), off, [&] { return target()->PositionedAppend(data, off, o, v, dbg); });
  }
  IOStatus Truncate(uint64_t size, const IOOptions& o, IODebugContext* dbg) override {
    if (Status s = model_.BeforeMutation("truncate " + path_); !s.ok()) return ToIo(s);
    IOStatus s = target()->Truncate(size, o, dbg);
    if (s.ok()) {
      model_.NoteTruncated(path_, size);
      pos_ = size;
    }
    return s;
  }
  IOStatus Sync(const IOOptions& o, IODebugContext* dbg) override {
    return Synced("fdatasync", [&] { return target()->Sync(o, dbg); });
  }
  IOStatus Fsync(const IOOptions& o, IODebugContext* dbg) override {
    return Synced("fsync", [&] { return target()->Fsync(o, dbg); });
  }
  // sync_file_range starts writeback but promises nothing: not a sync point.
  IOStatus RangeSync(uint64_t off, uint64_t n, const IOOptions& o, IODebugContext* dbg) override {
    if (Status s = model_.BeforeMutation("range sync " + path_); !s.ok()) return ToIo(s);
    return target()->RangeSync(off, n, o, dbg);
  }

 private:
  template <typename F>
  IOStatus Note(uint64_t len, uint64_t off, F&& write) {
    if (Status s = model_.BeforeMutation("append to " + path_); !s.ok()) return ToIo(s);
    IOStatus s = write();
    if (s.ok()) {
      model_.NoteWrite(path_, off, len);
      pos_ = off + len;
    }
    return s;
  }
  template <typename F>
  IOStatus Synced(const char* what, F&& sync) {
    if (Status s = model_.BeforeSync(std::string(what) + " " + path_); !s.ok()) return ToIo(s);
    IOStatus s = sync();
    if (s.ok()) model_.NoteSynced(path_);
    return s;
  }
  FaultFileSystem& model_;
  const std::string path_;
  uint64_t pos_;
};

class Directory final : public rocksdb::FSDirectoryWrapper {
 public:
  Directory(FaultFileSystem& model, std::string path, std::unique_ptr<rocksdb::FSDirectory> t)
      : FSDirectoryWrapper(std::move(t)), model_(model), path_(std::move(path)) {}
  IOStatus Fsync(const IOOptions& o, IODebugContext* dbg) override {
    return Synced([&] { return FSDirectoryWrapper::Fsync(o, dbg); });
  }
  IOStatus FsyncWithDirOptions(const IOOptions& o, IODebugContext* dbg,
                               const rocksdb::DirFsyncOptions& d) override {
    return Synced([&] { return FSDirectoryWrapper::FsyncWithDirOptions(o, dbg, d); });
  }

 private:
  template <typename F>
  IOStatus Synced(F&& sync) {
    if (Status s = model_.BeforeSync("fsync directory " + path_); !s.ok()) return ToIo(s);
    IOStatus s = sync();
    if (s.ok()) model_.NoteDirSynced(path_);
    return s;
  }
  FaultFileSystem& model_;
  const std::string path_;
};

class FaultRocksFs final : public rocksdb::FileSystemWrapper {
 public:
  FaultRocksFs(const std::shared_ptr<rocksdb::FileSystem>& base, std::shared_ptr<FaultFileSystem> model)
      : FileSystemWrapper(base), model_(std::move(model)) {}
  const char* Name() const override { return "CkptdbFaultFs"; }

  IOStatus NewWritableFile(const std::string& f, const FileOptions& fo, std::unique_ptr<rocksdb::FSWritableFile>* r,
                           IODebugContext* dbg) override {
    if (Status s = model_->BeforeMutation("create " + f); !s.ok()) return ToIo(s);
    const bool existed = target()->FileExists(f, IOOptions(), dbg).ok();
    std::unique_ptr<rocksdb::FSWritableFile> file;
    IOStatus s = target()->NewWritableFile(f, fo, &file, dbg);
    if (!s.ok()) return s;
    model_->NoteCreated(f, existed);
    *r = std::make_unique<Writable>(*model_, f, 0, std::move(file));
    return s;
  }
  IOStatus ReopenWritableFile(const std::string& f, const FileOptions& fo,
                              std::unique_ptr<rocksdb::FSWritableFile>* r, IODebugContext* dbg) override {
    if (Status s = model_->BeforeMutation("reopen " + f); !s.ok()) return ToIo(s);
    uint64_t size = 0;
    const bool existed = target()->GetFileSize(f, IOOptions(), &size, dbg).ok();
    std::unique_ptr<rocksdb::FSWritableFile> file;
    IOStatus s = target()->ReopenWritableFile(f, fo, &file, dbg);
    if (!s.ok()) return s;
    if (existed) model_->NoteOpened(f, size);
    else model_->NoteCreated(f, false);
    *r = std::make_unique<Writable>(*model_, f, size, std::move(file));
    return s;
  }
  // Only used with recycle_log_file_num > 0, which the store never sets; refusing it keeps every
  // write inside the model.
  IOStatus ReuseWritableFile(const std::string&, const std::string&, const FileOptions&,
                             std::unique_ptr<rocksdb::FSWritableFile>*, IODebugContext*) override {
    return IOStatus::NotSupported("the power-cut file system does not reuse files");
  }
  IOStatus NewRandomRWFile(const std::string&, const FileOptions&, std::unique_ptr<rocksdb::FSRandomRWFile>*,
                           IODebugContext*) override {
    return IOStatus::NotSupported("the power-cut file system has no random-write files");
  }
  IOStatus NewDirectory(const std::string& name, const IOOptions& o, std::unique_ptr<rocksdb::FSDirectory>* r,
                        IODebugContext* dbg) override {
    std::unique_ptr<rocksdb::FSDirectory> dir;
    IOStatus s = target()->NewDirectory(name, o, &dir, dbg);
    if (s.ok()) *r = std::make_unique<Directory>(*model_, name, std::move(dir));
    return s;
  }
  IOStatus RenameFile(const std::string& from, const std::string& to, const IOOptions& o,
                      IODebugContext* dbg) override {
    if (Status s = model_->BeforeMutation("rename " + from); !s.ok()) return ToIo(s);
    return ToIo(model_->RecordRename(from, to, [&] { return FromIo(target()->RenameFile(from, to, o, dbg)); }));
  }
  IOStatus DeleteFile(const std::string& f, const IOOptions& o, IODebugContext* dbg) override {
    if (Status s = model_->BeforeMutation("delete " + f); !s.ok()) return ToIo(s);
    IOStatus result;
    Status s = model_->RecordUnlink(f, [&] {
      result = target()->DeleteFile(f, o, dbg);
      return FromIo(result);
    });
    return s.ok() ? IOStatus::OK() : result;  // keeps NotFound a NotFound for RocksDB
  }
  IOStatus Truncate(const std::string& f, size_t size, const IOOptions& o, IODebugContext* dbg) override {
    if (Status s = model_->BeforeMutation("truncate " + f); !s.ok()) return ToIo(s);
    IOStatus s = target()->Truncate(f, size, o, dbg);
    if (s.ok()) model_->NoteTruncated(f, size);
    return s;
  }
  IOStatus LinkFile(const std::string& from, const std::string& to, const IOOptions& o,
                    IODebugContext* dbg) override {
    return IOStatus::NotSupported("the power-cut file system has no hard links");
  }
  IOStatus CreateDir(const std::string& d, const IOOptions& o, IODebugContext* dbg) override {
    if (Status s = model_->BeforeMutation("mkdir " + d); !s.ok()) return ToIo(s);
    return target()->CreateDir(d, o, dbg);
  }
  IOStatus CreateDirIfMissing(const std::string& d, const IOOptions& o, IODebugContext* dbg) override {
    if (Status s = model_->BeforeMutation("mkdir " + d); !s.ok()) return ToIo(s);
    return target()->CreateDirIfMissing(d, o, dbg);
  }
  IOStatus DeleteDir(const std::string& d, const IOOptions& o, IODebugContext* dbg) override {
    if (Status s = model_->BeforeMutation("rmdir " + d); !s.ok()) return ToIo(s);
    return target()->DeleteDir(d, o, dbg);
  }

 private:
  const std::shared_ptr<FaultFileSystem> model_;
};

}  // namespace

std::shared_ptr<rocksdb::Env> NewFaultRocksEnv(std::shared_ptr<FaultFileSystem> model) {
  auto fs = std::make_shared<FaultRocksFs>(rocksdb::FileSystem::Default(), std::move(model));
  return std::shared_ptr<rocksdb::Env>(rocksdb::NewCompositeEnv(fs));
}

}  // namespace ckptdb::io

// FileSystem: the few file operations the store performs on its own files (pack files and the
// store's directories), behind one small interface.
//
// Why a seam: a SIGKILL keeps the page cache, so killing a writer can never show that a sync is
// missing. Routing every durable step through this interface lets a test substitute
// FaultFileSystem (store/io/fault_file_system.h), which forgets what was not synced when it
// simulates a power cut. The Posix implementation is the production path; it keeps the O_DIRECT
// behaviour (and its buffered fallback where the filesystem refuses O_DIRECT) that packs rely on.
//
// Thread safety: every method of FileSystem and of the files it returns may be called from several
// threads at once (a file's WriteAt at disjoint ranges, as PackWriter does).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ckptdb/status.h"

namespace ckptdb::io {

// A file open for writing at explicit offsets.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Writes all `len` bytes at `offset`, or fails. With direct(), `data`, `offset` and `len` must be
  // 4 KiB-aligned.
  virtual Status WriteAt(uint64_t offset, const void* data, uint64_t len) = 0;
  // fdatasync: every byte written so far survives a power cut (the file's name does only once its
  // directory is synced too).
  virtual Status Sync() = 0;
  // Whether writes bypass the page cache (O_DIRECT).
  virtual bool direct() const = 0;
};

// A file open for reading at explicit offsets.
class ReadableFile {
 public:
  virtual ~ReadableFile() = default;
  // Reads up to `len` bytes at `offset` into `dest`; returns how many, fewer only at the end of
  // the file. With direct(), `dest`, `offset` and `len` must be 4 KiB-aligned.
  virtual Result<uint64_t> ReadAt(uint64_t offset, uint64_t len, void* dest) = 0;
  virtual bool direct() const = 0;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  // Creates `path`, or truncates it if it exists, for writing. With `direct`, uses O_DIRECT where
  // the filesystem allows it (see WritableFile::direct).
  virtual Result<std::unique_ptr<WritableFile>> CreateFile(const std::string& path, bool direct) = 0;
  // Opens `path` for reading; NotFound if it does not exist.
  virtual Result<std::unique_ptr<ReadableFile>> OpenForRead(const std::string& path, bool direct) = 0;
  // fsync of directory `dir`: entries created, renamed or removed in it so far survive a power cut.
  virtual Status SyncDir(const std::string& dir) = 0;
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  // Removes file `path`; NotFound if it does not exist.
  virtual Status Remove(const std::string& path) = 0;
  // The names (not paths) of the entries of `dir`, without "." and "..", in no particular order.
  virtual Result<std::vector<std::string>> ListDir(const std::string& dir) = 0;
  // The space `path` occupies on disk (st_blocks x 512).
  virtual Result<uint64_t> AllocatedBytes(const std::string& path) = 0;
};

// The real filesystem (POSIX calls). One shared instance; never null.
std::shared_ptr<FileSystem> PosixFileSystem();

}  // namespace ckptdb::io

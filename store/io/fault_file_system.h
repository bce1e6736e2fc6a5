// FaultFileSystem: a FileSystem that remembers what a power cut would keep, and can cut the power.
//
// Why: SIGKILL leaves the page cache alone, so a crash test that kills a writer cannot tell a
// synced byte from an unsynced one, nor a directory entry made durable by a directory fsync from
// one that is not. This file system keeps that account (modelled on LevelDB's
// db/fault_injection_test.cc) for every file it sees written: per file, how many bytes the last
// sync covered and which writes came after it; per directory, the creations, renames and unlinks
// made since its last fsync. PowerCut() then puts the real directory back into the state a power
// loss could leave: unsynced bytes dropped (written-over synced bytes zeroed), files whose
// creation was never dir-synced removed, renames and unlinks that were never dir-synced undone.
//
// It also numbers the sync points (file syncs and directory fsyncs, from ckptdb's files and,
// through store/io/fault_rocksdb_fs.h, RocksDB's) and can make the k-th one the moment the power
// goes: that sync and every later mutation fail with IOError and reach nothing, so a test can
// enumerate every sync point of an operation. Reads keep working (they change nothing).
//
// Limits: directories themselves (mkdir, rmdir, renaming a directory) are not modelled — create
// the store before cutting; content the model must restore (unlinked or renamed-over files) is
// kept in memory, which suits test-sized stores only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "store/io/file_system.h"

namespace ckptdb::io {

class FaultFileSystem final : public FileSystem {
 public:
  explicit FaultFileSystem(std::shared_ptr<FileSystem> target = PosixFileSystem());

  Result<std::unique_ptr<WritableFile>> CreateFile(const std::string& path, bool direct) override;
  Result<std::unique_ptr<ReadableFile>> OpenForRead(const std::string& path, bool direct) override;
  Status SyncDir(const std::string& dir) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status Remove(const std::string& path) override;
  Result<std::vector<std::string>> ListDir(const std::string& dir) override;
  Result<uint64_t> AllocatedBytes(const std::string& path) override;

  // --- control, for tests ---
  // The power goes at sync point `k` (1-based, counted from now; 0: never). Resets the count.
  void CutAtSync(uint64_t k);
  // Sync points counted since the last CutAtSync or PowerCut, and what each one synced.
  uint64_t syncs() const;
  std::vector<std::string> sync_log() const;
  // Whether the power has gone (the cut sync point was reached).
  bool cut() const;
  // Drops everything not durable, on the real disk (see the header comment), then forgets all
  // history and lets operations succeed again. Call it with nothing writing (the store closed).
  Status PowerCut();
  // A test-only knob: syncs of files whose path starts with `prefix` still count as sync points and
  // succeed but make nothing durable, as if the store forgot them (empty: none). It proves the
  // model catches a missing sync.
  void IgnoreFileSyncsUnder(std::string prefix);

  // --- the model, for adapters of other file layers (fault_rocksdb_fs.cc) ---
  // Fails with IOError once the power has gone; call before any operation that changes the disk.
  Status BeforeMutation(const std::string& what);
  // Counts a sync point; fails with IOError at the cut sync point and after it.
  Status BeforeSync(const std::string& what);
  // A file was created at `path` (`existed`: it was there and is now truncated to zero).
  void NoteCreated(const std::string& path, bool existed);
  // An existing file was opened for writing; its current `size` bytes are as durable as before.
  void NoteOpened(const std::string& path, uint64_t size);
  void NoteWrite(const std::string& path, uint64_t offset, uint64_t len);
  void NoteTruncated(const std::string& path, uint64_t size);
  // The file's bytes written so far are durable (its name is, once its directory is synced).
  void NoteSynced(const std::string& path);
  void NoteDirSynced(const std::string& dir);
  // Runs `rename` (which renames `from` to `to` on the real disk) or `unlink` and records it.
  Status RecordRename(const std::string& from, const std::string& to, const std::function<Status()>& rename);
  Status RecordUnlink(const std::string& path, const std::function<Status()>& unlink);

 private:
  struct FileState {
    uint64_t size = 0;         // bytes written (end of the furthest write)
    uint64_t synced_size = 0;  // bytes the last sync covered
    std::vector<std::pair<uint64_t, uint64_t>> unsynced;  // (offset, length) written since
  };
  struct DirOp {
    enum Kind { kCreate, kRename, kUnlink } kind;
    std::string dir;   // the directory whose fsync makes it durable
    std::string path;  // created, unlinked, or renamed to
    std::string from;  // renamed from
    std::optional<std::string> saved;  // durable content of the unlinked or renamed-over file
  };
  // What a power cut would leave of `path` (the whole file if the model never saw it written).
  std::optional<std::string> DurableContent(const std::string& path);

  const std::shared_ptr<FileSystem> target_;
  mutable std::mutex mu_;
  std::map<std::string, FileState> files_;  // by normalised path
  std::vector<DirOp> ops_;                  // not yet durable, oldest first
  uint64_t syncs_ = 0, cut_at_ = 0;
  bool cut_ = false;
  std::string ignore_syncs_under_;
  std::vector<std::string> sync_log_;
};

}  // namespace ckptdb::io

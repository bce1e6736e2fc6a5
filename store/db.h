// Db: the one place that talks to RocksDB. It owns the database and its column families and offers
// exactly the operations the store needs, so no other file includes RocksDB headers.
//
// Thread safety: all methods may be called concurrently (RocksDB's own guarantees).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ckptdb/digest.h"
#include "ckptdb/status.h"

namespace rocksdb {
class Env;
}

namespace ckptdb {

// A writer's open is refused on a file system with less free space than this (see Db::Open).
inline constexpr uint64_t kMinFreeBytesForWriting = 4ull << 20;

struct DbOptions {
  bool create_if_missing = true;
  int background_jobs = 2;
  // The environment RocksDB does its file I/O through (tests pass one that simulates power cuts).
  // Default: null, RocksDB's own.
  std::shared_ptr<rocksdb::Env> env;
  // Open as a RocksDB secondary instance: only reads, writes no file anywhere (so it works on a
  // read-only or full filesystem and beside a live writer), and sees the writer's later commits only
  // after Refresh. Commit and compaction fail with FailedPrecondition.
  bool read_only = false;
};

// One point-in-time view of the whole catalog (a RocksDB snapshot): reads through it see exactly
// the batches committed before it was taken, whatever commits later. Released when the last
// shared_ptr to it goes.
class DbSnapshot {
 public:
  virtual ~DbSnapshot() = default;
};

// Puts and deletes that become durable together (one synced WriteBatch).
struct CommitBatch {
  std::vector<std::pair<std::string, std::string>> meta_puts;      // default column family
  std::vector<std::string> meta_deletes;
  std::vector<std::pair<std::string, std::string>> manifest_puts;  // manifests column family
  std::vector<std::string> manifest_deletes;
  std::vector<std::pair<std::string, std::string>> chunk_puts;     // chunks column family
  std::vector<std::string> chunk_deletes;
  std::vector<std::pair<std::string, std::string>> summary_puts;   // summaries column family
  std::vector<std::string> summary_deletes;
};

class Db {
 public:
  // Opens (or creates) the RocksDB database at `path`. Busy if another process holds it. For
  // writing, IOError "... (No space left on device)" if its file system has less than
  // kMinFreeBytesForWriting free.
  // `dir` is the RocksDB directory; `store_path` is the store it belongs to, named in errors.
  static Result<std::unique_ptr<Db>> Open(const std::string& dir, const std::string& store_path,
                                         const DbOptions& options);
  ~Db();

  // A view of the catalog as committed now. Every read below takes an optional view (`at`); without
  // one it reads the latest committed state. A read-only instance's views are its state until the
  // next Refresh (REQUIRES: no read through one runs across a Refresh).
  std::shared_ptr<const DbSnapshot> Snapshot();

  // Whether the chunk index holds `d`.
  Result<bool> HasChunk(const Digest& d, const DbSnapshot* at = nullptr);
  // The chunk index value of `d` (see keys::DecodeChunkRef), or nullopt.
  Result<std::optional<std::string>> GetChunk(const Digest& d, const DbSnapshot* at = nullptr);

  // Every chunk index entry (digest, value), in key order. Values are small: this never reads chunk bytes.
  Result<std::vector<std::pair<Digest, std::string>>> ScanChunks(const DbSnapshot* at = nullptr);
  // Compacts the chunk index so deleted inline chunks give their space back.
  Status CompactChunks();

  Result<std::optional<std::string>> GetMeta(std::string_view key, const DbSnapshot* at = nullptr);
  Result<std::optional<std::string>> GetManifest(uint64_t id, const DbSnapshot* at = nullptr);
  // Every manifest with id >= `from`, by ascending id.
  Result<std::vector<std::pair<uint64_t, std::string>>> ScanManifests(const DbSnapshot* at = nullptr,
                                                                      uint64_t from = 0);
  // The summary record of checkpoint `id` (format version 2), or nullopt.
  Result<std::optional<std::string>> GetSummary(uint64_t id, const DbSnapshot* at = nullptr);
  // Every summary by ascending id, or with `newest_only` just the one with the highest id.
  Result<std::vector<std::pair<uint64_t, std::string>>> ScanSummaries(const DbSnapshot* at = nullptr,
                                                                      bool newest_only = false);
  // Every meta key starting with `prefix` and its value, in key order.
  Result<std::vector<std::pair<std::string, std::string>>> ScanMeta(std::string_view prefix,
                                                                    const DbSnapshot* at = nullptr);
  // Applies `batch` atomically and durably (sync=true).
  Status Commit(const CommitBatch& batch);
  // Reads every table file of the catalog and checks its block checksums and its whole-file
  // checksum (recorded in RocksDB's MANIFEST when the file was written). Corruption naming the
  // RocksDB file when one fails; IOError when a file cannot be read.
  Status VerifyCatalogChecksums();

  // Read-only instances: catches up with the batches a live writer committed since the open (or
  // the last refresh). Views taken before stay as they were. A no-op for the writer.
  Status Refresh();

  // Keeps the catalog from growing a file per commit: every open and close of a writer flushes a
  // small table file, and because checkpoint ids only grow, RocksDB moves each one down a level
  // without merging it, so a store of thousands of checkpoints held thousands of files (and failed
  // under a 1,024 open-file limit). When a column family holds more than `max_files` table files,
  // compacts it into a few. Called by the writer at open and every few hundred commits.
  Status CompactIfFragmented(int max_files);
  // Table files in all column families: for tests and benchmarks of the bound above.
  Result<uint64_t> TableFileCount();

  bool read_only() const { return read_only_; }

  const std::string& path() const { return path_; }

 private:
  struct Impl;
  Db(std::string path, std::unique_ptr<Impl> impl, bool read_only);
  // VerifyCatalogChecksums of a read-only instance, whose files a live writer may delete meanwhile.
  Status VerifyTableFilesBesideWriter();
  std::string path_;
  bool read_only_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ckptdb

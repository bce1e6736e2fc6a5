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

struct DbOptions {
  bool create_if_missing = true;
  int background_jobs = 2;
  // The environment RocksDB does its file I/O through (tests pass one that simulates power cuts).
  // Default: null, RocksDB's own.
  std::shared_ptr<rocksdb::Env> env;
};

// Puts and deletes that become durable together (one synced WriteBatch).
struct CommitBatch {
  std::vector<std::pair<std::string, std::string>> meta_puts;      // default column family
  std::vector<std::string> meta_deletes;
  std::vector<std::pair<std::string, std::string>> manifest_puts;  // manifests column family
  std::vector<std::string> manifest_deletes;
  std::vector<std::pair<std::string, std::string>> chunk_puts;     // chunks column family
  std::vector<std::string> chunk_deletes;
};

class Db {
 public:
  // Opens (or creates) the RocksDB database at `path`. Busy if another process holds it.
  // `dir` is the RocksDB directory; `store_path` is the store it belongs to, named in errors.
  static Result<std::unique_ptr<Db>> Open(const std::string& dir, const std::string& store_path,
                                         const DbOptions& options);
  ~Db();

  // Whether the chunk index holds `d`.
  Result<bool> HasChunk(const Digest& d);
  // The chunk index value of `d` (see keys::DecodeChunkRef), or nullopt.
  Result<std::optional<std::string>> GetChunk(const Digest& d);

  // Every chunk index entry (digest, value), in key order. Values are small: this never reads chunk bytes.
  Result<std::vector<std::pair<Digest, std::string>>> ScanChunks();
  // Compacts the chunk index so deleted inline chunks give their space back.
  Status CompactChunks();

  Result<std::optional<std::string>> GetMeta(std::string_view key);
  Result<std::optional<std::string>> GetManifest(uint64_t id);
  // Every manifest, by ascending id.
  Result<std::vector<std::pair<uint64_t, std::string>>> ScanManifests();
  // Every meta key starting with `prefix` and its value, in key order.
  Result<std::vector<std::pair<std::string, std::string>>> ScanMeta(std::string_view prefix);
  // Applies `batch` atomically and durably (sync=true).
  Status Commit(const CommitBatch& batch);

  const std::string& path() const { return path_; }

 private:
  struct Impl;
  Db(std::string path, std::unique_ptr<Impl> impl);
  std::string path_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ckptdb

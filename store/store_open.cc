#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include <boost/filesystem.hpp>

#include "store/keys.h"
#include "store/open_internal.h"
#include "store/store_impl.h"

namespace fs = boost::filesystem;

namespace ckptdb {
namespace {

// A store directory holds the RocksDB database in db/ and the chunk pack files in packs/.
constexpr const char* kDbDir = "db";
constexpr const char* kPacksDir = "packs";

bool IsStore(const fs::path& dir) {
  boost::system::error_code ec;
  return fs::exists(dir / kDbDir / "CURRENT", ec);
}

// Builds a complete store (packs/, the database with every column family, its metadata) in a
// temporary sibling and renames it into place, so a crash during creation leaves either no store or
// a whole one at `path`, never a half-made directory that later opens fail on.
Status CreateStore(const fs::path& path, uint64_t chunk_size, io::FileSystem& files,
                   const std::shared_ptr<rocksdb::Env>& env) {
  boost::system::error_code ec;
  const fs::path parent = fs::absolute(path).parent_path();
  if (!fs::exists(parent, ec)) fs::create_directories(parent, ec);
  if (ec) return Status::IOError("cannot create " + parent.string() + ": " + ec.message());
  const fs::path tmp = parent / fs::unique_path(path.filename().string() + ".creating-%%%%%%%%");
  auto fail = [&](Status s) {
    fs::remove_all(tmp, ec);
    return s;
  };
  fs::create_directories(tmp / kPacksDir, ec);
  if (ec) return fail(Status::IOError("cannot create store directory " + tmp.string() + ": " + ec.message()));
  {
    DbOptions dbo;
    dbo.create_if_missing = true;
    dbo.env = env;
    auto db = Db::Open((tmp / kDbDir).string(), path.string(), dbo);
    if (!db.ok()) return fail(db.status());
    schema::StoreMeta meta;
    meta.chunk_size = chunk_size;
    meta.created_ns = NowNs();
    CommitBatch batch;
    batch.meta_puts.emplace_back(std::string(keys::kStoreMeta), schema::EncodeStoreMeta(meta));
    batch.meta_puts.emplace_back(std::string(keys::kNextId), keys::EncodeU64(1));
    if (Status s = (*db)->Commit(batch); !s.ok()) return fail(s);
  }  // closes the database
  for (const fs::path& d : {tmp / kDbDir, tmp / kPacksDir, tmp})
    if (Status s = files.SyncDir(d.string()); !s.ok()) return fail(s);
  // rename() replaces an empty directory at `path` atomically; if another process created the store
  // first, the target is not empty and its store wins.
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    fail(Status::OK()).IgnoreError();  // only the cleanup is wanted
    if ((err == ENOTEMPTY || err == EEXIST) && IsStore(path)) return Status::OK();
    return Status::IOError("cannot move new store into " + path.string() + ": " + std::strerror(err));
  }
  return files.SyncDir(parent.string());
}

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const std::string& path, const StoreOptions& options) {
  return OpenStoreWith(path, options, io::PosixFileSystem(), nullptr);
}

Result<std::unique_ptr<Store>> OpenStoreWith(const std::string& path_in, const StoreOptions& options,
                                             std::shared_ptr<io::FileSystem> files, std::shared_ptr<rocksdb::Env> env) {
  std::string path = path_in;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  if (path.empty()) return Status::InvalidArgument("store path is empty");
  boost::system::error_code ec;
  if (!IsStore(path)) {
    if (!options.create_if_missing) return Status::NotFound("no store at " + path);
    if (fs::exists(path, ec)) {
      // A directory that holds files but no store is someone else's: never write into it.
      if (!fs::is_directory(path, ec)) return Status::InvalidArgument(path + " is not a directory");
      if (!fs::is_empty(path, ec)) return Status::InvalidArgument(path + " is not a ckptdb store and is not empty");
    }
    if (!IsValidChunkSize(options.chunk_size))
      return Status::InvalidArgument("cannot create store " + path + ": chunk size " +
                                     std::to_string(options.chunk_size) +
                                     " must be a power of two between 64 KiB and 64 MiB");
    if (Status s = CreateStore(path, options.chunk_size, *files, env); !s.ok()) return s;
  }

  DbOptions dbo;
  dbo.create_if_missing = false;  // creation happens only in CreateStore, whole or not at all
  dbo.env = env;
  auto db = Db::Open((fs::path(path) / kDbDir).string(), path, dbo);
  if (!db.ok()) return db.status();
  auto raw_meta = (*db)->GetMeta(keys::kStoreMeta);
  if (!raw_meta.ok()) return raw_meta.status();
  if (!raw_meta->has_value()) return Status::Corruption("store " + path + " has no store metadata");
  auto meta = schema::DecodeStoreMeta(**raw_meta);
  if (!meta.ok()) return meta.status().WithContext("store " + path);
  fs::create_directories(fs::path(path) / kPacksDir, ec);
  if (ec) return Status::IOError("cannot create " + path + "/" + kPacksDir + ": " + ec.message());
  return std::unique_ptr<Store>(new StoreImpl(path, std::move(db).value(), *meta, options, std::move(files)));
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch()).count();
}

StoreImpl::StoreImpl(std::string path, std::unique_ptr<Db> db, schema::StoreMeta meta, const StoreOptions& options,
                     std::shared_ptr<io::FileSystem> fs)
    : path_(std::move(path)),
      db_(std::move(db)),
      meta_(std::move(meta)),
      fs_(std::move(fs)),
      packs_dir_(path_ + "/" + kPacksDir),
      direct_io_(options.use_direct_io),
      packs_(fs_, packs_dir_, options.use_direct_io),
      pool_(options.threads),
      background_gc_(options.background_gc) {}

std::vector<ChunkTask> PlanChunks(const std::vector<uint64_t>& sizes, uint64_t chunk_size) {
  std::vector<ChunkTask> tasks;
  for (size_t t = 0; t < sizes.size(); ++t)
    for (uint64_t off = 0, i = 0; off < sizes[t]; off += chunk_size, ++i)
      tasks.push_back({t, i, off, ChunkLength(sizes[t], i, chunk_size)});
  return tasks;
}

std::string StoreImpl::Where(const CheckpointInfo& info) const {
  return "store " + path_ + ", checkpoint " + std::to_string(info.id) + " (step " +
         std::to_string(info.step) + ")";
}

}  // namespace ckptdb

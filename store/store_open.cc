#include <chrono>

#include <boost/filesystem.hpp>

#include "store/keys.h"
#include "store/store_impl.h"

namespace fs = boost::filesystem;

namespace ckptdb {
namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch()).count();
}

// A store directory holds the RocksDB database in db/ and the chunk pack files in packs/.
constexpr const char* kDbDir = "db";
constexpr const char* kPacksDir = "packs";

// A directory that holds files but no store is someone else's: never write into it.
Status CheckDirectory(const std::string& path, bool create) {
  boost::system::error_code ec;
  if (!fs::exists(path, ec)) {
    if (!create) return Status::NotFound("no store at " + path);
    fs::create_directories(path, ec);
    if (ec) return Status::IOError("cannot create store directory " + path + ": " + ec.message());
    return Status::OK();
  }
  if (!fs::is_directory(path, ec)) return Status::InvalidArgument(path + " is not a directory");
  if (fs::exists(fs::path(path) / kDbDir / "CURRENT", ec)) return Status::OK();
  if (!create) return Status::NotFound("no store at " + path);
  if (!fs::is_empty(path, ec))
    return Status::InvalidArgument(path + " is not a ckptdb store and is not empty");
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const std::string& path, const StoreOptions& options) {
  if (path.empty()) return Status::InvalidArgument("store path is empty");
  boost::system::error_code ec;
  const bool exists = fs::exists(fs::path(path) / kDbDir / "CURRENT", ec);
  // Refuse a bad chunk size before anything is created; an existing store keeps its own.
  if (!exists && options.create_if_missing && !IsValidChunkSize(options.chunk_size))
    return Status::InvalidArgument("cannot create store " + path + ": chunk size " +
                                   std::to_string(options.chunk_size) +
                                   " must be a power of two between 64 KiB and 64 MiB");
  if (Status s = CheckDirectory(path, options.create_if_missing); !s.ok()) return s;

  fs::create_directories(fs::path(path) / kPacksDir, ec);
  if (ec) return Status::IOError("cannot create " + path + "/" + kPacksDir + ": " + ec.message());
  DbOptions dbo;
  dbo.create_if_missing = options.create_if_missing;
  auto db = Db::Open((fs::path(path) / kDbDir).string(), path, dbo);
  if (!db.ok()) return db.status();

  auto raw_meta = (*db)->GetMeta(keys::kStoreMeta);
  if (!raw_meta.ok()) return raw_meta.status();
  schema::StoreMeta meta;
  if (raw_meta->has_value()) {
    auto decoded = schema::DecodeStoreMeta(**raw_meta);
    if (!decoded.ok()) return decoded.status().WithContext("store " + path);
    meta = *decoded;
  } else {
    // A new store, or one whose creation crashed before its metadata was written.
    auto manifests = (*db)->ScanManifests();
    if (!manifests.ok()) return manifests.status();
    if (!manifests->empty())
      return Status::Corruption("store " + path + " has checkpoints but no store metadata");
    if (!IsValidChunkSize(options.chunk_size))
      return Status::InvalidArgument("cannot create store " + path + ": chunk size " +
                                     std::to_string(options.chunk_size) +
                                     " must be a power of two between 64 KiB and 64 MiB");
    meta.chunk_size = options.chunk_size;
    meta.created_ns = NowNs();
    CommitBatch batch;
    batch.meta_puts.emplace_back(std::string(keys::kStoreMeta), schema::EncodeStoreMeta(meta));
    batch.meta_puts.emplace_back(std::string(keys::kNextId), keys::EncodeU64(1));
    if (Status s = (*db)->Commit(batch); !s.ok()) return s;
  }
  return std::unique_ptr<Store>(new StoreImpl(path, std::move(db).value(), meta, options));
}

StoreImpl::StoreImpl(std::string path, std::unique_ptr<Db> db, schema::StoreMeta meta, const StoreOptions& options)
    : path_(std::move(path)),
      db_(std::move(db)),
      meta_(std::move(meta)),
      packs_dir_(path_ + "/" + kPacksDir),
      direct_io_(options.use_direct_io),
      packs_(packs_dir_, options.use_direct_io),
      pool_(options.threads) {}

std::vector<ChunkTask> PlanChunks(const std::vector<uint64_t>& sizes, uint64_t chunk_size) {
  std::vector<ChunkTask> tasks;
  for (size_t t = 0; t < sizes.size(); ++t)
    for (uint64_t off = 0, i = 0; off < sizes[t]; off += chunk_size, ++i)
      tasks.push_back({t, i, off, std::min(chunk_size, sizes[t] - off)});
  return tasks;
}

std::string StoreImpl::Where(const CheckpointInfo& info) const {
  return "store " + path_ + ", checkpoint " + std::to_string(info.id) + " (step " +
         std::to_string(info.step) + ")";
}

}  // namespace ckptdb

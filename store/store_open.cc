#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include <boost/filesystem.hpp>

#include "store/guarded_store.h"
#include "store/keys.h"
#include "store/no_throw.h"
#include "store/open_internal.h"
#include "store/pack_run.h"
#include "store/reader_holds.h"
#include "store/store_impl.h"
#include "store/store_presence.h"
#include "store/upgrade.h"

namespace fs = boost::filesystem;

namespace ckptdb {
namespace {

constexpr const char* kDbDir = kStoreDbDir;
constexpr const char* kPacksDir = kStorePacksDir;

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
  if (!ec) fs::create_directories(tmp / kReaderHoldsDir, ec);
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
    if (err == ENOTEMPTY || err == EEXIST)
      if (auto found = FindStore(path.string()); found.ok() && *found) return Status::OK();
    return Status::IOError("cannot move new store into " + path.string() + ": " + std::strerror(err));
  }
  return files.SyncDir(parent.string());
}

Result<std::unique_ptr<Store>> OpenStore(const std::string& path_in, const StoreOptions& options,
                                         std::shared_ptr<io::FileSystem> files, std::shared_ptr<rocksdb::Env> env) {
  std::string path = path_in;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  if (path.empty()) return Status::InvalidArgument("store path is empty");
  boost::system::error_code ec;
  auto found = FindStore(path);
  if (!found.ok()) return found.status();
  if (!*found) {
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
  fs::create_directories(fs::path(path) / kPacksDir, ec);
  if (ec) return Status::IOError("cannot create " + path + "/" + kPacksDir + ": " + ec.message());
  fs::create_directories(fs::path(path) / kReaderHoldsDir, ec);
  if (ec) return Status::IOError("cannot create " + path + "/" + kReaderHoldsDir + ": " + ec.message());
  if (Status s = (*db)->CompactIfFragmented(kMaxCatalogFiles); !s.ok()) return s;
  // A version-1 store is upgraded by the first writer that opens it; readers read either version.
  auto raw_meta = (*db)->GetMeta(keys::kStoreMeta);
  if (!raw_meta.ok()) return raw_meta.status();
  if (raw_meta->has_value())
    if (auto meta = schema::DecodeStoreMeta(**raw_meta); meta.ok() && meta->format_version == 1)
      if (auto upgraded = UpgradeToVersion2(**db, path, *meta); !upgraded.ok()) return upgraded.status();
  return OpenOn(path, std::move(db).value(), options, std::move(files), nullptr);
}

Result<std::unique_ptr<Store>> OpenReadOnlyStore(const std::string& path_in, const StoreOptions& options) {
  std::string path = path_in;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  if (path.empty()) return Status::InvalidArgument("store path is empty");
  auto found = FindStore(path);
  if (!found.ok()) return found.status();
  if (!*found) return Status::NotFound("no store at " + path);
  // The hold comes first: from the moment the catalog is opened, the writer must see a reader.
  auto hold = ReaderHold::Take(path);
  if (!hold.ok()) return hold.status();
  DbOptions dbo;
  dbo.create_if_missing = false;
  dbo.read_only = true;
  auto db = Db::Open((fs::path(path) / kDbDir).string(), path, dbo);
  if (!db.ok()) return db.status();
  return OpenOn(path, std::move(db).value(), options, io::PosixFileSystem(), std::move(hold).value());
}

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const std::string& path, const StoreOptions& options) {
  return OpenStoreWith(path, options, io::PosixFileSystem(), nullptr);
}

Result<std::unique_ptr<Store>> OpenStoreWith(const std::string& path, const StoreOptions& options,
                                             std::shared_ptr<io::FileSystem> files, std::shared_ptr<rocksdb::Env> env) {
  return NoThrow(path, "opening", [&] { return OpenStore(path, options, std::move(files), std::move(env)); });
}

Result<std::unique_ptr<Store>> Store::OpenReadOnly(const std::string& path, const StoreOptions& options) {
  return NoThrow(path, "opening read-only", [&] { return OpenReadOnlyStore(path, options); });
}

Result<std::unique_ptr<Store>> OpenOn(const std::string& path, std::unique_ptr<Db> db, const StoreOptions& options,
                                      std::shared_ptr<io::FileSystem> files, std::unique_ptr<ReaderHold> hold) {
  auto raw_meta = db->GetMeta(keys::kStoreMeta);
  if (!raw_meta.ok()) return raw_meta.status();
  if (!raw_meta->has_value()) return Status::Corruption("store " + path + " has no store metadata");
  auto meta = schema::DecodeStoreMeta(**raw_meta);
  if (!meta.ok()) return meta.status().WithContext("store " + path);
  auto counter = [&](std::string_view key, uint64_t absent) -> Result<uint64_t> {
    auto raw = db->GetMeta(key);
    if (!raw.ok()) return raw.status();
    if (!raw->has_value()) return absent;
    auto v = keys::DecodeU64(**raw);
    if (!v) return Status::Corruption("store " + path + ": " + std::string(key) + " is malformed");
    return *v;
  };
  auto epoch = counter(keys::kGcEpoch, 0);
  if (!epoch.ok()) return epoch.status();
  // A damaged next_pack stops writes (they would name packs wrongly), not reads.
  auto next_pack = counter(keys::kNextPack, 1);
  if (hold)
    if (Status s = hold->Advance(*epoch); !s.ok()) return s;
  auto store = std::make_unique<StoreImpl>(path, std::move(db), *meta, options, std::move(files), std::move(hold),
                                           *epoch, next_pack.ok() ? *next_pack : 0);
  if (!next_pack.ok()) store->next_pack_error_ = next_pack.status();
  return std::unique_ptr<Store>(new GuardedStore(std::move(store)));
}

Status StoreImpl::CheckWritable() const {
  if (!db_->read_only()) return Status::OK();
  return Status::FailedPrecondition("store " + path_ + " is open read-only, so it cannot be changed");
}

Status StoreImpl::Refresh() {
  if (!db_->read_only()) return Status::OK();
  std::unique_lock<std::shared_mutex> l(refresh_mu_);
  if (Status s = db_->Refresh(); !s.ok()) return s;
  auto raw = db_->GetMeta(keys::kGcEpoch);
  if (!raw.ok()) return raw.status();
  const uint64_t epoch = raw->has_value() ? keys::DecodeU64(**raw).value_or(0) : 0;
  return hold_->Advance(epoch);
}

void StoreImpl::NoteCommit() {
  if (++commits_ % kCompactEvery != 0) return;
  // Best effort: a failed compaction loses nothing and the next one retries.
  db_->CompactIfFragmented(kMaxCatalogFiles).IgnoreError();
}

uint64_t PackIds::Allocate() {
  std::lock_guard<std::mutex> l(mu_);
  in_flight_.insert(next_);
  return next_++;
}

void PackIds::Release(uint64_t id) {
  std::lock_guard<std::mutex> l(mu_);
  in_flight_.erase(id);
}

uint64_t PackIds::next() const {
  std::lock_guard<std::mutex> l(mu_);
  return next_;
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch()).count();
}

namespace {

// Staging blocks hold whole chunks (a capture never splits one), 64 MiB where the cap allows.
uint64_t StagingBlockBytes(uint64_t chunk_size, uint64_t cap) {
  const uint64_t chunk = (chunk_size + 4095) / 4096 * 4096;
  const uint64_t want = std::min<uint64_t>(64ull << 20, cap ? cap / 4096 * 4096 : (64ull << 20));
  return std::max(chunk, want);
}

}  // namespace

StoreImpl::StoreImpl(std::string path, std::unique_ptr<Db> db, schema::StoreMeta meta, const StoreOptions& options,
                     std::shared_ptr<io::FileSystem> fs, std::unique_ptr<ReaderHold> hold, uint64_t epoch,
                     uint64_t next_pack)
    : path_(std::move(path)),
      db_(std::move(db)),
      meta_(std::move(meta)),
      fs_(std::move(fs)),
      packs_dir_(path_ + "/" + kPacksDir),
      direct_io_(options.use_direct_io),
      packs_(fs_, packs_dir_, options.use_direct_reads),
      write_pool_(hold ? 1 : options.threads, "ckptdb:save"),  // a read-only store (it has a hold) never saves
      read_pool_(options.threads, "ckptdb:read"),
      write_buffers_(std::make_unique<HostStagingAllocator>(), PackRunBufferBytes(meta_.chunk_size),
                     PackRunBufferBytes(meta_.chunk_size) * (write_pool_.size() + PackQueue::kMaxQueued)),
      views_(epoch),
      pack_ids_(next_pack),
      hold_(std::move(hold)),
      background_gc_(options.background_gc && !db_->read_only()),
      hasher_(std::make_unique<CpuChunkHasher>()),
      staging_(std::make_unique<HostStagingAllocator>(), StagingBlockBytes(meta_.chunk_size, options.staging_bytes),
               options.staging_bytes ? options.staging_bytes : DefaultStagingBytes()),
      saves_(std::make_unique<SaveQueue>(path_, write_pool_, staging_, options.max_pending_saves)) {
  // Packs a collection deferred for reads running here are swept once the last of them ends.
  if (background_gc_) views_.SetOnIdle([this] { collector_.Request(); });
}

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

#include "store/db.h"

#include <rocksdb/db.h>
#include <rocksdb/file_checksum.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/sst_file_reader.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <fcntl.h>
#include <unistd.h>

#include <sys/statvfs.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <thread>

#include "store/keys.h"

namespace ckptdb {
namespace {

Status FromRocks(const rocksdb::Status& s, const std::string& path) {
  if (s.ok()) return Status::OK();
  std::string msg = s.ToString();
  std::string lower = msg;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower.find("lock file") != std::string::npos || lower.find("lock hold") != std::string::npos)
    return Status::Busy("store " + path + " is open in another process (" + msg + ")");
  if (lower.find("read-only file system") != std::string::npos)
    return Status::FailedPrecondition("store " + path + " is on a read-only file system, so it cannot be written (" +
                                      msg + "); reading commands open it read-only");
  if (lower.find("permission denied") != std::string::npos)
    return Status::IOError("store " + path + " cannot be written: " + msg);
  if (s.IsCorruption()) return Status::Corruption("store " + path + ": " + msg);
  if (s.IsNotFound()) return Status::NotFound("store " + path + ": " + msg);
  if (s.IsInvalidArgument()) return Status::InvalidArgument("store " + path + ": " + msg);
  return Status::IOError("store " + path + ": " + msg);
}

rocksdb::ColumnFamilyOptions SmallValueCf() {
  rocksdb::ColumnFamilyOptions cf;
  rocksdb::BlockBasedTableOptions t;
  t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  // Partitioned index and filters, read through the block cache: opening a table then reads only
  // its small top-level index instead of its whole index and filter (about 1 MB per 64 MB table of
  // inline chunks). Every command opens every table (a reader must: max_open_files = -1), so with
  // whole indexes the open itself grew with the catalog: `show --latest` took 6-10 ms more at
  // 100,000 checkpoints than at 100.
  t.index_type = rocksdb::BlockBasedTableOptions::kTwoLevelIndexSearch;
  t.partition_filters = true;
  t.cache_index_and_filter_blocks = true;
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  cf.compression = rocksdb::kNoCompression;
  // Readers replay at most this much of a live writer's WAL per family when they open (64 MiB by
  // default); catalog batches are small, so smaller memtables cost the writer little.
  cf.write_buffer_size = 16 << 20;
  return cf;
}

// The log a read-only instance gets instead of RocksDB's LOG file, so that opening writes nothing.
class NullLogger : public rocksdb::Logger {
 public:
  using rocksdb::Logger::Logv;
  void Logv(const char*, va_list) override {}
};

class RocksSnapshot : public DbSnapshot {
 public:
  RocksSnapshot(rocksdb::DB* db, const rocksdb::Snapshot* snap) : db_(db), snap_(snap) {}
  ~RocksSnapshot() override {
    if (snap_) db_->ReleaseSnapshot(snap_);
  }
  const rocksdb::Snapshot* get() const { return snap_; }

 private:
  rocksdb::DB* db_;
  const rocksdb::Snapshot* snap_;
};

rocksdb::ReadOptions At(const DbSnapshot* at) {
  rocksdb::ReadOptions ro;
  if (at) ro.snapshot = static_cast<const RocksSnapshot*>(at)->get();
  return ro;
}

}  // namespace

struct Db::Impl {
  std::shared_ptr<rocksdb::Env> env;  // declared first, so it outlives the database
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;  // meta, manifests, chunks[, summaries]
  bool read_only = false;
  bool write_failed = false;  // a Commit failed: the disk may be full
  rocksdb::ColumnFamilyHandle* meta() const { return handles[0]; }
  rocksdb::ColumnFamilyHandle* manifests() const { return handles[1]; }
  rocksdb::ColumnFamilyHandle* chunks() const { return handles[2]; }
  // Null in a read-only instance of a version-1 store, which has none yet.
  rocksdb::ColumnFamilyHandle* summaries() const { return handles.size() > 3 ? handles[3] : nullptr; }

  ~Impl() {
    if (!db) return;
    // With the WAL on, RocksDB's Close does not flush, and every reader (a secondary instance) must
    // then replay the whole WAL when it opens: measured, `show --latest` took 0.29 s instead of
    // 0.03 s on a store of 10,000 checkpoints one process had written. The table file each flush
    // adds is what CompactIfFragmented bounds.
    // Not after a write failed (a full disk): RocksDB asserts on syncing a file whose last append
    // failed, and what is in the WAL is durable anyway.
    uint64_t errors = 0;
    if (!read_only && db->GetIntProperty("rocksdb.background-errors", &errors) && errors == 0 && !write_failed)
      db->Flush(rocksdb::FlushOptions(), handles).PermitUncheckedError();
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    db->Close().PermitUncheckedError();
  }
};

Db::Db(std::string path, std::unique_ptr<Impl> impl, bool read_only)
    : path_(std::move(path)), read_only_(read_only), impl_(std::move(impl)) {}
Db::~Db() = default;

Result<std::unique_ptr<Db>> Db::Open(const std::string& dir, const std::string& path, const DbOptions& options) {
  rocksdb::DBOptions dbo;
  dbo.create_if_missing = options.create_if_missing;
  dbo.create_missing_column_families = options.create_if_missing;
  dbo.max_background_jobs = options.background_jobs;
  dbo.file_checksum_gen_factory = rocksdb::GetFileChecksumGenCrc32cFactory();
  dbo.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  dbo.keep_log_file_num = 4;
  // RocksDB preallocates each new WAL at ~1.1x the write buffer (70 MiB by default) with fallocate.
  // Our batches are a few KiB of metadata, and that preallocation made a freshly collected store
  // read ~80 MB over its live bytes in `du`: measured by bench/retention_main.cc.
  dbo.allow_fallocate = false;
  if (options.env) dbo.env = options.env.get();

  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {keys::kMetaCf, SmallValueCf()}, {keys::kManifestCf, SmallValueCf()}, {keys::kChunkCf, SmallValueCf()}};
  // The writer adds the summaries family to a version-1 store (the upgrade then fills it); a reader
  // opens it only where it exists.
  std::vector<std::string> existing;
  if (!rocksdb::DB::ListColumnFamilies(dbo, dir, &existing).ok() || !options.read_only ||
      std::find(existing.begin(), existing.end(), keys::kSummaryCf) != existing.end())
    cfs.push_back({keys::kSummaryCf, SmallValueCf()});
  if (!options.read_only) dbo.create_missing_column_families = true;
  auto impl = std::make_unique<Impl>();
  impl->env = options.env;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s;
  if (options.read_only) {
    // A secondary instance follows a live writer's MANIFEST and WAL without taking its LOCK. With
    // every table file held open (max_open_files = -1) the writer's compactions may delete files
    // this instance still reads. Its only file would be the info log: give it none. The open can
    // race with the writer deleting a WAL or table file it just listed, so retry a few times.
    dbo.info_log = std::make_shared<NullLogger>();
    dbo.max_open_files = -1;
    dbo.create_if_missing = false;
    dbo.create_missing_column_families = false;
    for (int attempt = 0; attempt < 5; ++attempt) {
      impl->handles.clear();
      s = rocksdb::DB::OpenAsSecondary(dbo, dir, dir + "/.ckptdb-reader-unused", cfs, &impl->handles, &raw);
      if (s.ok() || s.IsCorruption() || s.IsInvalidArgument()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10 << attempt));
    }
  } else {
    // Opening for writing writes a new MANIFEST, OPTIONS file and WAL at once, and RocksDB 7.8
    // aborts (an assertion in WritableFileWriter) when one of those writes fails for lack of space.
    // Refuse first, with a clear error, where that could happen; readers need no space at all.
    struct statvfs fsinfo;
    if (::statvfs(dir.c_str(), &fsinfo) == 0) {
      const uint64_t free_bytes = uint64_t(fsinfo.f_bavail) * fsinfo.f_frsize;
      if (free_bytes < kMinFreeBytesForWriting)
        return Status::IOError("store " + path + ": its file system has only " + std::to_string(free_bytes) +
                               " bytes free, and writing needs at least " +
                               std::to_string(kMinFreeBytesForWriting) + " (No space left on device)");
    }
    s = rocksdb::DB::Open(dbo, dir, cfs, &impl->handles, &raw);
  }
  if (!s.ok()) return FromRocks(s, path);
  impl->db.reset(raw);
  impl->read_only = options.read_only;
  return std::unique_ptr<Db>(new Db(path, std::move(impl), options.read_only));
}

std::shared_ptr<const DbSnapshot> Db::Snapshot() {
  // A secondary instance has no snapshots ("not supported in secondary mode"), and needs none: its
  // state changes only in Refresh, which the store runs with no read in progress.
  if (read_only_) return std::make_shared<RocksSnapshot>(impl_->db.get(), nullptr);
  return std::make_shared<RocksSnapshot>(impl_->db.get(), impl_->db->GetSnapshot());
}

Result<bool> Db::HasChunk(const Digest& d, const DbSnapshot* at) {
  auto value = GetChunk(d, at);
  if (!value.ok()) return value.status();
  return value->has_value();
}

Result<std::optional<std::string>> Db::GetChunk(const Digest& d, const DbSnapshot* at) {
  std::string value;
  rocksdb::Status s = impl_->db->Get(At(at), impl_->chunks(), keys::ChunkIndexKey(d), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, path_);
  return std::optional<std::string>(std::move(value));
}

Result<std::vector<std::pair<Digest, std::string>>> Db::ScanChunks(const DbSnapshot* at) {
  std::vector<std::pair<Digest, std::string>> out;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(At(at), impl_->chunks()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto d = keys::DigestFromChunkKey(it->key().ToStringView());
    if (!d || it->key()[0] != keys::kChunkIndex)
      return Status::Corruption("store " + path_ + ": chunk index key of length " + std::to_string(it->key().size()) +
                                " is malformed");
    out.emplace_back(*d, it->value().ToString());
  }
  if (!it->status().ok()) return FromRocks(it->status(), path_);
  return out;
}

Status Db::CompactChunks() {
  if (read_only_) return Status::FailedPrecondition("store " + path_ + " is open read-only");
  rocksdb::CompactRangeOptions o;
  o.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
  return FromRocks(impl_->db->CompactRange(o, impl_->chunks(), nullptr, nullptr), path_);
}

Result<std::optional<std::string>> Db::GetMeta(std::string_view key, const DbSnapshot* at) {
  std::string value;
  rocksdb::Status s = impl_->db->Get(At(at), impl_->meta(), rocksdb::Slice(key), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, path_);
  return std::optional<std::string>(std::move(value));
}

Result<std::optional<std::string>> Db::GetManifest(uint64_t id, const DbSnapshot* at) {
  std::string value;
  rocksdb::Status s = impl_->db->Get(At(at), impl_->manifests(), keys::EncodeU64(id), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, path_);
  return std::optional<std::string>(std::move(value));
}

Result<std::vector<std::pair<uint64_t, std::string>>> Db::ScanManifests(const DbSnapshot* at, uint64_t from) {
  std::vector<std::pair<uint64_t, std::string>> out;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(At(at), impl_->manifests()));
  const std::string start = keys::EncodeU64(from);
  for (it->Seek(start); it->Valid(); it->Next()) {
    auto id = keys::DecodeU64(it->key().ToStringView());
    if (!id) return Status::Corruption("store " + path_ + ": manifest key of length " +
                                       std::to_string(it->key().size()) + " is not an 8-byte id");
    out.emplace_back(*id, it->value().ToString());
  }
  if (!it->status().ok()) return FromRocks(it->status(), path_);
  return out;
}

Result<std::optional<std::string>> Db::GetSummary(uint64_t id, const DbSnapshot* at) {
  if (!impl_->summaries()) return std::optional<std::string>();
  std::string value;
  rocksdb::Status s = impl_->db->Get(At(at), impl_->summaries(), keys::EncodeU64(id), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, path_);
  return std::optional<std::string>(std::move(value));
}

Result<std::vector<std::pair<uint64_t, std::string>>> Db::ScanSummaries(const DbSnapshot* at, bool newest_only) {
  std::vector<std::pair<uint64_t, std::string>> out;
  if (!impl_->summaries()) return out;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(At(at), impl_->summaries()));
  if (newest_only) it->SeekToLast();
  else it->SeekToFirst();
  for (; it->Valid(); it->Next()) {
    auto id = keys::DecodeU64(it->key().ToStringView());
    if (!id) return Status::Corruption("store " + path_ + ": summary key of length " +
                                       std::to_string(it->key().size()) + " is not an 8-byte id");
    out.emplace_back(*id, it->value().ToString());
    if (newest_only) break;
  }
  if (!it->status().ok()) return FromRocks(it->status(), path_);
  return out;
}

Result<std::vector<std::pair<std::string, std::string>>> Db::ScanMeta(std::string_view prefix, const DbSnapshot* at) {
  std::vector<std::pair<std::string, std::string>> out;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(At(at), impl_->meta()));
  for (it->Seek(rocksdb::Slice(prefix)); it->Valid() && it->key().starts_with(rocksdb::Slice(prefix)); it->Next())
    out.emplace_back(it->key().ToString(), it->value().ToString());
  if (!it->status().ok()) return FromRocks(it->status(), path_);
  return out;
}

Status Db::VerifyCatalogChecksums() {
  if (read_only_) return VerifyTableFilesBesideWriter();
  if (Status s = FromRocks(impl_->db->VerifyChecksum(), path_); !s.ok()) return s;
  return FromRocks(impl_->db->VerifyFileChecksums(rocksdb::ReadOptions()), path_);
}

// RocksDB's own checks open every table file by name, and a secondary instance does not keep a
// live writer from deleting the files its compactions replaced: `verify` beside a writer then failed
// with "No such file or directory" on a file that was merely compacted away. So each file is opened
// once here (the descriptor keeps it readable), and one that is already gone is skipped: its
// contents live on in the writer's newer files, which a later verify checks.
Status Db::VerifyTableFilesBesideWriter() {
  std::vector<rocksdb::LiveFileMetaData> files;
  impl_->db->GetLiveFilesMetaData(&files);
  for (const auto& f : files) {
    const std::string name = f.directory + "/" + f.relative_filename;
    const int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) continue;
    if (fd < 0) return Status::IOError("store " + path_ + ": cannot open " + name + ": " + std::strerror(errno));
    auto check = [&]() -> Status {
      const std::string pinned = "/proc/self/fd/" + std::to_string(fd);
      rocksdb::SstFileReader reader{rocksdb::Options()};
      rocksdb::Status s = reader.Open(pinned);
      if (s.ok()) s = reader.VerifyChecksum();
      if (!s.ok()) return FromRocks(s, path_).WithContext(name);
      if (f.file_checksum.empty() || f.file_checksum_func_name != rocksdb::GetFileChecksumGenCrc32cFactory()->Name())
        return Status::OK();
      rocksdb::FileChecksumGenContext context;
      context.file_name = name;
      auto gen = rocksdb::GetFileChecksumGenCrc32cFactory()->CreateFileChecksumGenerator(context);
      std::vector<char> buf(1 << 20);
      for (off_t at = 0;;) {
        const ssize_t n = ::pread(fd, buf.data(), buf.size(), at);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Status::IOError("store " + path_ + ": cannot read " + name + ": " + std::strerror(errno));
        if (n == 0) break;
        gen->Update(buf.data(), static_cast<size_t>(n));
        at += n;
      }
      gen->Finalize();
      if (gen->GetChecksum() != f.file_checksum)
        return Status::Corruption("store " + path_ + ": " + name +
                                  ": the file's checksum differs from the one recorded when it was written");
      return Status::OK();
    };
    Status s = check();
    ::close(fd);
    if (!s.ok()) return s;
  }
  return Status::OK();
}

Status Db::Commit(const CommitBatch& c) {
  if (read_only_) return Status::FailedPrecondition("store " + path_ + " is open read-only, so it cannot be changed");
  rocksdb::WriteBatch batch;
  rocksdb::Status s;
  for (const auto& [k, v] : c.meta_puts) if (s.ok()) s = batch.Put(impl_->meta(), k, v);
  for (const auto& k : c.meta_deletes) if (s.ok()) s = batch.Delete(impl_->meta(), k);
  for (const auto& [k, v] : c.manifest_puts) if (s.ok()) s = batch.Put(impl_->manifests(), k, v);
  for (const auto& k : c.manifest_deletes) if (s.ok()) s = batch.Delete(impl_->manifests(), k);
  for (const auto& [k, v] : c.chunk_puts) if (s.ok()) s = batch.Put(impl_->chunks(), k, v);
  for (const auto& k : c.chunk_deletes) if (s.ok()) s = batch.Delete(impl_->chunks(), k);
  if ((!c.summary_puts.empty() || !c.summary_deletes.empty()) && !impl_->summaries())
    return Status::Internal("store " + path_ + ": a summary write without the summaries column family");
  for (const auto& [k, v] : c.summary_puts) if (s.ok()) s = batch.Put(impl_->summaries(), k, v);
  for (const auto& k : c.summary_deletes) if (s.ok()) s = batch.Delete(impl_->summaries(), k);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  if (s.ok()) s = impl_->db->Write(wo, &batch);
  if (!s.ok()) impl_->write_failed = true;
  return FromRocks(s, path_);
}

Status Db::Refresh() {
  if (!read_only_) return Status::OK();
  return FromRocks(impl_->db->TryCatchUpWithPrimary(), path_);
}

Result<uint64_t> Db::TableFileCount() {
  std::vector<rocksdb::LiveFileMetaData> files;
  impl_->db->GetLiveFilesMetaData(&files);
  return static_cast<uint64_t>(files.size());
}

Status Db::CompactIfFragmented(int max_files) {
  if (read_only_) return Status::OK();
  for (auto* cf : impl_->handles) {
    rocksdb::ColumnFamilyMetaData meta;
    impl_->db->GetColumnFamilyMetaData(cf, &meta);
    if (meta.file_count <= static_cast<size_t>(max_files)) continue;
    rocksdb::CompactRangeOptions o;
    o.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    o.change_level = true;  // one sorted run in the lowest level that fits, not scattered over levels
    if (Status s = FromRocks(impl_->db->CompactRange(o, cf, nullptr, nullptr), path_); !s.ok())
      return s.WithContext("compacting the catalog");
  }
  return Status::OK();
}

}  // namespace ckptdb

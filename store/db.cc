#include "store/db.h"

#include <rocksdb/db.h>
#include <rocksdb/file_checksum.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <cctype>

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
  if (s.IsCorruption()) return Status::Corruption("store " + path + ": " + msg);
  if (s.IsNotFound()) return Status::NotFound("store " + path + ": " + msg);
  if (s.IsInvalidArgument()) return Status::InvalidArgument("store " + path + ": " + msg);
  return Status::IOError("store " + path + ": " + msg);
}

rocksdb::ColumnFamilyOptions SmallValueCf() {
  rocksdb::ColumnFamilyOptions cf;
  rocksdb::BlockBasedTableOptions t;
  t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  cf.compression = rocksdb::kNoCompression;
  return cf;
}

// Chunk bytes go to blob files at flush, so the LSM tree only moves small pointers and the bytes
// reach the disk once. Background blob GC stays off: reclaim is explicit after a sweep.
rocksdb::ColumnFamilyOptions ChunkCf() {
  rocksdb::ColumnFamilyOptions cf = SmallValueCf();
  cf.enable_blob_files = true;
  cf.min_blob_size = 64 << 10;
  cf.blob_file_size = 256ull << 20;
  cf.blob_compression_type = rocksdb::kNoCompression;
  cf.enable_blob_garbage_collection = false;
  // Large memtables: a save of 4 MiB chunks fills them quickly and each flush writes one blob file.
  cf.write_buffer_size = 256ull << 20;
  cf.max_write_buffer_number = 4;
  cf.min_write_buffer_number_to_merge = 1;
  return cf;
}

}  // namespace

struct Db::Impl {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;  // meta, manifests, chunks
  rocksdb::ColumnFamilyHandle* meta() const { return handles[0]; }
  rocksdb::ColumnFamilyHandle* manifests() const { return handles[1]; }
  rocksdb::ColumnFamilyHandle* chunks() const { return handles[2]; }

  ~Impl() {
    if (!db) return;
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    db->Close().PermitUncheckedError();
  }
};

Db::Db(std::string path, std::unique_ptr<Impl> impl) : path_(std::move(path)), impl_(std::move(impl)) {}
Db::~Db() = default;

Result<std::unique_ptr<Db>> Db::Open(const std::string& path, const DbOptions& options) {
  rocksdb::DBOptions dbo;
  dbo.create_if_missing = options.create_if_missing;
  dbo.create_missing_column_families = options.create_if_missing;
  dbo.max_background_jobs = options.background_jobs;
  dbo.file_checksum_gen_factory = rocksdb::GetFileChecksumGenCrc32cFactory();
  dbo.use_direct_io_for_flush_and_compaction = options.use_direct_io;
  dbo.use_direct_reads = options.use_direct_io;
  dbo.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  dbo.keep_log_file_num = 4;

  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {keys::kMetaCf, SmallValueCf()}, {keys::kManifestCf, SmallValueCf()}, {keys::kChunkCf, ChunkCf()}};
  auto impl = std::make_unique<Impl>();
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(dbo, path, cfs, &impl->handles, &raw);
  if (!s.ok() && options.use_direct_io && s.IsInvalidArgument()) {
    // Filesystems such as tmpfs refuse O_DIRECT; buffered I/O is slower but correct.
    dbo.use_direct_io_for_flush_and_compaction = false;
    dbo.use_direct_reads = false;
    impl->handles.clear();
    s = rocksdb::DB::Open(dbo, path, cfs, &impl->handles, &raw);
  }
  if (!s.ok()) return FromRocks(s, path);
  impl->db.reset(raw);
  return std::unique_ptr<Db>(new Db(path, std::move(impl)));
}

Result<bool> Db::HasChunk(const Digest& d) {
  std::string value;
  rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), impl_->chunks(), keys::ChunkIndexKey(d), &value);
  if (s.IsNotFound()) return false;
  if (!s.ok()) return FromRocks(s, path_);
  return true;
}

Status Db::PutChunk(const Digest& d, const void* data, size_t len) {
  rocksdb::WriteBatch batch(len + 128);
  rocksdb::Status s = batch.Put(impl_->chunks(), keys::ChunkDataKey(d),
                                rocksdb::Slice(static_cast<const char*>(data), len));
  if (s.ok()) s = batch.Put(impl_->chunks(), keys::ChunkIndexKey(d), keys::EncodeU64(len));
  rocksdb::WriteOptions wo;
  wo.disableWAL = true;  // durability comes from FlushChunks before the manifest commits
  if (s.ok()) s = impl_->db->Write(wo, &batch);
  return FromRocks(s, path_);
}

Status Db::FlushChunks() {
  rocksdb::FlushOptions fo;
  fo.wait = true;
  fo.allow_write_stall = true;
  return FromRocks(impl_->db->Flush(fo, impl_->chunks()), path_);
}

Status Db::ReadChunk(const Digest& d, bool verify_checksum,
                     const std::function<Status(std::string_view)>& consume) {
  rocksdb::ReadOptions ro;
  ro.verify_checksums = verify_checksum;
  ro.fill_cache = false;
  rocksdb::PinnableSlice value;
  rocksdb::Status s = impl_->db->Get(ro, impl_->chunks(), keys::ChunkDataKey(d), &value);
  if (s.IsNotFound()) return Status::NotFound("chunk " + d.ToHex() + " is missing");
  if (!s.ok()) return FromRocks(s, path_);
  return consume(std::string_view(value.data(), value.size()));
}

Result<std::optional<std::string>> Db::GetMeta(std::string_view key) {
  std::string value;
  rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), impl_->meta(), rocksdb::Slice(key), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, path_);
  return std::optional<std::string>(std::move(value));
}

Result<std::optional<std::string>> Db::GetManifest(uint64_t id) {
  std::string value;
  rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), impl_->manifests(), keys::EncodeU64(id), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, path_);
  return std::optional<std::string>(std::move(value));
}

Result<std::vector<std::pair<uint64_t, std::string>>> Db::ScanManifests() {
  std::vector<std::pair<uint64_t, std::string>> out;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->manifests()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto id = keys::DecodeU64(it->key().ToStringView());
    if (!id) return Status::Corruption("store " + path_ + ": manifest key of length " +
                                       std::to_string(it->key().size()) + " is not an 8-byte id");
    out.emplace_back(*id, it->value().ToString());
  }
  if (!it->status().ok()) return FromRocks(it->status(), path_);
  return out;
}

Result<std::vector<std::pair<std::string, std::string>>> Db::ScanMeta(std::string_view prefix) {
  std::vector<std::pair<std::string, std::string>> out;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->meta()));
  for (it->Seek(rocksdb::Slice(prefix)); it->Valid() && it->key().starts_with(rocksdb::Slice(prefix)); it->Next())
    out.emplace_back(it->key().ToString(), it->value().ToString());
  if (!it->status().ok()) return FromRocks(it->status(), path_);
  return out;
}

Status Db::Commit(const CommitBatch& c) {
  rocksdb::WriteBatch batch;
  rocksdb::Status s;
  for (const auto& [k, v] : c.meta_puts) if (s.ok()) s = batch.Put(impl_->meta(), k, v);
  for (const auto& k : c.meta_deletes) if (s.ok()) s = batch.Delete(impl_->meta(), k);
  for (const auto& [k, v] : c.manifest_puts) if (s.ok()) s = batch.Put(impl_->manifests(), k, v);
  for (const auto& k : c.manifest_deletes) if (s.ok()) s = batch.Delete(impl_->manifests(), k);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  if (s.ok()) s = impl_->db->Write(wo, &batch);
  return FromRocks(s, path_);
}

}  // namespace ckptdb

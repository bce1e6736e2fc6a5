// Direct edits of a closed store's RocksDB database, for the suites that damage or inspect what the
// store keeps there (header-only: GoogleTest macros).
#pragma once

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "store/keys.h"
#include "tests/support/store_layout.h"

namespace ckptdb::store_tests {

// Opens the RocksDB database of the store at `path` (STORE/db; the store must be closed) directly,
// with the three column families and default options -- none needs BlobDB or any other option to
// be read -- applies `edit` to it (handles: default, manifests, chunks), and closes it.
inline void EditRocksDb(const std::string& path,
                        const std::function<void(rocksdb::DB&, const std::vector<rocksdb::ColumnFamilyHandle*>&)>& edit) {
  rocksdb::DBOptions dbo;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {{keys::kMetaCf, rocksdb::ColumnFamilyOptions()},
                                                      {keys::kManifestCf, rocksdb::ColumnFamilyOptions()},
                                                      {keys::kChunkCf, rocksdb::ColumnFamilyOptions()}};
  // A version-2 store also has summaries (handle 3); RocksDB insists on opening every family.
  std::vector<std::string> names;
  if (rocksdb::DB::ListColumnFamilies(dbo, DbDir(path), &names).ok() &&
      std::find(names.begin(), names.end(), keys::kSummaryCf) != names.end())
    cfs.push_back({keys::kSummaryCf, rocksdb::ColumnFamilyOptions()});
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(dbo, DbDir(path), cfs, &handles, &raw);
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::unique_ptr<rocksdb::DB> db(raw);
  edit(*db, handles);
  for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
  ASSERT_TRUE(db->Close().ok());
}

}  // namespace ckptdb::store_tests

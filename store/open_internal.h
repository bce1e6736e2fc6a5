// The internal way to open a store: like Store::Open, but with the file layers it runs on chosen
// by the caller. Tests use it to run a store on store/io/fault_file_system.h; the public API keeps
// no trace of RocksDB or of test hooks.
#pragma once

#include <memory>
#include <string>

#include "ckptdb/store.h"
#include "store/io/file_system.h"

namespace rocksdb {
class Env;
}

namespace ckptdb {

// Store::Open with pack files and the store's directories on `files` (never null) and RocksDB on
// `rocks_env` (null: RocksDB's default environment). The store shares ownership of both until it
// is destroyed.
Result<std::unique_ptr<Store>> OpenStoreWith(const std::string& path, const StoreOptions& options,
                                             std::shared_ptr<io::FileSystem> files,
                                             std::shared_ptr<rocksdb::Env> rocks_env);

}  // namespace ckptdb

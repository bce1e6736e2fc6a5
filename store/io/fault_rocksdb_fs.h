// RocksDB's files under the same power-cut model as ckptdb's own (store/io/fault_file_system.h).
//
// Why: a checkpoint is durable only when both its pack and RocksDB's synced WriteBatch are, so a
// power-loss test must be able to drop RocksDB's unsynced WAL, MANIFEST, SST and CURRENT updates
// too, and count RocksDB's syncs among the sync points it enumerates.
#pragma once

#include <memory>

#include "store/io/fault_file_system.h"

namespace rocksdb {
class Env;
}

namespace ckptdb::io {

// A RocksDB environment whose file system reports every write, sync, directory fsync, rename and
// delete to `model` and fails them once `model`'s power is cut. Pass it as DbOptions::env (or to
// OpenStoreWith). The LOG file (RocksDB's info log) is not modelled: it is diagnostics only.
std::shared_ptr<rocksdb::Env> NewFaultRocksEnv(std::shared_ptr<FaultFileSystem> model);

}  // namespace ckptdb::io

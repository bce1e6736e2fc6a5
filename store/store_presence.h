// Whether a directory holds a store, holds none, or holds a damaged one. Opening asks this first, so
// that a store that lost part of its catalog is reported as damaged (and never created over), while
// a directory that never was a store is reported as holding none.
#pragma once

#include <string>

#include "ckptdb/status.h"

namespace ckptdb {

// A store directory holds the RocksDB catalog in db/ and the chunk pack files in packs/.
inline constexpr const char* kStoreDbDir = "db";
inline constexpr const char* kStorePacksDir = "packs";

// True if `dir` holds a store whose catalog can be opened: db/CURRENT names a MANIFEST that exists.
// False if it holds no store: it is absent, or carries none of a store's marks.
// Corruption ("store DIR is damaged: db/CURRENT is missing") if it carries a store's marks but its
// catalog is incomplete. The marks are a db/ holding RocksDB's files, or a packs/ directory holding
// nothing but pack files (a new store's is empty); the catalog is incomplete when db/ is missing,
// db/CURRENT is missing or names no MANIFEST, or the MANIFEST it names is missing.
// IOError if `dir` or the files that decide cannot be read. Reads only; safe beside a live writer of
// the store (a MANIFEST that is replaced while it is being checked is looked for again).
Result<bool> FindStore(const std::string& dir);

}  // namespace ckptdb

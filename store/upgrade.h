// Upgrading a store's format in place (schema/FORMAT.md, "Evolution").
#pragma once

#include <string>

#include "ckptdb/status.h"
#include "schema/codec.h"
#include "store/db.h"

namespace ckptdb {

// Upgrades the version-1 store whose catalog is `db` (opened for writing, with the summaries column
// family) to version 2: a summary record for every checkpoint, every chunk index entry rewritten
// with a codec byte and stored and raw lengths, and format_version 2 in the store metadata, all in
// one synced batch. A crash leaves version 1 (nothing written) or version 2 (all of it). Returns the
// upgraded metadata. Errors: Corruption naming a manifest or index entry that does not decode
// (nothing is written), IOError.
Result<schema::StoreMeta> UpgradeToVersion2(Db& db, const std::string& path, schema::StoreMeta meta);

}  // namespace ckptdb

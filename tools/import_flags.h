// What `ckptdb import` and `ckptdb import-hf` share (defined in cmd_import.cc): their flags, the
// store they save into, and the lines printed after the save.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "ckptdb/store.h"
#include "tools/args.h"

namespace ckptdb::cli {

// --step N (required), --chunk-size BYTES, --tag NAME..., --metric NAME=VALUE...
extern const std::vector<FlagSpec> kImportFlags;

struct ImportInputs {
  SaveOptions save;
  std::optional<uint64_t> chunk_size;
};

// The save options the flags give. Any error is a usage error (exit 2); `command` names it.
Result<ImportInputs> ParseImportFlags(const std::string& command, const Args& args);

// Opens (or creates, with `chunk_size` when given) the store at `path`. InvalidArgument when the
// store exists with another chunk size than the one given.
Result<std::unique_ptr<Store>> OpenForImport(const std::string& path, std::optional<uint64_t> chunk_size);

// After a successful save: the retention line, and a warning if reclaiming space failed.
// Returns kExitOk (the checkpoint is committed whatever happens here).
int FinishImport(Store& store, const SavedCheckpoint& info, std::ostream& out, std::ostream& err);

}  // namespace ckptdb::cli

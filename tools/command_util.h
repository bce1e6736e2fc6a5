// Small pieces every subcommand uses: error reporting and opening an existing store.
#pragma once

#include <memory>
#include <ostream>
#include <string>

#include "ckptdb/store.h"
#include "tools/cli.h"

namespace ckptdb::cli {

// Prints "ckptdb: error: <message>" as one line (newlines inside the message become spaces) and
// returns `exit_code`.
int ReportError(std::ostream& err, const Status& status, int exit_code = kExitFailure);

// Opens the store at `path` for writing, without creating it. Busy if another process writes it.
Result<std::unique_ptr<Store>> OpenExisting(const std::string& path);

// Opens the store at `path` read-only (Store::OpenReadOnly): works beside a live writer, on a
// read-only file system and on a full disk. Every command that only reads uses it.
Result<std::unique_ptr<Store>> OpenForReading(const std::string& path);

}  // namespace ckptdb::cli

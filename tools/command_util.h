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

// Opens the store at `path` without creating it.
Result<std::unique_ptr<Store>> OpenExisting(const std::string& path);

}  // namespace ckptdb::cli

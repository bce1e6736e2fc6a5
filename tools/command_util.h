// Small pieces every subcommand uses: opening an existing store, and the hooks completion uses.
#pragma once

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "ckptdb/store.h"
#include "tools/cli.h"

namespace ckptdb::cli {

// Prints "ckptdb: error: <message>" as one line (newlines inside the message become spaces) and
// returns `exit_code`; with `json`, {"error": {"code": ..., "message": ...}} (command_line.cc).
int ReportError(std::ostream& err, const Status& status, int exit_code, bool json);

// Opens the store at `path` for writing, without creating it. Busy if another process writes it.
Result<std::unique_ptr<Store>> OpenExisting(const std::string& path);

// Opens the store at `path` read-only (Store::OpenReadOnly): works beside a live writer, on a
// read-only file system and on a full disk. Every command that only reads uses it.
Result<std::unique_ptr<Store>> OpenForReading(const std::string& path);

// When a selector names a tag or metric the store does not have, `status` with a did-you-mean
// naming the closest one the store has; otherwise `status` unchanged.
Status WithSuggestion(Store& store, const Selector& which, Status status);

// A command's only argument when completion asks for its flags: it prints them, one per line.
inline constexpr char kListFlags[] = "__flags";
std::vector<std::string> CommandNames();
int RunCommandForFlags(const std::string& name, std::ostream& out);

}  // namespace ckptdb::cli

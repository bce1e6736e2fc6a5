// What `ckptdb import` and `ckptdb import-hf` share (defined in cmd_import.cc): their flags, the
// store they save into, the checks before the save, and the lines printed after it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "ckptdb/store.h"
#include "tools/command_line.h"

namespace ckptdb::cli {

// --step N (required), --chunk-size BYTES, --tag NAME..., --metric NAME=VALUE..., --strict, --json.
struct ImportFlags {
  std::string step, chunk_size;
  std::vector<std::string> tags, metrics;
  bool strict = false;
  void Declare(CommandLine& cl);
};

struct ImportInputs {
  SaveOptions save;
  std::optional<uint64_t> chunk_size;
};

// The save options the flags give. Any error is a usage error (exit 2).
Result<ImportInputs> ParseImportFlags(const CommandLine& cl, const ImportFlags& flags);

// The store to save into: the existing one at `path`, or a new one (then `created` is set) with
// `chunk_size` when given. InvalidArgument when the store exists with another chunk size.
Result<std::unique_ptr<Store>> OpenForImport(const std::string& path, std::optional<uint64_t> chunk_size,
                                             bool* created);

// What a new checkpoint of `names` at `step` would do that a person likely did not mean, relative
// to the head it will follow: drop tensors the head has (an input file forgotten), or go back in
// steps. One sentence each; empty when none, or when there is no store at `path` yet. Reads the
// store read-only, so a --strict refusal leaves every byte of it as it was.
Result<std::vector<std::string>> ImportWarnings(const std::string& path, const std::vector<std::string>& names,
                                                int64_t step);

// With --strict and a warning: FailedPrecondition naming the first, so the caller saves nothing
// (and, called before the store is opened for writing, changes nothing). OK otherwise.
Status StrictCheck(const ImportFlags& flags, const std::vector<std::string>& warnings);
// Prints the warnings in the output ("warning: ..." lines on `out`) once the store is open and just
// before the save, so they come before anything the save's retention does, and a command that
// fails earlier prints nothing on stdout. With --json the result object carries them instead.
void PrintWarnings(const CommandLine& cl, const std::vector<std::string>& warnings, std::ostream& out);

// After a successful save: the summary (text or JSON, `what` is " from 3 files" or ""), the
// retention line, and a warning if reclaiming space failed. Returns kExitOk (the checkpoint is
// committed whatever happens here).
int FinishImport(const CommandLine& cl, Store& store, const SavedCheckpoint& info, bool created,
                 const std::vector<std::string>& warnings, const std::string& what, std::ostream& out,
                 std::ostream& err);

}  // namespace ckptdb::cli

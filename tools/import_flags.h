// What `ckptdb import` and `ckptdb import-hf` share (defined in cmd_import.cc): their flags, and
// everything from the checks before the save to the lines printed after it.
#pragma once

#include <cstdint>
#include <functional>
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

// What both imports do once their input is read and checked (`names`: its tensors):
// 1. decide the warnings, reading the store read-only: tensors the head has that `names` lacks (an
//    input file forgotten), a step lower than the head's; with --strict any of them fails (exit 1)
//    before the store is opened for writing, so not one byte of it changes;
// 2. open the store, or create it (with --chunk-size) and say so; a store of another chunk size
//    than --chunk-size is an error;
// 3. print the warnings (on `out`, before the save and so before any rotation it does; a command
//    that failed earlier printed nothing on stdout), then `save` with a progress line labelled
//    `label` on a terminal;
// 4. print the result (`what`: " from 3 files" or ""), the checkpoints retention removed, and a
//    warning on `err` if reclaiming their space failed (the checkpoint is committed whatever).
// Returns the exit code.
using SaveFn = std::function<Result<SavedCheckpoint>(Store&, const SaveOptions&)>;
int SaveImport(const CommandLine& cl, const ImportFlags& flags, ImportInputs& in, const std::string& path,
               const std::vector<std::string>& names, const std::string& label, const SaveFn& save,
               const std::string& what, std::ostream& out, std::ostream& err);

}  // namespace ckptdb::cli

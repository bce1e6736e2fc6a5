#include <string_view>

#include "tools/cli.h"
#include "tools/command_util.h"

namespace ckptdb::cli {
namespace {

constexpr std::string_view kUsage =
    "usage: ckptdb COMMAND STORE [options]\n"
    "\n"
    "commands:\n"
    "  import STORE --step N [--chunk-size BYTES] [--tag NAME]... [--metric NAME=VALUE]... FILE.safetensors...\n"
    "  export STORE WHICH -o OUT.safetensors\n"
    "  import-hf STORE DIR --step N [--chunk-size BYTES] [--tag NAME]... [--metric NAME=VALUE]...\n"
    "         (a save_pretrained directory, sharded or not, with its config.json, as one checkpoint)\n"
    "  export-hf STORE WHICH DIR [--max-shard-size BYTES] [--prefix P]\n"
    "         (a directory from_pretrained loads; shards over BYTES, default 5000000000; --prefix: the\n"
    "         tensors named P... with P stripped, '' for all; default model. for a training state)\n"
    "  log    STORE [--json | --graph]\n"
    "  show   STORE WHICH [--json]\n"
    "  verify STORE\n"
    "  diff   STORE A B [--json] [--stats]\n"
    "  du     STORE [--json]\n"
    "  tag    STORE WHICH NAME\n"
    "  untag  STORE NAME\n"
    "  rm     STORE WHICH\n"
    "  gc     STORE [--json]\n"
    "  policy STORE [--max-to-keep N|none] [--keep-every-steps K|none] [--keep-every-hours H|none]\n"
    "         [--keep-best METRIC:min|max[:N] | --keep-best none] [--json]\n"
    "  rollback STORE WHICH [--discard] [--json]\n"
    "\n"
    "WHICH picks one checkpoint: --step N (newest with that step) | --id ID | --latest | --tag NAME\n"
    "  | --head (where the next save continues; differs from --latest after a rollback)\n"
    "  | --at TIME (newest committed at or before an RFC 3339 time or Unix timestamp)\n"
    "  | --best METRIC:min|max (best recorded value; newest among ties)\n"
    "A and B (diff) pick one checkpoint each: N (a step) | id:ID | latest | head | tag:NAME | at:TIME\n"
    "  | best:METRIC:min|max\n";

}  // namespace

int ReportError(std::ostream& err, const Status& status, int exit_code) {
  std::string msg = status.message();
  for (char& c : msg)
    if (c == '\n' || c == '\r') c = ' ';
  err << "ckptdb: error: " << msg << "\n";
  return exit_code;
}

Result<std::unique_ptr<Store>> OpenExisting(const std::string& path) {
  StoreOptions options;
  options.create_if_missing = false;
  return Store::Open(path, options);
}

Result<std::unique_ptr<Store>> OpenForReading(const std::string& path) { return Store::OpenReadOnly(path); }

int Run(int argc, char** argv, std::ostream& out, std::ostream& err) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return Run(args, out, err);
}

int Run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty()) {
    err << kUsage;
    return kExitUsage;
  }
  const std::string& command = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "import") return Import(rest, out, err);
  if (command == "export") return Export(rest, out, err);
  if (command == "import-hf") return ImportHf(rest, out, err);
  if (command == "export-hf") return ExportHf(rest, out, err);
  if (command == "log") return Log(rest, out, err);
  if (command == "show") return Show(rest, out, err);
  if (command == "verify") return Verify(rest, out, err);
  if (command == "diff") return Diff(rest, out, err);
  if (command == "du") return Du(rest, out, err);
  if (command == "tag") return Tag(rest, out, err);
  if (command == "untag") return Untag(rest, out, err);
  if (command == "rm") return Rm(rest, out, err);
  if (command == "gc") return Gc(rest, out, err);
  if (command == "policy") return Policy(rest, out, err);
  if (command == "rollback") return Rollback(rest, out, err);
  if (command == "help" || command == "--help" || command == "-h") {
    out << kUsage;
    return kExitOk;
  }
  return ReportError(err, Status::InvalidArgument("unknown command '" + command + "' (try 'ckptdb help')"),
                     kExitUsage);
}

}  // namespace ckptdb::cli

// ckptdb import-hf / export-hf: the Hugging Face model layout (ckptdb/hf_layout.h). import-hf takes
// import's flags and, like it, reads and checks the whole directory before the store is opened.
#include "ckptdb/hf_layout.h"
#include "tools/args.h"
#include "tools/command_util.h"
#include "tools/format.h"
#include "tools/import_flags.h"

namespace ckptdb::cli {

int ImportHf(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  auto args = ParseArgs("import-hf", argv, kImportFlags);
  if (!args.ok()) return ReportError(err, args.status(), kExitUsage);
  auto in = ParseImportFlags("import-hf", *args);
  if (!in.ok()) return ReportError(err, in.status(), kExitUsage);
  if (args->positional.size() != 2)
    return ReportError(err, Status::InvalidArgument("ckptdb import-hf: give STORE and one model DIR"), kExitUsage);
  auto dir = HfModelDir::Read(args->positional[1]);
  if (!dir.ok()) return ReportError(err, dir.status());
  auto store = OpenForImport(args->positional[0], in->chunk_size);
  if (!store.ok()) return ReportError(err, store.status());
  auto info = ckptdb::ImportHf(**store, *dir, in->save);
  if (!info.ok()) return ReportError(err, info.status());
  out << "saved checkpoint " << info->id << " (step " << info->step << "): " << info->tensor_count << " tensors from "
      << dir->paths().size() << " file" << (dir->paths().size() == 1 ? "" : "s") << ", "
      << HumanBytes(info->logical_bytes) << ", " << HumanBytes(info->new_bytes) << " new\n";
  return FinishImport(**store, *info, out, err);
}

int ExportHf(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  std::vector<FlagSpec> flags = kSelectorFlags;
  flags.insert(flags.end(), {{"max-shard-size", true}, {"prefix", true}});
  auto args = ParseArgs("export-hf", argv, flags);
  if (!args.ok()) return ReportError(err, args.status(), kExitUsage);
  if (args->positional.size() != 2)
    return ReportError(err, Status::InvalidArgument("ckptdb export-hf: give STORE, WHICH and one output DIR"), kExitUsage);
  auto which = ParseSelector("export-hf", *args);
  if (!which.ok()) return ReportError(err, which.status(), kExitUsage);
  HfExportOptions options;
  if (args->has("max-shard-size")) {
    auto n = ParseUint64("--max-shard-size", *args->get("max-shard-size"));
    if (!n.ok()) return ReportError(err, n.status(), kExitUsage);
    if (*n == 0) return ReportError(err, Status::InvalidArgument("--max-shard-size must be at least 1"), kExitUsage);
    options.max_shard_size = *n;
  }
  if (args->has("prefix")) options.prefix = args->all("prefix").back();  // "" selects every tensor

  auto store = OpenForReading(args->positional[0]);
  if (!store.ok()) return ReportError(err, store.status());
  const std::string& dir = args->positional[1];
  auto done = ckptdb::ExportHf(**store, *which, dir, options);
  // A non-empty DIR is the caller's mistake, as a bad flag is (ExportHf gives only it this code).
  if (!done.ok()) return ReportError(err, done.status(), done.status().code() == Code::kAlreadyExists ? kExitUsage : kExitFailure);
  out << "exported checkpoint " << done->info.id << " (step " << done->info.step << "): " << done->tensor_count
      << " tensors" << (done->prefix.empty() ? "" : " named " + done->prefix + "* (prefix stripped)") << ", "
      << HumanBytes(done->total_size) << " in " << done->files.size() << " files to " << dir << "\n";
  return kExitOk;
}

}  // namespace ckptdb::cli

// ckptdb import: safetensors files -> one checkpoint. Every input is validated before the store is
// opened or created, so bad input never changes the store.
#include <optional>

#include "ckptdb/safetensors.h"
#include "tools/args.h"
#include "tools/command_util.h"
#include "tools/format.h"
#include "tools/import_flags.h"

namespace ckptdb::cli {

const std::vector<FlagSpec> kImportFlags = {
    {"step", true}, {"chunk-size", true}, {"tag", true, true}, {"metric", true, true}};

Result<ImportInputs> ParseImportFlags(const std::string& command, const Args& args) {
  ImportInputs in;
  if (!args.has("step")) return Status::InvalidArgument("ckptdb " + command + ": --step N is required");
  auto step = ParseInt64("--step", *args.get("step"));
  if (!step.ok()) return step.status();
  in.save.step = *step;
  if (args.has("chunk-size")) {
    auto cs = ParseUint64("--chunk-size", *args.get("chunk-size"));
    if (!cs.ok()) return cs.status();
    if (!IsValidChunkSize(*cs))
      return Status::InvalidArgument("--chunk-size " + std::to_string(*cs) +
                                     " must be a power of two between 65536 (64 KiB) and 67108864 (64 MiB)");
    in.chunk_size = *cs;
  }
  in.save.tags = args.all("tag");
  for (const std::string& m : args.all("metric")) {
    auto eq = m.find('=');
    if (eq == std::string::npos || eq == 0)
      return Status::InvalidArgument("--metric needs NAME=VALUE, got '" + m + "'");
    auto v = ParseDouble("--metric " + m.substr(0, eq), m.substr(eq + 1));
    if (!v.ok()) return v.status();
    if (!in.save.metrics.emplace(m.substr(0, eq), *v).second)
      return Status::InvalidArgument("--metric " + m.substr(0, eq) + " given twice");
  }
  return in;
}

Result<std::unique_ptr<Store>> OpenForImport(const std::string& path, std::optional<uint64_t> chunk_size) {
  StoreOptions options;
  if (chunk_size) options.chunk_size = *chunk_size;
  auto store = Store::Open(path, options);
  if (!store.ok()) return store.status();
  if (chunk_size && *chunk_size != (*store)->chunk_size())
    return Status::InvalidArgument("store " + path + " has chunk size " + std::to_string((*store)->chunk_size()) +
                                   "; --chunk-size applies only when creating a store");
  return store;
}

int FinishImport(Store& store, const SavedCheckpoint& info, std::ostream& out, std::ostream& err) {
  if (!info.retired.empty()) out << "retention policy removed checkpoints: " << JoinIds(info.retired) << "\n";
  // The checkpoint is committed whatever happens here; a failed collection only delays reclaiming.
  if (Status s = store.WaitForBackgroundWork(); !s.ok())
    err << "ckptdb: warning: the checkpoint is saved, but reclaiming the space of rotated checkpoints failed "
           "(the next gc retries): " << s.message() << "\n";
  return kExitOk;
}

int Import(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  auto args = ParseArgs("import", argv, kImportFlags);
  if (!args.ok()) return ReportError(err, args.status(), kExitUsage);
  auto in = ParseImportFlags("import", *args);
  if (!in.ok()) return ReportError(err, in.status(), kExitUsage);
  if (args->positional.size() < 2)
    return ReportError(err, Status::InvalidArgument("ckptdb import: give STORE and at least one FILE.safetensors"),
                       kExitUsage);
  // Every input is read and validated before the store is touched (exit 1 on failure).
  const std::vector<std::string> paths(args->positional.begin() + 1, args->positional.end());
  auto files = SafetensorsFiles::Read(paths);
  if (!files.ok()) return ReportError(err, files.status());
  auto store = OpenForImport(args->positional[0], in->chunk_size);
  if (!store.ok()) return ReportError(err, store.status());
  auto info = ImportSafetensors(**store, *files, in->save);
  if (!info.ok()) return ReportError(err, info.status());
  out << "saved checkpoint " << info->id << " (step " << info->step << "): " << info->tensor_count
      << " tensors, " << HumanBytes(info->logical_bytes) << ", " << HumanBytes(info->new_bytes) << " new\n";
  return FinishImport(**store, *info, out, err);
}

}  // namespace ckptdb::cli

// ckptdb export: one checkpoint -> a safetensors file (written atomically, streamed through a
// bounded window: ExportSafetensors).
#include "ckptdb/safetensors.h"
#include "tools/args.h"
#include "tools/command_util.h"
#include "tools/format.h"

namespace ckptdb::cli {

int Export(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  std::vector<FlagSpec> flags = kSelectorFlags;
  flags.insert(flags.end(), {{"output", true}, {"o", true}});
  auto args = ParseArgs("export", argv, flags);
  if (!args.ok()) return ReportError(err, args.status(), kExitUsage);
  if (args->positional.size() != 1)
    return ReportError(err, Status::InvalidArgument("ckptdb export: give exactly one STORE"), kExitUsage);
  auto which = ParseSelector("export", *args);
  if (!which.ok()) return ReportError(err, which.status(), kExitUsage);
  auto output = args->has("o") ? args->get("o") : args->get("output");
  if (!output || output->empty() || (args->has("o") && args->has("output")))
    return ReportError(err, Status::InvalidArgument("ckptdb export: give the output file once with -o OUT.safetensors"),
                       kExitUsage);

  auto store = OpenForReading(args->positional[0]);
  if (!store.ok()) return ReportError(err, store.status());
  auto info = ExportSafetensors(**store, *which, *output);
  if (!info.ok()) return ReportError(err, info.status());
  out << "exported checkpoint " << info->id << " (step " << info->step << "): " << info->tensor_count
      << " tensors, " << HumanBytes(info->logical_bytes) << " to " << *output << "\n";
  return kExitOk;
}

}  // namespace ckptdb::cli

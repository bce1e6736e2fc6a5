// ckptdb export: one checkpoint -> a safetensors file (written atomically, streamed through a
// bounded window: ExportSafetensors).
#include <filesystem>

#include "ckptdb/safetensors.h"
#include "tools/command_line.h"
#include "tools/command_util.h"
#include "tools/format.h"
#include "tools/json.h"
#include "tools/progress.h"

namespace ckptdb::cli {

int Export(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  CommandLine cl("export",
                 "Write one checkpoint as a safetensors file: its tensors in saved order, its metadata as "
                 "__metadata__. The file is written beside OUT and renamed over it when complete, so OUT is "
                 "never half-written; every chunk is checked against its digest on the way.");
  std::string path, output;
  bool force = false;
  cl.StorePath(&path, "the store directory (read-only: works beside a running save)");
  cl.Selector();
  cl.Value("-o,--output", &output, "OUT", "the file to write (required); - writes to standard output");
  cl.Switch("-f,--force", &force, "replace OUT if it exists");
  cl.Quiet();
  cl.Json();
  cl.Footer("Example:\n  ckptdb export runs/gpt --tag release-1 -o release-1.safetensors");
  if (auto rc = cl.Parse(argv, out, err)) return *rc;
  const Selector& which = cl.which();
  if (output.empty()) return cl.UsageError(err, "give the output file with -o OUT.safetensors");
  const bool to_stdout = output == "-";
  if (to_stdout && cl.json()) return cl.UsageError(err, "-o - writes the file to standard output; --json cannot share it");
  std::error_code ec;
  if (!to_stdout && !force && std::filesystem::exists(std::filesystem::symlink_status(output, ec)))
    return cl.UsageError(err, output + " exists; give --force to replace it");

  auto store = OpenForReading(path);
  if (!store.ok()) return cl.Fail(err, store.status());
  ProgressLine progress(err, cl.ShowProgress(err), "export");
  ExportOptions options;
  options.progress = [&](const Progress& p) { progress.Update(p.done_bytes, p.total_bytes); };
  auto info = to_stdout ? ExportSafetensors(**store, which, out, options)
                        : ExportSafetensors(**store, which, output, options);
  progress.Finish();
  if (!info.ok()) return cl.Fail(err, WithSuggestion(**store, which, info.status()));
  if (to_stdout) return kExitOk;  // standard output holds the file and nothing else
  if (cl.json()) {
    json::Writer w(/*pretty=*/true);
    w.BeginObject().Key("id").Uint(info->id).Key("step").Int(info->step).Key("tensors").Uint(info->tensor_count);
    w.Key("logical_bytes").Uint(info->logical_bytes).Key("output").String(output).EndObject();
    out << w.str() << "\n";
    return kExitOk;
  }
  out << "exported checkpoint " << info->id << " (step " << info->step << "): " << Plural(info->tensor_count, "tensor")
      << ", " << HumanBytes(info->logical_bytes) << " to " << Escaped(output) << "\n";
  return kExitOk;
}

}  // namespace ckptdb::cli

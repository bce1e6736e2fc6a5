// ckptdb import-hf / export-hf: the Hugging Face model layout (ckptdb/hf_layout.h). import-hf takes
// import's flags and, like it, reads and checks the whole directory before the store is opened.
#include "ckptdb/hf_layout.h"
#include "tools/command_line.h"
#include "tools/command_util.h"
#include "tools/format.h"
#include "tools/import_flags.h"
#include "tools/json.h"
#include "tools/progress.h"
#include "tools/values.h"

namespace ckptdb::cli {

int ImportHf(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  CommandLine cl("import-hf",
                 "Save a save_pretrained directory (model.safetensors or its shards with their index, plus "
                 "config.json and generation_config.json as metadata) as one checkpoint. The whole directory "
                 "is read and checked before the store is opened.");
  std::string path, dir;
  ImportFlags flags;
  cl.Positional("STORE", &path, "the store directory (created when missing)");
  cl.Positional("DIR", &dir, "the model directory");
  flags.Declare(cl);
  cl.Footer("Example:\n  ckptdb import-hf runs/gpt ./gpt2-finetuned --step 0 --tag base");
  if (auto rc = cl.Parse(argv, out, err)) return *rc;
  auto in = ParseImportFlags(cl, flags);
  if (!in.ok()) return cl.UsageError(err, in.status().message());
  if (path.empty() || dir.empty()) return cl.UsageError(err, "give STORE and one model DIR");
  auto model = HfModelDir::Read(dir);
  if (!model.ok()) return cl.Fail(err, model.status());
  std::vector<std::string> names;
  for (const TensorRef& t : model->files().tensors()) names.push_back(t.name);
  const SaveFn save = [&](Store& store, const SaveOptions& o) { return ckptdb::ImportHf(store, *model, o); };
  return SaveImport(cl, flags, *in, path, names, "import-hf", save, " from " + Plural(model->paths().size(), "file"),
                    out, err);
}

int ExportHf(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  CommandLine cl("export-hf",
                 "Write one checkpoint as a directory from_pretrained loads: model.safetensors (or shards "
                 "and model.safetensors.index.json) and the config files saved as metadata. DIR must be "
                 "empty or missing.");
  std::string path, dir, shard_text, prefix;
  cl.Positional("STORE", &path, "the store directory (read-only: works beside a running save)");
  cl.Positional("DIR", &dir, "the output directory");
  cl.Selector();
  cl.Value("--max-shard-size", &shard_text, "BYTES", "start a new shard beyond BYTES (default 5000000000)");
  cl.Value("--prefix", &prefix, "P",
           "export the tensors named P... with P stripped; '' for all (default: model. for a training state)");
  cl.Json();
  cl.Footer("Example:\n  ckptdb export-hf runs/gpt --best eval_loss:min ./best-model");
  if (auto rc = cl.Parse(argv, out, err)) return *rc;
  if (path.empty() || dir.empty()) return cl.UsageError(err, "give STORE, WHICH and one output DIR");
  const Selector& which = cl.which();
  HfExportOptions options;
  if (cl.Given("--max-shard-size")) {
    auto n = ParseUint64("--max-shard-size", shard_text);
    if (!n.ok()) return cl.UsageError(err, n.status().message());
    if (*n == 0) return cl.UsageError(err, "--max-shard-size must be at least 1");
    options.max_shard_size = *n;
  }
  if (cl.Given("--prefix")) options.prefix = prefix;  // "" selects every tensor

  auto store = OpenForReading(path);
  if (!store.ok()) return cl.Fail(err, store.status());
  auto done = ckptdb::ExportHf(**store, which, dir, options);
  // A non-empty DIR is the caller's mistake, as a bad flag is (ExportHf gives only it this code).
  if (!done.ok())
    return cl.Fail(err, WithSuggestion(**store, which, done.status()),
                   done.status().code() == Code::kAlreadyExists ? kExitUsage : kExitFailure);
  if (cl.json()) {
    json::Writer w(/*pretty=*/true);
    w.BeginObject().Key("id").Uint(done->info.id).Key("step").Int(done->info.step);
    w.Key("tensors").Uint(done->tensor_count).Key("bytes").Uint(done->total_size).Key("prefix").String(done->prefix);
    w.Key("files").BeginArray();
    for (const std::string& f : done->files) w.String(f);
    w.EndArray().Key("output").String(dir).EndObject();
    out << w.str() << "\n";
    return kExitOk;
  }
  out << "exported checkpoint " << done->info.id << " (step " << done->info.step << "): "
      << Plural(done->tensor_count, "tensor")
      << (done->prefix.empty() ? "" : " named " + done->prefix + "* (prefix stripped)") << ", "
      << HumanBytes(done->total_size) << " in " << Plural(done->files.size(), "file") << " to " << Escaped(dir) << "\n";
  return kExitOk;
}

}  // namespace ckptdb::cli

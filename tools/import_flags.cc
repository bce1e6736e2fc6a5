// What `ckptdb import` and `ckptdb import-hf` share: their flags and the steps around the save.
#include "tools/import_flags.h"

#include <set>

#include "tools/command_util.h"
#include "tools/format.h"
#include "tools/json.h"
#include "tools/progress.h"
#include "tools/values.h"

namespace ckptdb::cli {

void ImportFlags::Declare(CommandLine& cl) {
  cl.Value("--step", &step, "N", "the training step the checkpoint records (required)");
  cl.Value("--chunk-size", &chunk_size, "BYTES",
           "chunk size of a store being created: a power of two from 65536 to 67108864 (default 4 MiB)");
  cl.Values("--tag", &tags, "NAME", "tag the new checkpoint (repeatable)");
  cl.Values("--metric", &metrics, "NAME=VALUE", "record a metric, e.g. eval_loss=2.31 (repeatable)");
  cl.Quiet();
  cl.Switch("--strict", &strict,
            "refuse (save nothing) instead of warning when the checkpoint drops tensors its parent has or "
            "goes back in steps");
  cl.Json();
}

Result<ImportInputs> ParseImportFlags(const CommandLine& cl, const ImportFlags& f) {
  ImportInputs in;
  if (!cl.Given("--step")) return Status::InvalidArgument("--step N is required");
  auto step = ParseInt64("--step", f.step);
  if (!step.ok()) return step.status();
  in.save.step = *step;
  if (cl.Given("--chunk-size")) {
    auto cs = ParseUint64("--chunk-size", f.chunk_size);
    if (!cs.ok()) return cs.status();
    if (!IsValidChunkSize(*cs))
      return Status::InvalidArgument("--chunk-size " + std::to_string(*cs) +
                                     " must be a power of two between 65536 (64 KiB) and 67108864 (64 MiB)");
    in.chunk_size = *cs;
  }
  for (const std::string& t : f.tags)
    if (t.empty()) return Status::InvalidArgument("--tag needs a non-empty name");
  in.save.tags = f.tags;
  for (const std::string& m : f.metrics) {
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

namespace {

Result<std::unique_ptr<Store>> OpenForImport(const std::string& path, std::optional<uint64_t> chunk_size,
                                             bool* created) {
  // Open an existing store first, so that creating one is a decision the output can report.
  auto store = OpenExisting(path);
  *created = false;
  if (!store.ok() && store.status().code() == Code::kNotFound) {
    StoreOptions options;
    if (chunk_size) options.chunk_size = *chunk_size;
    store = Store::Open(path, options);
    *created = store.ok();
  }
  if (!store.ok()) return store.status();
  if (chunk_size && *chunk_size != (*store)->chunk_size())
    return Status::InvalidArgument("store " + path + " has chunk size " + std::to_string((*store)->chunk_size()) +
                                   "; --chunk-size applies only when creating a store");
  return store;
}

Result<std::vector<std::string>> ImportWarnings(const std::string& path, const std::vector<std::string>& names,
                                                int64_t step) {
  std::vector<std::string> warnings;
  auto opened = OpenForReading(path);
  if (!opened.ok() && opened.status().code() == Code::kNotFound) return warnings;  // import creates it
  if (!opened.ok()) return opened.status();
  Store& store = **opened;
  auto head = store.Head();
  if (!head.ok()) return head.status();
  if (!*head) return warnings;
  auto parent = store.Describe(Selector::Id(**head));
  if (!parent.ok()) return parent.status();
  const std::set<std::string> given(names.begin(), names.end());
  std::vector<std::string> dropped;
  for (const TensorInfo& t : parent->tensors)
    if (!given.count(t.name)) dropped.push_back(t.name);
  const std::string parent_name =
      "its parent, checkpoint " + std::to_string(parent->info.id) + " (step " + std::to_string(parent->info.step) + ")";
  if (!dropped.empty()) {
    std::string list;
    for (size_t i = 0; i < dropped.size() && i < 3; ++i) list += (i ? ", " : "") + json::Printable(dropped[i]);
    if (dropped.size() > 3) list += ", ...";
    warnings.push_back("the new checkpoint has " + Plural(names.size(), "tensor") + " but " + parent_name + " has " +
                       Plural(parent->tensors.size(), "tensor") + ": " + std::to_string(dropped.size()) +
                       " missing (" + list + "); was an input file forgotten?");
  }
  if (step < parent->info.step)
    warnings.push_back("step " + std::to_string(step) + " is lower than " + parent_name +
                       "; to resume from an earlier checkpoint, use 'ckptdb rollback' first");
  return warnings;
}

Status StrictCheck(const ImportFlags& flags, const std::vector<std::string>& warnings) {
  if (warnings.empty() || !flags.strict) return Status::OK();
  return Status::FailedPrecondition(warnings[0] + " (--strict: nothing saved)");
}

void PrintWarnings(const CommandLine& cl, const std::vector<std::string>& warnings, std::ostream& out) {
  if (cl.json()) return;
  for (const std::string& w : warnings) out << "warning: " << w << "\n";
  out.flush();  // on the terminal before the save, and so before any rotation its policy does
}

int FinishImport(const CommandLine& cl, Store& store, const SavedCheckpoint& info, bool created,
                 const std::vector<std::string>& warnings, const std::string& what, std::ostream& out,
                 std::ostream& err) {
  // The checkpoint is committed whatever happens here; a failed collection only delays reclaiming.
  const Status reclaimed = store.WaitForBackgroundWork();
  if (cl.json()) {
    json::Writer w(/*pretty=*/true);
    w.BeginObject().Key("created_store").Bool(created).Key("id").Uint(info.id).Key("step").Int(info.step);
    w.Key("tensors").Uint(info.tensor_count).Key("logical_bytes").Uint(info.logical_bytes);
    w.Key("new_bytes").Uint(info.new_bytes).Key("retired").BeginArray();
    for (const CheckpointInfo& c : info.retired) w.Uint(c.id);
    w.EndArray().Key("warnings").BeginArray();
    for (const std::string& s : warnings) w.String(s);
    if (!reclaimed.ok()) w.String("reclaiming the space of rotated checkpoints failed: " + reclaimed.message());
    w.EndArray().EndObject();
    out << w.str() << "\n";
    return kExitOk;
  }
  if (created) out << "created store " << Escaped(store.path()) << " (chunk size " << HumanBytes(store.chunk_size()) << ")\n";
  out << "saved checkpoint " << info.id << " (step " << info.step << "): " << Plural(info.tensor_count, "tensor")
      << what << ", " << HumanBytes(info.logical_bytes) << ", " << HumanBytes(info.new_bytes) << " new\n";
  if (!info.retired.empty()) out << "retention policy removed checkpoints: " << JoinIds(info.retired) << "\n";
  if (!reclaimed.ok())
    err << "ckptdb: warning: the checkpoint is saved, but reclaiming the space of rotated checkpoints failed "
           "(the next gc retries): " << reclaimed.message() << "\n";
  return kExitOk;
}

}  // namespace

int SaveImport(const CommandLine& cl, const ImportFlags& flags, ImportInputs& in, const std::string& path,
               const std::vector<std::string>& names, const std::string& label, const SaveFn& save,
               const std::string& what, std::ostream& out, std::ostream& err) {
  auto warnings = ImportWarnings(path, names, in.save.step);
  if (!warnings.ok()) return cl.Fail(err, warnings.status());
  if (Status s = StrictCheck(flags, *warnings); !s.ok()) return cl.Fail(err, s);
  bool created = false;
  auto store = OpenForImport(path, in.chunk_size, &created);
  if (!store.ok()) return cl.Fail(err, store.status());
  PrintWarnings(cl, *warnings, out);
  ProgressLine progress(err, cl.ShowProgress(err), label);
  in.save.progress = [&](const Progress& p) { progress.Update(p.done_bytes, p.total_bytes); };
  auto info = save(**store, in.save);
  progress.Finish();
  if (!info.ok()) return cl.Fail(err, info.status());
  return FinishImport(cl, **store, *info, created, *warnings, what, out, err);
}

}  // namespace ckptdb::cli

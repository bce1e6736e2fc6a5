// ckptdb verify: re-hash every chunk; name each damaged tensor and checkpoint.
#include "tools/command_line.h"
#include "tools/command_util.h"
#include "tools/format.h"
#include "tools/json.h"
#include "tools/progress.h"

namespace ckptdb::cli {
namespace {

void WriteJson(const VerifyReport& r, std::ostream& out) {
  json::Writer w(/*pretty=*/true);
  w.BeginObject().Key("ok").Bool(r.ok()).Key("checkpoints").Uint(r.checkpoints);
  w.Key("chunks_checked").Uint(r.chunks_checked).Key("bytes_checked").Uint(r.bytes_checked);
  w.Key("damage").BeginArray();
  for (const Damage& d : r.damage) {
    w.BeginObject().Key("id").Uint(d.id).Key("step").Int(d.step).Key("tensor").String(d.tensor);
    w.Key("chunk_index").Uint(d.chunk_index).Key("chunk").String(d.tensor.empty() ? "" : d.chunk.ToHex());
    w.Key("problem").String(d.problem).EndObject();
  }
  w.EndArray().EndObject();
  out << w.str() << "\n";
}

}  // namespace

int Verify(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  CommandLine cl("verify",
                 "Re-read and re-hash every chunk every checkpoint references, and check the catalog's own "
                 "files. Exit 0 when all is sound, 1 naming each damaged checkpoint, tensor and chunk.");
  std::string path;
  cl.StorePath(&path, "the store directory (read-only: works beside a running save)");
  cl.Quiet();
  cl.Json();
  if (auto rc = cl.Parse(argv, out, err)) return *rc;
  auto store = OpenForReading(path);
  if (!store.ok()) return cl.Fail(err, store.status());
  ProgressLine progress(err, cl.ShowProgress(err), "verify");
  VerifyOptions options;
  options.progress = [&](const Progress& p) { progress.Update(p.done_bytes, p.total_bytes); };
  auto report = (*store)->Verify(options);
  progress.Finish();
  if (!report.ok()) return cl.Fail(err, report.status());
  const Status damaged = Status::Corruption("store " + (*store)->path() + " has " +
                                            Plural(report->damage.size(), "damaged chunk reference"));
  if (cl.json()) {
    WriteJson(*report, out);
    return report->ok() ? kExitOk : cl.Fail(err, damaged);
  }
  out << "checked " << Plural(report->checkpoints, "checkpoint") << ", " << Plural(report->chunks_checked, "chunk")
      << ", " << HumanBytes(report->bytes_checked) << "\n";
  if (report->ok()) {
    out << "OK\n";
    return kExitOk;
  }
  for (const Damage& d : report->damage) {
    if (d.id == 0 && d.tensor.empty())  // the catalog's own files
      err << "ckptdb: damaged: " << EscapedControls(d.problem) << "\n";
    else if (d.tensor.empty())  // the manifest itself is unreadable
      err << "ckptdb: damaged: checkpoint " << d.id << ": " << EscapedControls(d.problem) << "\n";
    else
      err << "ckptdb: damaged: checkpoint " << d.id << " (step " << d.step << "), tensor '" << Escaped(d.tensor)
          << "', chunk " << d.chunk_index << " " << d.chunk.ToHex() << ": " << EscapedControls(d.problem) << "\n";
  }
  return cl.Fail(err, damaged);
}

}  // namespace ckptdb::cli

// ckptdb verify: re-hash every chunk; name each damaged tensor and checkpoint.
#include "tools/args.h"
#include "tools/command_util.h"
#include "tools/format.h"

namespace ckptdb::cli {

int Verify(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  auto args = ParseArgs("verify", argv, {});
  if (!args.ok()) return ReportError(err, args.status(), kExitUsage);
  if (args->positional.size() != 1)
    return ReportError(err, Status::InvalidArgument("ckptdb verify: give exactly one STORE"), kExitUsage);
  auto store = OpenForReading(args->positional[0]);
  if (!store.ok()) return ReportError(err, store.status());
  auto report = (*store)->Verify();
  if (!report.ok()) return ReportError(err, report.status());
  out << "checked " << Plural(report->checkpoints, "checkpoint") << ", " << Plural(report->chunks_checked, "chunk")
      << ", " << HumanBytes(report->bytes_checked) << "\n";
  if (report->ok()) {
    out << "OK\n";
    return kExitOk;
  }
  for (const Damage& d : report->damage) {
    if (d.id == 0 && d.tensor.empty())  // the catalog's own files
      err << "ckptdb: damaged: " << d.problem << "\n";
    else if (d.tensor.empty())  // the manifest itself is unreadable
      err << "ckptdb: damaged: checkpoint " << d.id << ": " << d.problem << "\n";
    else
      err << "ckptdb: damaged: checkpoint " << d.id << " (step " << d.step << "), tensor '" << d.tensor
          << "', chunk " << d.chunk_index << " " << d.chunk.ToHex() << ": " << d.problem << "\n";
  }
  err << "ckptdb: error: store " << (*store)->path() << " has " << report->damage.size() << " damaged chunk reference"
      << (report->damage.size() == 1 ? "" : "s") << "\n";
  return kExitFailure;
}

}  // namespace ckptdb::cli

// ckptdb rollback: move the head back (or forward) so the next save forks history there.
#include "tools/args.h"
#include "tools/command_util.h"
#include "tools/format.h"
#include "tools/json.h"

namespace ckptdb::cli {
namespace {

std::string Count(size_t n, const char* what) { return std::to_string(n) + " " + what + (n == 1 ? "" : "s"); }
std::string Own(size_t n) { return n == 1 ? " on its own branch: " : " on their own branch: "; }

void WriteText(const RollbackReport& r, bool discard, std::ostream& out) {
  out << "head is now checkpoint " << r.head.id << " (step " << r.head.step << ")";
  if (!discard) {
    if (!r.abandoned.empty())
      out << "; " << Count(r.abandoned.size(), "checkpoint") << " abandoned" << Own(r.abandoned.size()) << JoinIds(r.abandoned);
  } else {
    if (!r.discarded.empty())
      out << "; discarded " << Count(r.discarded.size(), "checkpoint") << ": " << JoinIds(r.discarded)
          << " (run `ckptdb gc` to reclaim the space)";
    // Discard never deletes a tag (only rm does), so say which abandoned ones stayed and why.
    std::vector<CheckpointInfo> kept;
    for (const CheckpointInfo& a : r.abandoned) {
      bool gone = false;
      for (const CheckpointInfo& d : r.discarded) gone |= d.id == a.id;
      if (!gone) kept.push_back(a);
    }
    if (!kept.empty()) out << "; kept " << Count(kept.size(), "tagged checkpoint") << Own(kept.size()) << JoinIds(kept);
  }
  out << "\n";
}

void WriteJson(const RollbackReport& r, std::ostream& out) {
  json::Writer w(/*pretty=*/true);
  w.BeginObject().Key("head").BeginObject().Key("id").Uint(r.head.id).Key("step").Int(r.head.step).EndObject();
  w.Key("abandoned").BeginArray();
  for (const CheckpointInfo& c : r.abandoned) w.Uint(c.id);
  w.EndArray().Key("discarded").BeginArray();
  for (const CheckpointInfo& c : r.discarded) w.Uint(c.id);
  w.EndArray().EndObject();
  out << w.str() << "\n";
}

}  // namespace

int Rollback(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  std::vector<FlagSpec> flags = kSelectorFlags;
  flags.push_back({"discard", false});
  flags.push_back({"json", false});
  auto args = ParseArgs("rollback", argv, flags);
  if (!args.ok()) return ReportError(err, args.status(), kExitUsage);
  if (args->positional.size() != 1)
    return ReportError(err, Status::InvalidArgument("ckptdb rollback: give exactly one STORE"), kExitUsage);
  auto which = ParseSelector("rollback", *args);
  if (!which.ok()) return ReportError(err, which.status(), kExitUsage);
  auto store = OpenExisting(args->positional[0]);
  if (!store.ok()) return ReportError(err, store.status());
  const bool discard = args->has("discard");
  auto report = (*store)->Rollback(*which, discard);
  if (!report.ok()) return ReportError(err, report.status());
  if (args->has("json"))
    WriteJson(*report, out);
  else
    WriteText(*report, discard, out);
  return kExitOk;
}

}  // namespace ckptdb::cli

// ckptdb rollback: move the head back (or forward) so the next save forks history there.
#include "ckptdb/lineage.h"
#include "tools/command_line.h"
#include "tools/command_util.h"
#include "tools/format.h"
#include "tools/json.h"

#include <algorithm>

namespace ckptdb::cli {
namespace {

std::string Count(size_t n, const char* what) { return std::to_string(n) + " " + what + (n == 1 ? "" : "s"); }
std::string Own(size_t n) { return n == 1 ? " on its own branch: " : " on their own branch: "; }

void WriteText(const RollbackReport& r, bool discard, bool dry_run, std::ostream& out) {
  out << (dry_run ? "dry run: head would become checkpoint " : "head is now checkpoint ") << r.head.id << " (step " << r.head.step << ")";
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
  out << (dry_run ? "; nothing changed\n" : "\n");
}

void WriteJson(const RollbackReport& r, bool dry_run, std::ostream& out) {
  json::Writer w(/*pretty=*/true);
  w.BeginObject().Key("head").BeginObject().Key("id").Uint(r.head.id).Key("step").Int(r.head.step).EndObject();
  w.Key("abandoned").BeginArray();
  for (const CheckpointInfo& c : r.abandoned) w.Uint(c.id);
  w.EndArray().Key("discarded").BeginArray();
  for (const CheckpointInfo& c : r.discarded) w.Uint(c.id);
  w.EndArray();
  if (dry_run) w.Key("dry_run").Bool(true);  // only then: the documented shape stays as it was
  w.EndObject();
  out << w.str() << "\n";
}

// What Rollback(which, discard) would report, computed from the history alone (lineage.h).
Result<RollbackReport> Plan(Store& store, const Selector& which, bool discard) {
  auto target = store.Describe(which);
  if (!target.ok()) return WithSuggestion(store, which, target.status());
  auto list = store.List();
  if (!list.ok()) return list.status();
  auto head = store.Head();
  if (!head.ok()) return head.status();
  RollbackReport r;
  r.head = target->info;
  if (!*head) return r;
  const std::vector<CheckpointId> keep = Ancestry(*list, target->info.id);
  for (CheckpointId id : Ancestry(*list, **head)) {  // nearest first: newest first
    if (std::find(keep.begin(), keep.end(), id) != keep.end()) continue;
    for (const CheckpointInfo& c : *list) {
      if (c.id != id) continue;
      r.abandoned.push_back(c);
      if (discard && c.tags.empty()) r.discarded.push_back(c);
    }
  }
  return r;
}

}  // namespace

int Rollback(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  CommandLine cl("rollback",
                 "Move the head to another checkpoint, so the next save is its child: training resumed from there "
                 "forks history, and the checkpoints after it stay readable on their own branch (log --graph).");
  std::string path;
  bool discard = false;
  cl.StorePath(&path, "the store directory");
  cl.Selector();
  cl.Switch("--discard", &discard, "delete the abandoned checkpoints that carry no tag (gc reclaims their space)");
  cl.DryRun("print where the head would go and what would be abandoned or discarded; change nothing");
  cl.Json();
  cl.Footer("Example:\n  ckptdb rollback runs/gpt --step 1200 --discard --dry-run");
  if (auto rc = cl.Parse(argv, out, err)) return *rc;
  const Selector& which = cl.which();
  auto store = cl.dry_run() ? OpenForReading(path) : OpenExisting(path);
  if (!store.ok()) return cl.Fail(err, store.status());
  auto report = cl.dry_run() ? Plan(**store, which, discard) : (*store)->Rollback(which, discard);
  if (!report.ok()) return cl.Fail(err, WithSuggestion(**store, which, report.status()));
  if (cl.json())
    WriteJson(*report, cl.dry_run(), out);
  else
    WriteText(*report, discard, cl.dry_run(), out);
  return kExitOk;
}

}  // namespace ckptdb::cli

// ckptdb gc: apply the retention policy, then reclaim the space of chunks no checkpoint references.
#include "tools/command_line.h"
#include "tools/command_util.h"
#include "tools/format.h"
#include "tools/json.h"
#include "tools/progress.h"

namespace ckptdb::cli {

int Gc(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  CommandLine cl("gc",
                 "Remove the checkpoints the stored retention policy no longer keeps, then reclaim the space "
                 "of chunks no checkpoint references: delete emptied pack files and rewrite mostly-dead ones. "
                 "Safe beside readers; a killed gc leaves the store consistent.");
  std::string path;
  cl.StorePath(&path, "the store directory");
  cl.DryRun("print what gc would remove and reclaim; change nothing (opens the store read-only)");
  cl.Quiet();
  cl.Json();
  if (auto rc = cl.Parse(argv, out, err)) return *rc;
  auto store = cl.dry_run() ? OpenForReading(path) : OpenExisting(path);
  if (!store.ok()) return cl.Fail(err, store.status());
  ProgressLine progress(err, cl.ShowProgress(err) && !cl.dry_run(), "gc");
  GcOptions options;
  options.dry_run = cl.dry_run();
  options.progress = [&](const Progress& p) { progress.Update(p.done_bytes, p.total_bytes); };
  auto r = (*store)->CollectGarbage(options);
  progress.Finish();
  if (!r.ok()) return cl.Fail(err, r.status());
  if (cl.json()) {
    json::Writer w(/*pretty=*/true);
    w.BeginObject().Key("reclaimed_bytes").Uint(r->reclaimed_bytes).Key("chunks_deleted").Uint(r->chunks_deleted);
    w.Key("packs_deleted").Uint(r->packs_deleted).Key("packs_rewritten").Uint(r->packs_rewritten);
    w.Key("live_bytes").Uint(r->live_bytes).Key("checkpoints_removed").BeginArray();
    for (const CheckpointInfo& c : r->checkpoints_removed) w.Uint(c.id);
    w.EndArray();
    if (cl.dry_run()) w.Key("bytes_copied").Uint(r->bytes_copied).Key("dry_run").Bool(true);
    w.EndObject();
    out << w.str() << "\n";
    return kExitOk;
  }
  const char* would = cl.dry_run() ? "would reclaim " : "reclaimed ";
  out << would << HumanBytes(r->reclaimed_bytes) << ": " << Plural(r->chunks_deleted, "chunk") << " deleted, "
      << Plural(r->packs_deleted, "pack file") << " deleted (" << r->packs_rewritten << " rewritten); "
      << HumanBytes(r->live_bytes) << " live\n";
  if (const size_t n = r->checkpoints_removed.size())
    out << Plural(n, "checkpoint") << (cl.dry_run() ? " the retention policy would remove: " : " removed by the retention policy: ")
        << JoinIds(r->checkpoints_removed) << "\n";
  if (cl.dry_run()) out << "dry run: nothing changed\n";
  return kExitOk;
}

}  // namespace ckptdb::cli

// ckptdb gc: apply the retention policy, then reclaim the space of chunks no checkpoint references.
#include "tools/command_line.h"
#include "tools/command_util.h"
#include "tools/format.h"
#include "tools/json.h"

namespace ckptdb::cli {

int Gc(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  CommandLine cl("gc",
                 "Remove the checkpoints the stored retention policy no longer keeps, then reclaim the space "
                 "of chunks no checkpoint references: delete emptied pack files and rewrite mostly-dead ones. "
                 "Safe beside readers; a killed gc leaves the store consistent.");
  std::string path;
  cl.Positional("STORE", &path, "the store directory");
  cl.Json();
  if (auto rc = cl.Parse(argv, out, err)) return *rc;
  if (path.empty()) return cl.UsageError(err, "give exactly one STORE");
  auto store = OpenExisting(path);
  if (!store.ok()) return cl.Fail(err, store.status());
  auto r = (*store)->CollectGarbage();
  if (!r.ok()) return cl.Fail(err, r.status());
  if (cl.json()) {
    json::Writer w(/*pretty=*/true);
    w.BeginObject().Key("reclaimed_bytes").Uint(r->reclaimed_bytes).Key("chunks_deleted").Uint(r->chunks_deleted);
    w.Key("packs_deleted").Uint(r->packs_deleted).Key("packs_rewritten").Uint(r->packs_rewritten);
    w.Key("live_bytes").Uint(r->live_bytes).Key("checkpoints_removed").BeginArray();
    for (const CheckpointInfo& c : r->checkpoints_removed) w.Uint(c.id);
    w.EndArray().EndObject();
    out << w.str() << "\n";
    return kExitOk;
  }
  out << "reclaimed " << HumanBytes(r->reclaimed_bytes) << ": " << Plural(r->chunks_deleted, "chunk") << " deleted, "
      << Plural(r->packs_deleted, "pack file") << " deleted (" << r->packs_rewritten << " rewritten); "
      << HumanBytes(r->live_bytes) << " live\n";
  if (const size_t n = r->checkpoints_removed.size())
    out << Plural(n, "checkpoint") << " removed by the retention policy: " << JoinIds(r->checkpoints_removed) << "\n";
  return kExitOk;
}

}  // namespace ckptdb::cli

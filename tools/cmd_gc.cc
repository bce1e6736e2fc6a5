// ckptdb gc: apply the retention policy, then reclaim the space of chunks no checkpoint references.
#include "tools/args.h"
#include "tools/command_util.h"
#include "tools/format.h"
#include "tools/json.h"

namespace ckptdb::cli {

int Gc(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  auto args = ParseArgs("gc", argv, {{"json", false}});
  if (!args.ok()) return ReportError(err, args.status(), kExitUsage);
  if (args->positional.size() != 1)
    return ReportError(err, Status::InvalidArgument("ckptdb gc: give exactly one STORE"), kExitUsage);
  auto store = OpenExisting(args->positional[0]);
  if (!store.ok()) return ReportError(err, store.status());
  auto r = (*store)->CollectGarbage();
  if (!r.ok()) return ReportError(err, r.status());
  if (args->has("json")) {
    json::Writer w(/*pretty=*/true);
    w.BeginObject().Key("reclaimed_bytes").Uint(r->reclaimed_bytes).Key("chunks_deleted").Uint(r->chunks_deleted);
    w.Key("packs_deleted").Uint(r->packs_deleted).Key("packs_rewritten").Uint(r->packs_rewritten);
    w.Key("live_bytes").Uint(r->live_bytes).Key("checkpoints_removed").BeginArray();
    for (const CheckpointInfo& c : r->checkpoints_removed) w.Uint(c.id);
    w.EndArray().EndObject();
    out << w.str() << "\n";
    return kExitOk;
  }
  out << "reclaimed " << HumanBytes(r->reclaimed_bytes) << ": " << r->chunks_deleted << " chunks deleted, "
      << r->packs_deleted << " pack files deleted (" << r->packs_rewritten << " rewritten); "
      << HumanBytes(r->live_bytes) << " live\n";
  if (const size_t n = r->checkpoints_removed.size()) {
    out << n << (n == 1 ? " checkpoint" : " checkpoints") << " removed by the retention policy: "
        << JoinIds(r->checkpoints_removed) << "\n";
  }
  return kExitOk;
}

}  // namespace ckptdb::cli

// ckptdb rm: delete one checkpoint (its chunks stay until garbage collection).
#include "tools/command_line.h"
#include "tools/command_util.h"
#include "tools/format.h"
#include "tools/json.h"

namespace ckptdb::cli {
namespace {

void WriteJson(const CheckpointInfo& c, bool dry_run, std::optional<uint64_t> reclaimable, std::ostream& out) {
  json::Writer w(/*pretty=*/true);
  w.BeginObject().Key("dry_run").Bool(dry_run).Key("removed").BeginObject();
  w.Key("id").Uint(c.id).Key("step").Int(c.step).Key("logical_bytes").Uint(c.logical_bytes).EndObject();
  if (reclaimable) w.Key("reclaimable_bytes").Uint(*reclaimable);
  w.EndObject();
  out << w.str() << "\n";
}

}  // namespace

int Rm(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  CommandLine cl("rm",
                 "Delete one checkpoint, and its tags. The chunks no other checkpoint shares stay on disk "
                 "until 'ckptdb gc' reclaims them.");
  std::string path;
  cl.StorePath(&path, "the store directory");
  cl.Selector();
  cl.DryRun("print what would be removed, and how much gc would then reclaim; change nothing");
  cl.Json();
  cl.Footer("Example:\n  ckptdb rm runs/gpt --step 1200 --dry-run");
  if (auto rc = cl.Parse(argv, out, err)) return *rc;
  const Selector& which = cl.which();

  if (cl.dry_run()) {  // read-only: a dry run cannot change the store, even by accident
    auto store = OpenForReading(path);
    if (!store.ok()) return cl.Fail(err, store.status());
    auto m = (*store)->Describe(which);
    if (!m.ok()) return cl.Fail(err, WithSuggestion(**store, which, m.status()));
    auto space = (*store)->Space();
    if (!space.ok()) return cl.Fail(err, space.status());
    uint64_t reclaimable = 0;
    for (const CheckpointSpace& c : space->checkpoints)
      if (c.id == m->info.id) reclaimable = c.reclaimable_bytes;
    if (cl.json()) {
      WriteJson(m->info, true, reclaimable, out);
    } else {
      out << "would remove checkpoint " << m->info.id << " (step " << m->info.step << "), "
          << HumanBytes(m->info.logical_bytes) << "; gc would then reclaim " << HumanBytes(reclaimable)
          << " (dry run: nothing changed)\n";
    }
    return kExitOk;
  }
  auto store = OpenExisting(path);
  if (!store.ok()) return cl.Fail(err, store.status());
  auto removed = (*store)->Remove(which);
  if (!removed.ok()) return cl.Fail(err, WithSuggestion(**store, which, removed.status()));
  if (cl.json()) {
    WriteJson(*removed, false, std::nullopt, out);
  } else {
    out << "removed checkpoint " << removed->id << " (step " << removed->step << "), "
        << HumanBytes(removed->logical_bytes) << "\n";
  }
  return kExitOk;
}

}  // namespace ckptdb::cli

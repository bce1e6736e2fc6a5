// ckptdb du: what the checkpoints hold, what deduplication saves, and what each checkpoint alone costs.
#include <cstdio>

#include "tools/command_line.h"
#include "tools/command_util.h"
#include "tools/format.h"
#include "tools/json.h"

namespace ckptdb::cli {
namespace {

void WriteJson(const SpaceReport& r, std::ostream& out) {
  json::Writer w(/*pretty=*/true);
  w.BeginObject().Key("logical_bytes").Uint(r.logical_bytes).Key("unique_bytes").Uint(r.unique_bytes);
  w.Key("disk_bytes").Uint(r.disk_bytes).Key("dedup_ratio").Double(r.dedup_ratio);
  w.Key("checkpoints").BeginArray();
  for (const CheckpointSpace& c : r.checkpoints)
    w.BeginObject().Key("id").Uint(c.id).Key("step").Int(c.step).Key("reclaimable_bytes").Uint(c.reclaimable_bytes).EndObject();
  w.EndArray().EndObject();
  out << w.str() << "\n";
}

void WriteText(const SpaceReport& r, const std::string& store, std::ostream& out) {
  char ratio[32];
  std::snprintf(ratio, sizeof ratio, "%.2fx", r.dedup_ratio);
  // The summary's first row stands in for Table's header row, so the block has no header line.
  Table summary({"logical", HumanBytes(r.logical_bytes), "the checkpoints' tensor bytes, summed"},
                {false, true, false});
  summary.Add({"unique", HumanBytes(r.unique_bytes), "distinct chunks the checkpoints reference"});
  summary.Add({"on disk", HumanBytes(r.disk_bytes), "allocated under " + store});
  summary.Add({"dedup", ratio, "logical / unique"});
  summary.Print(out);
  if (r.checkpoints.empty()) return;
  out << "\n";
  Table table({"ID", "STEP", "RECLAIMABLE"}, {true, true, true});
  for (const CheckpointSpace& c : r.checkpoints)
    table.Add({std::to_string(c.id), std::to_string(c.step), HumanBytes(c.reclaimable_bytes)});
  table.Print(out);
}

}  // namespace

int Du(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  CommandLine cl("du",
                 "What the checkpoints hold (logical bytes), what they need (unique chunk bytes), what the "
                 "store takes on disk, and what deleting each checkpoint alone would free. Human units; exact "
                 "bytes with --json.");
  std::string path;
  cl.StorePath(&path, "the store directory (read-only: works beside a running save)");
  cl.Json();
  if (auto rc = cl.Parse(argv, out, err)) return *rc;
  auto store = OpenForReading(path);
  if (!store.ok()) return cl.Fail(err, store.status());
  auto report = (*store)->Space();
  if (!report.ok()) return cl.Fail(err, report.status());
  cl.json() ? WriteJson(*report, out) : WriteText(*report, (*store)->path(), out);
  return kExitOk;
}

}  // namespace ckptdb::cli

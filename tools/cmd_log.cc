// ckptdb log: the history, oldest first, as a table or JSON, or newest first as a graph of branches.
#include <algorithm>
#include <sstream>

#include "ckptdb/lineage.h"
#include "tools/command_line.h"
#include "tools/command_util.h"
#include "tools/format.h"
#include "tools/graph.h"
#include "tools/json.h"
#include "tools/values.h"

namespace ckptdb::cli {
namespace {

std::string MetricsCell(const std::map<std::string, double>& metrics) {
  std::ostringstream s;
  for (const auto& [k, v] : metrics) s << (s.tellp() ? " " : "") << k << "=" << v;
  return s.str();
}

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}

// One graph row: "5 (head)  step 500  2026-11-23 04:00:00  8 B  tags: best  loss=0.25". Escaped
// here, as Table escapes the table's cells (the cells themselves stay raw, so nothing is escaped
// twice).
std::string GraphText(const CheckpointInfo& c, bool is_head) {
  std::string s = std::to_string(c.id) + (is_head ? " (head)" : "") + "  step " + std::to_string(c.step) + "  " +
                  ShortTime(c.commit_time_ns) + "  " + HumanBytes(c.logical_bytes);
  if (!c.tags.empty()) s += "  tags: " + Join(c.tags);
  if (!c.metrics.empty()) s += "  " + MetricsCell(c.metrics);
  return Escaped(s);
}

}  // namespace

int Log(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  CommandLine cl("log",
                 "The checkpoints, oldest first: id, step, parent, commit time (UTC), size, new bytes, tags and "
                 "metrics. Once history has forked (rollback) a BRANCH column shows where each lies; --graph "
                 "draws the branches.");
  std::string path, limit_text;
  bool graph = false, reverse = false;
  cl.StorePath(&path, "the store directory (read-only: works beside a running save)");
  cl.Value("-n,--max-count", &limit_text, "N", "only the N newest checkpoints");
  cl.Switch("--reverse", &reverse, "newest first");
  cl.Switch("--graph", &graph, "newest first, with the branches drawn as in git log --graph");
  cl.Json();
  cl.Footer("Example:\n  ckptdb log runs/gpt -n 5 --reverse");
  if (auto rc = cl.Parse(argv, out, err)) return *rc;
  if (cl.json() && graph) return cl.UsageError(err, "give --json or --graph, not both");
  if (graph && reverse) return cl.UsageError(err, "--graph lists newest first already; drop --reverse");
  std::optional<uint64_t> limit;
  if (cl.Given("-n")) {
    auto n = ParseUint64("-n", limit_text);
    if (!n.ok()) return cl.UsageError(err, n.status().message());
    limit = *n;
  }
  auto store = OpenForReading(path);
  if (!store.ok()) return cl.Fail(err, store.status());
  auto all = (*store)->List();
  if (!all.ok()) return cl.Fail(err, all.status());
  auto head = (*store)->Head();
  if (!head.ok()) return cl.Fail(err, head.status());
  // Branches come from the whole history, so a limited or reversed listing numbers them the same.
  const std::vector<uint32_t> all_branches = AssignBranches(*all, *head);
  const auto is_head = [&](const CheckpointInfo& c) { return *head && c.id == **head; };
  const size_t first = limit && *limit < all->size() ? all->size() - *limit : 0;
  std::vector<CheckpointInfo> shown(all->begin() + first, all->end());
  std::vector<uint32_t> branch(all_branches.begin() + first, all_branches.end());
  if (reverse) {
    std::reverse(shown.begin(), shown.end());
    std::reverse(branch.begin(), branch.end());
  }

  if (graph) {
    // With -n the graph is drawn for the newest N only (`shown`, never reversed here): lines to
    // older parents end, as in git.
    std::vector<std::string> text;
    for (const CheckpointInfo& c : shown) text.push_back(GraphText(c, is_head(c)));
    out << RenderGraph(shown, *head, text);
    return kExitOk;
  }
  if (cl.json()) {
    json::Writer w(/*pretty=*/true);
    w.BeginArray();
    for (size_t i = 0; i < shown.size(); ++i) {
      const CheckpointInfo& c = shown[i];
      w.BeginObject();
      w.Key("id").Uint(c.id).Key("step").Int(c.step).Key("parent");
      c.parent ? w.Uint(*c.parent) : w.Null();
      w.Key("branch").Uint(branch[i]).Key("head").Bool(is_head(c));
      w.Key("time").String(Rfc3339(c.commit_time_ns));
      w.Key("tensors").Uint(c.tensor_count).Key("logical_bytes").Uint(c.logical_bytes);
      w.Key("new_bytes").Uint(c.new_bytes).Key("tags").BeginArray();
      for (const auto& t : c.tags) w.String(t);
      w.EndArray().Key("metrics").BeginObject();
      for (const auto& [k, v] : c.metrics) w.Key(k).Double(v);
      w.EndObject().EndObject();
    }
    w.EndArray();
    out << w.str() << "\n";
    return kExitOk;
  }
  // In a linear history every checkpoint is on branch 0 and the head is the newest, so the BRANCH
  // column (with the head marked in it) appears only once history has forked.
  const bool forked = std::any_of(all_branches.begin(), all_branches.end(), [](uint32_t b) { return b != 0; });
  std::vector<std::string> header = {"ID", "STEP", "PARENT", "TIME (UTC)", "TENSORS", "SIZE", "NEW", "TAGS", "METRICS"};
  std::vector<bool> right = {true, true, true, false, true, true, true, false, false};
  if (forked) {
    header.insert(header.begin() + 3, "BRANCH");
    right.insert(right.begin() + 3, false);
  }
  Table table(header, right);
  for (size_t i = 0; i < shown.size(); ++i) {
    const CheckpointInfo& c = shown[i];
    std::vector<std::string> row = {std::to_string(c.id), std::to_string(c.step),
                                    c.parent ? std::to_string(*c.parent) : "-", ShortTime(c.commit_time_ns),
                                    std::to_string(c.tensor_count), HumanBytes(c.logical_bytes),
                                    HumanBytes(c.new_bytes), Join(c.tags), MetricsCell(c.metrics)};
    if (forked) row.insert(row.begin() + 3, std::to_string(branch[i]) + (is_head(c) ? " (head)" : ""));
    table.Add(row);
  }
  table.Print(out);
  return kExitOk;
}

}  // namespace ckptdb::cli

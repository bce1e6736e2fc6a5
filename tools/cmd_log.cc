// ckptdb log: the history, oldest first, as a table or JSON, or newest first as a graph of branches.
#include <algorithm>
#include <sstream>

#include "ckptdb/lineage.h"
#include "tools/args.h"
#include "tools/command_util.h"
#include "tools/format.h"
#include "tools/graph.h"
#include "tools/json.h"

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

// One graph row: "5 (head)  step 500  2026-11-23 04:00:00  8 B  tags: best  loss=0.25".
std::string GraphText(const CheckpointInfo& c, bool is_head) {
  std::string s = std::to_string(c.id) + (is_head ? " (head)" : "") + "  step " + std::to_string(c.step) + "  " +
                  ShortTime(c.commit_time_ns) + "  " + HumanBytes(c.logical_bytes);
  if (!c.tags.empty()) s += "  tags: " + Join(c.tags);
  if (!c.metrics.empty()) s += "  " + MetricsCell(c.metrics);
  return s;
}

}  // namespace

int Log(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  auto args = ParseArgs("log", argv, {{"json", false}, {"graph", false}});
  if (!args.ok()) return ReportError(err, args.status(), kExitUsage);
  if (args->positional.size() != 1)
    return ReportError(err, Status::InvalidArgument("ckptdb log: give exactly one STORE"), kExitUsage);
  if (args->has("json") && args->has("graph"))
    return ReportError(err, Status::InvalidArgument("ckptdb log: give --json or --graph, not both"), kExitUsage);
  auto store = OpenForReading(args->positional[0]);
  if (!store.ok()) return ReportError(err, store.status());
  auto list = (*store)->List();
  if (!list.ok()) return ReportError(err, list.status());
  auto head = (*store)->Head();
  if (!head.ok()) return ReportError(err, head.status());
  const std::vector<uint32_t> branch = AssignBranches(*list, *head);
  const auto is_head = [&](const CheckpointInfo& c) { return *head && c.id == **head; };

  if (args->has("graph")) {
    std::vector<std::string> text;
    for (const CheckpointInfo& c : *list) text.push_back(GraphText(c, is_head(c)));
    out << RenderGraph(*list, *head, text);
    return kExitOk;
  }
  if (args->has("json")) {
    json::Writer w(/*pretty=*/true);
    w.BeginArray();
    for (size_t i = 0; i < list->size(); ++i) {
      const CheckpointInfo& c = (*list)[i];
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
  const bool forked = std::any_of(branch.begin(), branch.end(), [](uint32_t b) { return b != 0; });
  std::vector<std::string> header = {"ID", "STEP", "PARENT", "TIME (UTC)", "TENSORS", "SIZE", "NEW", "TAGS", "METRICS"};
  std::vector<bool> right = {true, true, true, false, true, true, true, false, false};
  if (forked) {
    header.insert(header.begin() + 3, "BRANCH");
    right.insert(right.begin() + 3, false);
  }
  Table table(header, right);
  for (size_t i = 0; i < list->size(); ++i) {
    const CheckpointInfo& c = (*list)[i];
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

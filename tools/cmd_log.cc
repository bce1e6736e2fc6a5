// ckptdb log: the history, oldest first, as a table or JSON.
#include <sstream>

#include "tools/args.h"
#include "tools/command_util.h"
#include "tools/format.h"
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

}  // namespace

int Log(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  auto args = ParseArgs("log", argv, {{"json", false}});
  if (!args.ok()) return ReportError(err, args.status(), kExitUsage);
  if (args->positional.size() != 1)
    return ReportError(err, Status::InvalidArgument("ckptdb log: give exactly one STORE"), kExitUsage);
  auto store = OpenExisting(args->positional[0]);
  if (!store.ok()) return ReportError(err, store.status());
  auto list = (*store)->List();
  if (!list.ok()) return ReportError(err, list.status());

  if (args->has("json")) {
    json::Writer w(/*pretty=*/true);
    w.BeginArray();
    for (const CheckpointInfo& c : *list) {
      w.BeginObject();
      w.Key("id").Uint(c.id).Key("step").Int(c.step).Key("parent");
      c.parent ? w.Uint(*c.parent) : w.Null();
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
  Table table({"ID", "STEP", "PARENT", "TIME (UTC)", "TENSORS", "SIZE", "NEW", "TAGS", "METRICS"},
              {true, true, true, false, true, true, true, false, false});
  for (const CheckpointInfo& c : *list)
    table.Add({std::to_string(c.id), std::to_string(c.step), c.parent ? std::to_string(*c.parent) : "-",
               ShortTime(c.commit_time_ns), std::to_string(c.tensor_count), HumanBytes(c.logical_bytes),
               HumanBytes(c.new_bytes), Join(c.tags), MetricsCell(c.metrics)});
  table.Print(out);
  return kExitOk;
}

}  // namespace ckptdb::cli

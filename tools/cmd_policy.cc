// ckptdb policy: show or change the store's retention policy, and what it would remove now.
#include <charconv>

#include "ckptdb/retention.h"
#include "tools/args.h"
#include "tools/command_util.h"
#include "tools/format.h"
#include "tools/json.h"

namespace ckptdb::cli {
namespace {

const std::vector<FlagSpec> kFlags = {{"max-to-keep", true},      {"keep-every-steps", true},
                                      {"keep-every-hours", true}, {"keep-best", true},
                                      {"json", false}};

constexpr double kMaxHours = 1e6;  // ValidateRetentionPolicy's bound, checked here to name the flag

// Applies the setting flags given to `policy`; fields whose flag is absent keep their value.
// Every error is a usage error naming the flag.
Status ApplyFlags(const Args& args, RetentionPolicy& policy) {
  if (auto v = args.get("max-to-keep")) {
    if (*v == "none") {
      policy.max_to_keep = 0;
    } else {
      auto n = ParseUint64("--max-to-keep", *v);
      if (!n.ok()) return n.status();
      // "keep 0" reads like "delete everything"; the store means "no limit", so make it explicit.
      if (*n == 0) return Status::InvalidArgument("--max-to-keep 0 is not a limit: use --max-to-keep none to remove it");
      policy.max_to_keep = *n;
    }
  }
  if (auto v = args.get("keep-every-steps")) {
    if (*v == "none") {
      policy.keep_every_steps = 0;
    } else {
      auto k = ParseUint64("--keep-every-steps", *v);
      if (!k.ok()) return k.status();
      policy.keep_every_steps = *k;
    }
  }
  if (auto v = args.get("keep-every-hours")) {
    if (*v == "none") {
      policy.keep_every_hours = 0;
    } else {
      auto h = ParseDouble("--keep-every-hours", *v);
      if (!h.ok()) return h.status();
      if (*h < 0 || *h > kMaxHours)
        return Status::InvalidArgument("--keep-every-hours needs a number from 0 to 1e6, got '" + *v + "'");
      policy.keep_every_hours = *h == 0 ? 0 : *h;  // -0 becomes 0
    }
  }
  if (auto v = args.get("keep-best")) {
    if (*v == "none") {
      policy.keep_best.reset();
      return Status::OK();
    }
    // METRIC:min|max[:N]; the metric may itself contain ':', so parse from the right.
    const auto bad = [&] {
      return Status::InvalidArgument("--keep-best needs METRIC:min, METRIC:max or METRIC:min|max:N, got '" + *v + "'");
    };
    std::string rest = *v;
    KeepBest best;
    auto colon = rest.rfind(':');
    if (colon == std::string::npos) return bad();
    std::string last = rest.substr(colon + 1);
    if (last != "min" && last != "max") {
      auto n = ParseUint64("--keep-best count", last);
      if (!n.ok()) return bad();
      if (*n == 0) return Status::InvalidArgument("--keep-best count must be at least 1, got '" + *v + "'");
      best.count = *n;
      rest.resize(colon);
      colon = rest.rfind(':');
      if (colon == std::string::npos) return bad();
      last = rest.substr(colon + 1);
      if (last != "min" && last != "max") return bad();
    }
    best.maximize = last == "max";
    best.metric = rest.substr(0, colon);
    if (best.metric.empty()) return Status::InvalidArgument("--keep-best needs a metric name, got '" + *v + "'");
    policy.keep_best = best;
  }
  return Status::OK();
}

// The shortest text that reads back as `v` ("1.5", "24", "0.1").
std::string Number(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

const std::vector<std::pair<KeepReason, const char*>> kReasonNames = {
    {kKeepHead, "head"}, {kKeepRecent, "recent"}, {kKeepStepMilestone, "step_milestone"},
    {kKeepHourMilestone, "hour_milestone"}, {kKeepBest, "best"}, {kKeepTagged, "tagged"},
    {kKeepNoLimit, "no_limit"}};

void WriteJson(const RetentionPolicy& p, const std::vector<CheckpointInfo>& list,
               const std::vector<RetentionDecision>& decisions, std::ostream& out) {
  json::Writer w(/*pretty=*/true);
  w.BeginObject().Key("max_to_keep").Uint(p.max_to_keep).Key("keep_every_steps").Uint(p.keep_every_steps);
  w.Key("keep_every_hours").Double(p.keep_every_hours).Key("keep_best");
  if (p.keep_best) {
    w.BeginObject().Key("metric").String(p.keep_best->metric);
    w.Key("mode").String(p.keep_best->maximize ? "max" : "min").Key("count").Uint(p.keep_best->count).EndObject();
  } else {
    w.Null();
  }
  w.Key("checkpoints").BeginArray();
  for (size_t i = 0; i < list.size(); ++i) {
    w.BeginObject().Key("id").Uint(list[i].id).Key("step").Int(list[i].step);
    w.Key("keep").Bool(decisions[i].keep()).Key("reasons").BeginArray();
    for (const auto& [bit, name] : kReasonNames)
      if (decisions[i].reasons & bit) w.String(name);
    w.EndArray().EndObject();
  }
  w.EndArray().EndObject();
  out << w.str() << "\n";
}

void WriteText(const RetentionPolicy& p, const std::vector<CheckpointInfo>& list,
               const std::vector<RetentionDecision>& decisions, std::ostream& out) {
  out << "max_to_keep " << (p.max_to_keep ? std::to_string(p.max_to_keep) : "off") << "\n";
  out << "keep_every_steps " << (p.keep_every_steps ? std::to_string(p.keep_every_steps) : "off") << "\n";
  out << "keep_every_hours " << (p.keep_every_hours > 0 ? Number(p.keep_every_hours) : "off") << "\n";
  out << "keep_best ";
  if (p.keep_best)
    out << p.keep_best->metric << ":" << (p.keep_best->maximize ? "max" : "min") << ":" << p.keep_best->count << "\n";
  else
    out << "off\n";
  std::vector<CheckpointInfo> removed;
  for (size_t i = 0; i < list.size(); ++i)
    if (!decisions[i].keep()) removed.push_back(list[i]);
  if (removed.empty())
    out << "removes nothing now (" << list.size() << (list.size() == 1 ? " checkpoint" : " checkpoints") << " kept)\n";
  else
    out << "would remove at next gc: " << removed.size() << (removed.size() == 1 ? " checkpoint (id " : " checkpoints (ids ")
        << JoinIds(removed) << ")\n";
}

}  // namespace

int Policy(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  auto args = ParseArgs("policy", argv, kFlags);
  if (!args.ok()) return ReportError(err, args.status(), kExitUsage);
  if (args->positional.size() != 1)
    return ReportError(err, Status::InvalidArgument("ckptdb policy: give exactly one STORE"), kExitUsage);
  // Check the flags against a default policy first, so a bad value is a usage error even when the
  // store is missing, and nothing is opened for a command line that cannot work.
  RetentionPolicy scratch;
  if (Status s = ApplyFlags(*args, scratch); !s.ok()) return ReportError(err, s, kExitUsage);
  const bool changes = args->flags.size() > args->has("json");

  auto store = changes ? OpenExisting(args->positional[0]) : OpenForReading(args->positional[0]);
  if (!store.ok()) return ReportError(err, store.status());
  auto policy = (*store)->GetRetention();
  if (!policy.ok()) return ReportError(err, policy.status());
  if (changes) {
    if (Status s = ApplyFlags(*args, *policy); !s.ok()) return ReportError(err, s, kExitUsage);
    if (Status s = ValidateRetentionPolicy(*policy); !s.ok()) return ReportError(err, s, kExitUsage);
    if (Status s = (*store)->SetRetention(*policy); !s.ok()) return ReportError(err, s);
  }
  auto list = (*store)->List();
  if (!list.ok()) return ReportError(err, list.status());
  auto head = (*store)->Head();
  if (!head.ok()) return ReportError(err, head.status());
  const std::vector<RetentionDecision> decisions = DecideRetention(*policy, *list, *head);
  if (args->has("json"))
    WriteJson(*policy, *list, decisions, out);
  else
    WriteText(*policy, *list, decisions, out);
  return kExitOk;
}

}  // namespace ckptdb::cli

// ckptdb policy: show or change the store's retention policy, and what it would remove now.
#include <charconv>

#include "ckptdb/retention.h"
#include "tools/command_line.h"
#include "tools/command_util.h"
#include "tools/format.h"
#include "tools/json.h"
#include "tools/values.h"

namespace ckptdb::cli {
namespace {

// The setting flags as given (empty when absent; CommandLine::Given tells which were).
struct Settings {
  std::string max_to_keep, keep_every_steps, keep_every_hours, keep_best;
};

constexpr double kMaxHours = 1e6;  // ValidateRetentionPolicy's bound, checked here to name the flag

// Applies the setting flags given to `policy`; fields whose flag is absent keep their value.
// Every error is a usage error naming the flag.
Status ApplyFlags(const CommandLine& cl, const Settings& f, RetentionPolicy& policy) {
  if (const std::string* v = &f.max_to_keep; cl.Given("--max-to-keep")) {
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
  if (const std::string* v = &f.keep_every_steps; cl.Given("--keep-every-steps")) {
    if (*v == "none") {
      policy.keep_every_steps = 0;
    } else {
      auto k = ParseUint64("--keep-every-steps", *v);
      if (!k.ok()) return k.status();
      policy.keep_every_steps = *k;
    }
  }
  if (const std::string* v = &f.keep_every_hours; cl.Given("--keep-every-hours")) {
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
  if (const std::string* v = &f.keep_best; cl.Given("--keep-best")) {
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
               const std::vector<RetentionDecision>& decisions, bool dry_run, std::ostream& out) {
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
  w.EndArray();
  if (dry_run) w.Key("dry_run").Bool(true);  // only then: the documented shape stays as it was
  w.EndObject();
  out << w.str() << "\n";
}

void WriteText(const RetentionPolicy& p, const std::vector<CheckpointInfo>& list,
               const std::vector<RetentionDecision>& decisions, bool dry_run, std::ostream& out) {
  if (dry_run) out << "dry run: the policy would become\n";
  out << "max_to_keep " << (p.max_to_keep ? std::to_string(p.max_to_keep) : "off") << "\n";
  out << "keep_every_steps " << (p.keep_every_steps ? std::to_string(p.keep_every_steps) : "off") << "\n";
  out << "keep_every_hours " << (p.keep_every_hours > 0 ? Number(p.keep_every_hours) : "off") << "\n";
  out << "keep_best ";
  if (p.keep_best)
    out << Escaped(p.keep_best->metric) << ":" << (p.keep_best->maximize ? "max" : "min") << ":" << p.keep_best->count << "\n";
  else
    out << "off\n";
  std::vector<CheckpointInfo> removed;
  for (size_t i = 0; i < list.size(); ++i)
    if (!decisions[i].keep()) removed.push_back(list[i]);
  if (removed.empty())
    out << "removes nothing now (" << Plural(list.size(), "checkpoint") << " kept)\n";
  else
    out << "would remove at next gc: " << Plural(removed.size(), "checkpoint")
        << (removed.size() == 1 ? " (id " : " (ids ") << JoinIds(removed) << ")\n";
  if (dry_run) out << "dry run: nothing changed\n";
}

}  // namespace

int Policy(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  CommandLine cl("policy",
                 "Show or change the store's retention policy, and what it removes now. The policy is applied "
                 "in every save's own commit (and by gc): a checkpoint is kept when any rule keeps it, and tagged "
                 "checkpoints and the head are always kept. Without setting flags it only shows.");
  std::string path;
  Settings f;
  cl.StorePath(&path, "the store directory");
  cl.Value("--max-to-keep", &f.max_to_keep, "N|none", "keep the N most recent checkpoints (none: no limit)");
  cl.Value("--keep-every-steps", &f.keep_every_steps, "K|none",
           "also keep every checkpoint whose step is a multiple of K");
  cl.Value("--keep-every-hours", &f.keep_every_hours, "H|none",
           "also keep one checkpoint per H hours of commit time");
  cl.Value("--keep-best", &f.keep_best, "METRIC:min|max[:N]|none",
           "also keep the N (default 1) best checkpoints by METRIC");
  cl.DryRun("show the policy the flags would set and what it would remove; change nothing");
  cl.Json();
  cl.Footer("Example:\n  ckptdb policy runs/gpt --max-to-keep 3 --keep-best eval_loss:min --dry-run");
  if (auto rc = cl.Parse(argv, out, err)) return *rc;
  // Check the flags against a default policy first, so a bad value is a usage error even when the
  // store is missing, and nothing is opened for a command line that cannot work.
  RetentionPolicy scratch;
  if (Status s = ApplyFlags(cl, f, scratch); !s.ok()) return cl.UsageError(err, s.message());
  const bool changes = cl.Given("--max-to-keep") || cl.Given("--keep-every-steps") ||
                       cl.Given("--keep-every-hours") || cl.Given("--keep-best");
  const bool writes = changes && !cl.dry_run();

  auto store = writes ? OpenExisting(path) : OpenForReading(path);
  if (!store.ok()) return cl.Fail(err, store.status());
  auto policy = (*store)->GetRetention();
  if (!policy.ok()) return cl.Fail(err, policy.status());
  if (changes) {
    if (Status s = ApplyFlags(cl, f, *policy); !s.ok()) return cl.UsageError(err, s.message());
    if (Status s = ValidateRetentionPolicy(*policy); !s.ok()) return cl.UsageError(err, s.message());
    if (writes)
      if (Status s = (*store)->SetRetention(*policy); !s.ok()) return cl.Fail(err, s);
  }
  auto list = (*store)->List();
  if (!list.ok()) return cl.Fail(err, list.status());
  auto head = (*store)->Head();
  if (!head.ok()) return cl.Fail(err, head.status());
  const std::vector<RetentionDecision> decisions = DecideRetention(*policy, *list, *head);
  if (cl.json())
    WriteJson(*policy, *list, decisions, cl.dry_run(), out);
  else
    WriteText(*policy, *list, decisions, cl.dry_run(), out);
  return kExitOk;
}

}  // namespace ckptdb::cli

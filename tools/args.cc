#include "tools/args.h"

#include "tools/format.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace ckptdb::cli {

std::optional<std::string> Args::get(const std::string& flag) const {
  auto it = flags.find(flag);
  if (it == flags.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

const std::vector<std::string>& Args::all(const std::string& flag) const {
  static const std::vector<std::string> kNone;
  auto it = flags.find(flag);
  return it == flags.end() ? kNone : it->second;
}

Result<Args> ParseArgs(const std::string& command, const std::vector<std::string>& argv,
                       const std::vector<FlagSpec>& specs) {
  Args args;
  bool flags_done = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    const bool is_short = !flags_done && a.size() == 2 && a[0] == '-' && a[1] != '-';
    if (!is_short && (flags_done || a.size() < 2 || a.compare(0, 2, "--") != 0)) {
      if (!flags_done && a.size() > 1 && a[0] == '-')
        return Status::InvalidArgument("ckptdb " + command + ": unknown option '" + a + "'");
      args.positional.push_back(a);
      continue;
    }
    if (a == "--") { flags_done = true; continue; }
    std::string name = a.substr(is_short ? 1 : 2), value;
    bool inline_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      inline_value = true;
    }
    const FlagSpec* spec = nullptr;
    for (const auto& s : specs)
      if (s.name == name) spec = &s;
    if (!spec) return Status::InvalidArgument("ckptdb " + command + ": unknown flag '" + a + "'");
    if (spec->takes_value && !inline_value) {
      if (i + 1 >= argv.size())
        return Status::InvalidArgument("ckptdb " + command + ": flag '--" + name + "' needs a value");
      value = argv[++i];
    } else if (!spec->takes_value && inline_value) {
      return Status::InvalidArgument("ckptdb " + command + ": flag '--" + name + "' takes no value");
    }
    if (!spec->repeatable && args.flags.count(name))
      return Status::InvalidArgument("ckptdb " + command + ": flag '--" + name + "' given twice");
    args.flags[name].push_back(value);
  }
  return args;
}

Result<int64_t> ParseInt64(const std::string& flag, const std::string& text) {
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE)
    return Status::InvalidArgument(flag + " needs an integer, got '" + text + "'");
  return static_cast<int64_t>(v);
}

Result<uint64_t> ParseUint64(const std::string& flag, const std::string& text) {
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || text[0] == '-' || *end != '\0' || errno == ERANGE)
    return Status::InvalidArgument(flag + " needs a non-negative integer, got '" + text + "'");
  return static_cast<uint64_t>(v);
}

Result<double> ParseDouble(const std::string& flag, const std::string& text) {
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(v))
    return Status::InvalidArgument(flag + " needs a finite number, got '" + text + "'");
  return v;
}

const std::vector<FlagSpec> kSelectorFlags = {{"step", true}, {"id", true}, {"latest", false}, {"head", false},
                                              {"tag", true},  {"at", true}, {"best", true}};

Result<Selector> ParseSelector(const std::string& command, const Args& args) {
  int given = 0;
  for (const auto& f : kSelectorFlags) given += args.has(f.name);
  if (given != 1)
    return Status::InvalidArgument("ckptdb " + command +
                                   ": give exactly one of --step N, --id ID, --latest, --head, --tag NAME, --at TIME, "
                                   "--best METRIC:min|max");
  if (args.has("latest")) return Selector::Latest();
  if (args.has("head")) return Selector::Head();
  if (args.has("tag")) {
    if (args.get("tag")->empty()) return Status::InvalidArgument("--tag needs a non-empty name");
    return Selector::Tag(*args.get("tag"));
  }
  if (args.has("at")) {
    auto t = ParseTime(*args.get("at"));
    if (!t) return Status::InvalidArgument("--at needs an RFC 3339 time (2026-11-23T01:36:00Z) or a Unix timestamp, got '" +
                                           *args.get("at") + "'");
    return Selector::At(*t);
  }
  if (args.has("best")) {
    const std::string v = *args.get("best");
    const auto colon = v.rfind(':');
    const std::string dir = colon == std::string::npos ? "" : v.substr(colon + 1);
    if (colon == 0 || colon == std::string::npos || (dir != "min" && dir != "max"))
      return Status::InvalidArgument("--best needs METRIC:min or METRIC:max, got '" + v + "'");
    return Selector::Best(v.substr(0, colon), dir == "max");
  }
  if (args.has("step")) {
    auto step = ParseInt64("--step", *args.get("step"));
    if (!step.ok()) return step.status();
    return Selector::Step(*step);
  }
  auto id = ParseUint64("--id", *args.get("id"));
  if (!id.ok()) return id.status();
  return Selector::Id(*id);
}

Result<Selector> ParseSelectorSpec(const std::string& spec) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("checkpoint '" + spec + "': " + why);
  };
  if (spec == "latest") return Selector::Latest();
  if (spec == "head") return Selector::Head();
  const auto colon = spec.find(':');
  if (colon == std::string::npos) {
    if (auto step = ParseInt64("step", spec); step.ok()) return Selector::Step(*step);
    return bad("give a step number, id:ID, tag:NAME, latest, head, at:TIME or best:METRIC:min|max");
  }
  // Only the first colon separates the kind: times and best specs contain colons of their own.
  const std::string kind = spec.substr(0, colon), value = spec.substr(colon + 1);
  if (kind == "id") {
    auto id = ParseUint64("id:", value);
    if (!id.ok()) return bad(id.status().message());
    return Selector::Id(*id);
  }
  if (kind == "tag") {
    if (value.empty()) return bad("tag: needs a non-empty name");
    return Selector::Tag(value);
  }
  if (kind == "at") {
    auto t = ParseTime(value);
    if (!t) return bad("at: needs an RFC 3339 time (2026-11-23T01:36:00Z) or a Unix timestamp");
    return Selector::At(*t);
  }
  if (kind == "best") {
    const auto last = value.rfind(':');
    const std::string dir = last == std::string::npos ? "" : value.substr(last + 1);
    if (last == 0 || last == std::string::npos || (dir != "min" && dir != "max"))
      return bad("best: needs METRIC:min or METRIC:max");
    return Selector::Best(value.substr(0, last), dir == "max");
  }
  return bad("unknown kind '" + kind + "' (give a step number, id:ID, tag:NAME, latest, at:TIME or best:METRIC:min|max)");
}

}  // namespace ckptdb::cli

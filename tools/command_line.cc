#include "tools/command_line.h"

#include <algorithm>

#include "tools/cli.h"
#include "tools/command_util.h"
#include "tools/format.h"
#include "tools/progress.h"

#include <iostream>
#include "tools/json.h"
#include "tools/suggest.h"
#include "tools/values.h"

namespace ckptdb::cli {
namespace {

constexpr char kWhichGroup[] = "Which checkpoint (give exactly one)";

// The code as an identifier, for JSON errors that scripts branch on ("NotFound").
const char* CodeId(Code code) {
  switch (code) {
    case Code::kOk: return "OK";
    case Code::kInvalidArgument: return "InvalidArgument";
    case Code::kNotFound: return "NotFound";
    case Code::kAlreadyExists: return "AlreadyExists";
    case Code::kCorruption: return "Corruption";
    case Code::kIOError: return "IOError";
    case Code::kBusy: return "Busy";
    case Code::kFailedPrecondition: return "FailedPrecondition";
    case Code::kInternal: return "Internal";
    case Code::kResourceExhausted: return "ResourceExhausted";
    case Code::kNotSupported: return "NotSupported";
    case Code::kAborted: return "Aborted";
  }
  return "Unknown";
}

bool LooksLikeNumber(const std::string& s) {
  return s.size() > 1 && s[0] == '-' && (std::isdigit(static_cast<unsigned char>(s[1])) || s[1] == '.');
}

// CLI11's mismatch messages ("--step: 1 required TEXT missing") in the words the rest of the
// tool uses.
std::string Reworded(const std::string& what) {
  const auto colon = what.find(": ");
  if (colon == std::string::npos || what.compare(0, 1, "-") != 0) return what;
  const std::string flag = what.substr(0, colon);
  if (what.find("missing", colon) != std::string::npos) return "flag '" + flag + "' needs a value";
  if (what.find("At Most", colon) != std::string::npos) return "flag '" + flag + "' given more than once";
  return what;
}

}  // namespace

int ReportError(std::ostream& err, const Status& status, int exit_code, bool json) {
  if (json) {
    json::Writer w;
    w.BeginObject().Key("error").BeginObject();
    w.Key("code").String(CodeId(status.code())).Key("message").String(status.message());
    w.EndObject().EndObject();
    err << w.str() << "\n";
    return exit_code;
  }
  std::string msg = status.message();
  for (char& c : msg)
    if (c == '\n' || c == '\r') c = ' ';
  // Messages quote names from files and the command line: no control code reaches the terminal.
  err << "ckptdb: error: " << EscapedControls(msg) << "\n";
  return exit_code;
}

CommandLine::CommandLine(std::string command, std::string summary)
    : command_(std::move(command)), app_(std::move(summary), "ckptdb " + command_) {
  app_.allow_extras();  // unknown flags and extra arguments are reported by Parse, with hints
  app_.set_help_flag("-h,--help", "print this help and exit");
  app_.get_formatter()->column_width(30);
}

void CommandLine::Positional(const std::string& name, std::string* value, const std::string& help) {
  app_.add_option(name, *value, help)->type_name("");
}

void CommandLine::StorePath(std::string* path, const std::string& help) {
  Positional("STORE", path, help);
  store_path_ = path;
}

void CommandLine::Positionals(const std::string& name, std::vector<std::string>* values, const std::string& help) {
  app_.add_option(name, *values, help)->type_name("");
}

void CommandLine::Switch(const std::string& names, bool* value, const std::string& help) {
  CLI::Option* o = app_.add_flag(names, *value, help)->disable_flag_override();
  for (const std::string& l : o->get_lnames()) switch_names_.push_back("--" + l);
}

void CommandLine::Value(const std::string& names, std::string* value, const std::string& type,
                        const std::string& help) {
  app_.add_option(names, *value, help)->type_name(type);
}

void CommandLine::Values(const std::string& names, std::vector<std::string>* values, const std::string& type,
                         const std::string& help) {
  app_.add_option(names, *values, help)
      ->type_name(type)
      ->allow_extra_args(false)  // one value per occurrence: "--tag a FILE" leaves FILE positional
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

void CommandLine::Selector() {
  has_selector_ = true;
  auto add = [&](CLI::Option* o) { o->group(kWhichGroup); };
  add(app_.add_option("--step", step_, "the newest checkpoint with training step N")->type_name("N"));
  add(app_.add_option("--id", id_, "the checkpoint with id ID (log's ID column)")->type_name("ID"));
  add(app_.add_flag("--latest", latest_, "the newest checkpoint")->disable_flag_override());
  add(app_.add_flag("--head", head_, "where the next save continues (differs from --latest after a rollback)")
          ->disable_flag_override());
  switch_names_.insert(switch_names_.end(), {"--latest", "--head"});
  add(app_.add_option("--tag", tag_, "the checkpoint tagged NAME")->type_name("NAME"));
  add(app_.add_option("--at", at_,
                      "the newest committed at or before TIME: as log prints it (UTC), RFC 3339 or Unix seconds")
          ->type_name("TIME"));
  add(app_.add_option("--best", best_, "the best recorded value of METRIC, lowest (min) or highest (max)")
          ->type_name("METRIC:min|max"));
}

void CommandLine::Json() { Switch("--json", &json_, "print the result as JSON (exact bytes, RFC 3339 times)"); }
void CommandLine::Quiet() { Switch("-q,--quiet", &quiet_, "show no progress on a terminal"); }
void CommandLine::DryRun(const std::string& help) { Switch("-n,--dry-run", &dry_run_, help); }
void CommandLine::Footer(const std::string& text) { app_.footer(text); }

std::string CommandLine::Help() const { return app_.help(); }

std::vector<std::string> CommandLine::FlagNames() const {
  std::vector<std::string> names;
  for (const CLI::Option* o : app_.get_options()) {
    if (o->get_positional()) continue;
    for (const std::string& l : o->get_lnames()) names.push_back("--" + l);
    for (const std::string& s : o->get_snames()) names.push_back("-" + s);
  }
  return names;
}

std::optional<int> CommandLine::Parse(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  if (argv.size() == 1 && argv[0] == kListFlags) {  // completion asks for the flags
    for (const std::string& name : FlagNames()) out << name << "\n";
    return kExitOk;
  }
  const auto end_of_flags = std::find(argv.begin(), argv.end(), "--");
  json_on_line_ = std::find(argv.begin(), end_of_flags, "--json") != end_of_flags;
  // A switch given a value is refused by name (CLI11 would say "json was given a disallowed flag
  // override").
  for (auto it = argv.begin(); it != end_of_flags; ++it) {
    const auto eq = it->find('=');
    if (it->rfind("--", 0) != 0 || eq == std::string::npos) continue;
    const std::string name = it->substr(0, eq);
    if (std::find(switch_names_.begin(), switch_names_.end(), name) != switch_names_.end())
      return UsageError(err, "flag '" + name + "' takes no value");
  }
  // "--prefix=" gives an empty value, which CLI11 would call missing: pass it as "--prefix" "".
  std::vector<std::string> args;
  for (auto it = argv.begin(); it != argv.end(); ++it) {
    if (it < end_of_flags && it->size() > 3 && it->rfind("--", 0) == 0 && it->back() == '=' &&
        it->find('=') == it->size() - 1) {
      args.push_back(it->substr(0, it->size() - 1));
      args.emplace_back();
    } else {
      args.push_back(*it);
    }
  }
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them last first
  try {
    app_.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    out << Help();
    return kExitOk;
  } catch (const CLI::CallForAllHelp&) {
    out << Help();
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    return UsageError(err, Reworded(e.what()));
  }
  std::vector<std::string> flags = FlagNames();
  for (const std::string& extra : app_.remaining()) {
    if (extra == "--") continue;
    if (extra.size() > 1 && extra[0] == '-' && !LooksLikeNumber(extra)) {
      const std::string name = extra.substr(0, extra.find('='));
      return UsageError(err, "unknown flag '" + name + "'" + DidYouMean(name, flags));
    }
    std::string usage;
    for (const CLI::Option* o : app_.get_options())
      if (o->get_positional()) usage += " " + o->get_name();
    return UsageError(err, "unexpected argument '" + extra + "' (usage: ckptdb " + command_ + usage + " [flags])");
  }
  if (store_path_ && store_path_->empty()) return UsageError(err, "give exactly one STORE");
  if (has_selector_) {
    auto which = ParseWhich();
    if (!which.ok()) return UsageError(err, which.status().message());
    which_ = *which;
  }
  return std::nullopt;
}

bool CommandLine::ShowProgress(const std::ostream& err) const {
  return !quiet_ && &err == &std::cerr && IsTerminal(2);
}

bool CommandLine::Given(const std::string& name) const { return app_.count(name) > 0; }

Result<ckptdb::Selector> CommandLine::ParseWhich() const {
  int given = 0;
  for (const char* f : {"--step", "--id", "--latest", "--head", "--tag", "--at", "--best"}) given += Given(f);
  if (given != 1)
    return Status::InvalidArgument(command_ +
                                   ": give exactly one of --step N, --id ID, --latest, --head, --tag NAME, --at TIME, "
                                   "--best METRIC:min|max");
  if (latest_) return Selector::Latest();
  if (head_) return Selector::Head();
  if (Given("--tag")) {
    if (tag_.empty()) return Status::InvalidArgument("--tag needs a non-empty name");
    return Selector::Tag(tag_);
  }
  if (Given("--at")) return ParseAt("--at", at_);
  if (Given("--best")) return ParseBest("--best", best_);
  if (Given("--step")) {
    auto step = ParseInt64("--step", step_);
    if (!step.ok()) return step.status();
    return Selector::Step(*step);
  }
  auto id = ParseUint64("--id", id_);
  if (!id.ok()) return id.status();
  return Selector::Id(*id);
}

int CommandLine::UsageError(std::ostream& err, const std::string& message) const {
  const std::string hint = "; see 'ckptdb " + command_ + " --help'";
  const bool named = message.rfind(command_ + ":", 0) == 0;
  return ReportError(err, Status::InvalidArgument((named ? "" : command_ + ": ") + message + hint), kExitUsage,
                     json_on_line_);
}

int CommandLine::Fail(std::ostream& err, const Status& status, int code) const {
  return ReportError(err, status, code, json_on_line_);
}

}  // namespace ckptdb::cli

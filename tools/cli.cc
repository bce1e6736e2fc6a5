#include "tools/cli.h"

#include <string_view>

#include "tools/command_line.h"
#include "tools/command_util.h"
#include "tools/suggest.h"

#ifndef CKPTDB_VERSION
#define CKPTDB_VERSION "unknown"
#endif

namespace ckptdb::cli {
namespace {

using CommandFn = int (*)(const std::vector<std::string>&, std::ostream&, std::ostream&);

struct Command {
  const char* name;
  const char* synopsis;
  const char* summary;
  CommandFn run;
};

const std::vector<Command>& Commands() {
  static const std::vector<Command> kCommands = {
      {"import", "STORE FILE.safetensors... --step N", "save safetensors files as one checkpoint", Import},
      {"export", "STORE WHICH -o OUT.safetensors", "write one checkpoint as a safetensors file", Export},
      {"import-hf", "STORE DIR --step N", "save a save_pretrained directory as one checkpoint", ImportHf},
      {"export-hf", "STORE WHICH DIR", "write one checkpoint as a directory from_pretrained loads", ExportHf},
      {"log", "STORE [-n N] [--reverse] [--graph]", "list the checkpoints", Log},
      {"show", "STORE WHICH", "one checkpoint's tensors, metrics, tags and metadata", Show},
      {"verify", "STORE", "re-hash every chunk and name what is damaged", Verify},
      {"diff", "STORE A B [--stats]", "which tensors two checkpoints add, remove or change", Diff},
      {"du", "STORE", "disk use, deduplication, and what each checkpoint alone holds", Du},
      {"tag", "STORE WHICH NAME", "name a checkpoint", Tag},
      {"untag", "STORE NAME", "drop a name", Untag},
      {"rm", "STORE WHICH [--dry-run]", "delete one checkpoint", Rm},
      {"gc", "STORE [--dry-run]", "apply the retention policy and reclaim unreferenced space", Gc},
      {"policy", "STORE [--max-to-keep N|none] ... [--dry-run]", "show or change the retention policy", Policy},
      {"rollback", "STORE WHICH [--discard] [--dry-run]", "move the head so the next save forks history there",
       Rollback},
  };
  return kCommands;
}

const Command* Find(const std::string& name) {
  for (const Command& c : Commands())
    if (name == c.name) return &c;
  return nullptr;
}

std::string Usage() {
  std::string s =
      "usage: ckptdb COMMAND STORE [flags]\n"
      "\n"
      "ckptdb keeps training checkpoints as versioned, deduplicated sets of tensor chunks.\n"
      "\n"
      "commands:\n";
  for (const Command& c : Commands()) {
    std::string line = std::string("  ") + c.name;
    line.resize(std::max<size_t>(line.size() + 1, 12), ' ');
    line += c.synopsis;
    line.resize(std::max<size_t>(line.size() + 1, 58), ' ');
    s += line + c.summary + "\n";
  }
  s += "\n"
       "WHICH picks one checkpoint: --step N | --id ID | --latest | --head | --tag NAME | --at TIME\n"
       "  | --best METRIC:min|max. TIME is as log prints it (2026-11-23 01:36:00, UTC), RFC 3339 or Unix seconds.\n"
       "Every command takes --json; commands that change the store print what they did.\n"
       "\n"
       "Run 'ckptdb help COMMAND' or 'ckptdb COMMAND --help' for a command's flags; 'ckptdb --version'.\n";
  return s;
}

std::vector<std::string> Names() {
  std::vector<std::string> names;
  for (const Command& c : Commands()) names.push_back(c.name);
  names.push_back("help");
  return names;
}

int UnknownCommand(const std::string& name, std::ostream& err) {
  return ReportError(err,
                     Status::InvalidArgument("unknown command '" + name + "'" + DidYouMean(name, Names()) +
                                             " (try 'ckptdb help')"),
                     kExitUsage, false);
}

}  // namespace

int Run(int argc, char** argv, std::ostream& out, std::ostream& err) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return Run(args, out, err);
}

int Run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty()) {
    err << Usage();
    return kExitUsage;
  }
  const std::string& command = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (const Command* c = Find(command)) return c->run(rest, out, err);
  if (command == "--version" || command == "version") {
    out << "ckptdb " << CKPTDB_VERSION << "\n";
    return kExitOk;
  }
  if (command == "help" || command == "--help" || command == "-h") {
    if (rest.empty()) {
      out << Usage();
      return kExitOk;
    }
    const Command* c = Find(rest[0]);
    if (!c) return UnknownCommand(rest[0], err);
    return c->run({"--help"}, out, err);
  }
  if (command == "--help-all") {  // every page at once, for help2man's man page
    // help2man takes the first "Usage:" line as the man page's synopsis: the general one.
    const std::string usage = Usage();
    out << "Usage:" << usage.substr(usage.find(' '));
    for (const Command& c : Commands()) {
      out << "\n";
      c.run({"--help"}, out, err);
    }
    return kExitOk;
  }
  if (command == "__complete") {
    if (rest.empty()) return kExitUsage;
    size_t index = 0;
    try {
      index = std::stoul(rest[0]);
    } catch (...) {
      return kExitUsage;
    }
    return Complete(index, std::vector<std::string>(rest.begin() + 1, rest.end()), out);
  }
  return UnknownCommand(command, err);
}

// Completion needs the command names; the store-aware part lives in complete.cc.
std::vector<std::string> CommandNames() { return Names(); }

int RunCommandForFlags(const std::string& name, std::ostream& out) {
  const Command* c = Find(name);
  if (!c) return kExitUsage;
  std::ostream null(nullptr);
  return c->run({kListFlags}, out, null);
}

}  // namespace ckptdb::cli

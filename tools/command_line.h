// One subcommand's command line, parsed by CLI11: its positional arguments and flags, each with
// the help text `ckptdb CMD --help` prints, plus the flags most commands share (which checkpoint,
// --json, --quiet, --dry-run).
//
// What it adds to CLI11, so every command behaves alike:
// - a usage error is one line, "ckptdb: error: CMD: ..." with a did-you-mean for an unknown flag,
//   and exit 2 (cli.h); with --json on the line it is {"error": {...}} on stderr instead;
// - a switch given a value (--json=1) and a value flag given twice are errors, not overrides;
// - values arrive as text and are checked by values.h, so messages name the flag and the text.
// Thread safety: none needed (one per command invocation).
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "ckptdb/checkpoint.h"
#include "ckptdb/status.h"

namespace ckptdb::cli {

class CommandLine {
 public:
  // `command` is the subcommand's name ("rm"); `summary` the help's first paragraph.
  CommandLine(std::string command, std::string summary);

  // A positional argument; `name` is how help and errors call it (STORE, DIR). Counts are checked
  // by the command (Need), which words the error for what is missing.
  void Positional(const std::string& name, std::string* value, const std::string& help);
  // STORE as the only positional argument: Parse reports its absence ("give exactly one STORE").
  void StorePath(std::string* path, const std::string& help);
  // The remaining positional arguments (import's FILE...).
  void Positionals(const std::string& name, std::vector<std::string>* values, const std::string& help);
  // A switch (--json), a flag with one value (--step N) and a repeatable one (--tag NAME...).
  void Switch(const std::string& names, bool* value, const std::string& help);
  void Value(const std::string& names, std::string* value, const std::string& type, const std::string& help);
  void Values(const std::string& names, std::vector<std::string>* values, const std::string& type,
              const std::string& help);
  // The flags that pick one checkpoint (--step, --id, --latest, --head, --tag, --at, --best).
  void Selector();
  // The shared switches.
  void Json();
  void Quiet();
  void DryRun(const std::string& help);
  // Text after the flags in --help: examples, notes.
  void Footer(const std::string& text);

  // Parses `argv` (the subcommand's arguments). Returns nullopt when the command should run;
  // otherwise the exit code to return: 0 after printing help to `out`, 2 after reporting a usage
  // error on `err`.
  std::optional<int> Parse(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err);

  // After Parse: whether a flag was given, and (when Selector() was declared) the checkpoint the
  // selector flags pick. Parse reports it as a usage error unless exactly one was given with a
  // well-formed value, so which() is always set once Parse returned nullopt.
  bool Given(const std::string& name) const;
  const ckptdb::Selector& which() const { return *which_; }
  bool json() const { return json_; }
  bool quiet() const { return quiet_; }
  bool dry_run() const { return dry_run_; }
  // Whether long work shows a progress line on `err`: it is the process's stderr, a terminal,
  // and --quiet was not given. Nothing extra is printed to a pipe or a file.
  bool ShowProgress(const std::ostream& err) const;

  // Reports a usage error (exit 2) or a failure (exit `code`), as Parse does, and returns the code.
  int UsageError(std::ostream& err, const std::string& message) const;
  int Fail(std::ostream& err, const Status& status, int code = 1) const;

  // The help text, and every flag's long name, for the completion script.
  std::string Help() const;
  std::vector<std::string> FlagNames() const;

 private:
  std::string command_;
  CLI::App app_;
  bool json_ = false, quiet_ = false, dry_run_ = false;
  bool latest_ = false, head_ = false;
  std::string step_, id_, tag_, at_, best_;
  Result<ckptdb::Selector> ParseWhich() const;

  const std::string* store_path_ = nullptr;  // set by StorePath(): Parse requires it
  bool has_selector_ = false;
  std::optional<ckptdb::Selector> which_;
  std::vector<std::string> switch_names_;  // flags that take no value, as typed ("--json", "-q")
  bool json_on_line_ = false;  // --json appears in argv: errors are JSON even when parsing fails
};

// Prints `status` as the error of a command: "ckptdb: error: MESSAGE" as one line, or, with
// `json`, {"error": {"code": "NotFound", "message": "..."}} as one line. Returns `exit_code`.
int ReportError(std::ostream& err, const Status& status, int exit_code, bool json);

}  // namespace ckptdb::cli

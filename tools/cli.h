// The ckptdb command-line tool as functions that tests call directly.
//
// Exit codes: 0 success; 1 the command ran and failed (missing store, unknown step, damage found by
// verify, I/O error); 2 the command line is wrong (unknown command or flag, bad value, an export
// that would overwrite a file without --force).
// Every error is one line on `err`: "ckptdb: error: MESSAGE", or with --json on the command line
// {"error": {"code": "NotFound", "message": "MESSAGE"}}. Help goes to `out` with exit 0.
// Thread safety: none needed.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace ckptdb::cli {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

int Run(int argc, char** argv, std::ostream& out, std::ostream& err);
// The same with argv[1..] as a vector: {"log", "/path/store", "--json"}.
int Run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// One function per subcommand; `args` excludes the subcommand's own name.
int Import(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int Export(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int ImportHf(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int ExportHf(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int Log(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int Show(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int Verify(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int Diff(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int Du(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int Tag(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int Untag(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int Rm(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int Gc(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int Policy(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int Rollback(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// The bash completion script's helper (hidden command "__complete"): `words` are the command
// line's words after "ckptdb", `index` the one being completed (== words.size() for a new word).
// Prints one candidate per line: commands, the command's flags, and the tags, steps, ids and
// metric names of the store the line names (read-only, so it works beside a running save).
int Complete(size_t index, const std::vector<std::string>& words, std::ostream& out);

}  // namespace ckptdb::cli

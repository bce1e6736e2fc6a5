// The ckptdb command-line tool as functions that tests call directly.
//
// Exit codes: 0 success; 1 the command ran and failed (missing store, unknown step, damage found by
// verify, I/O error); 2 the command line is wrong (unknown command or flag, bad value).
// Every error is one line on `err` starting with "ckptdb: error: ". Thread safety: none needed.
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

}  // namespace ckptdb::cli

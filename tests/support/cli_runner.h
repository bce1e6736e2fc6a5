// Running ckptdb commands for the CLI suites -- in-process through cli::Run, or as the real executable --
// and the error contract every failing command must keep (header-only: GoogleTest macros).
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/test_support.h"
#include "tools/cli.h"
#include "tools/json.h"

extern char** environ;

namespace ckptdb::cli_tests {

struct CliRun {
  int code = -1;
  std::string out, err;
};

inline CliRun Cli(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  CliRun r;
  r.code = cli::Run(args, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

inline std::string Describe(const std::vector<std::string>& args) {
  std::string s = "ckptdb";
  for (const auto& a : args) s += " " + a;
  return s;
}

// Starts the real executable with `args`: stdin from /dev/null, stdout and stderr into the files
// named (or /dev/null). Returns its pid, or -1 after recording a test failure if it cannot start.
inline pid_t SpawnBinary(const std::vector<std::string>& args, const std::string& out_path = "/dev/null",
                         const std::string& err_path = "/dev/null") {
  std::vector<std::string> argv = {testing::CliPath()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargs;
  for (auto& a : argv) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0].c_str(), &fa, nullptr, cargs.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    ADD_FAILURE() << "cannot run " << argv[0] << ": " << std::strerror(rc);
    return -1;
  }
  return pid;
}

// The real executable: exit code and both streams.
inline CliRun Binary(const std::vector<std::string>& args, const std::string& scratch) {
  const std::string out_path = scratch + "/binary.out", err_path = scratch + "/binary.err";
  CliRun r;
  const pid_t pid = SpawnBinary(args, out_path, err_path);
  if (pid < 0) return r;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = testing::ReadFileOrDie(out_path);
  r.err = testing::ReadFileOrDie(err_path);
  return r;
}

// What a command must do on failure: exit `code`, nothing on stdout, and exactly one stderr line
// that contains every string in `names`: "ckptdb: error: ...", or, for a command line with --json,
// the JSON object {"error": {"code": "...", "message": "..."}} whose message names them.
inline void ExpectError(const CliRun& r, int code, const std::vector<std::string>& names) {
  EXPECT_EQ(r.code, code) << "stderr: " << r.err;
  EXPECT_EQ(r.out, "") << "a failing command printed to stdout";
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "stderr is not exactly one line: " << r.err;
  EXPECT_TRUE(!r.err.empty() && r.err.back() == '\n') << "stderr: " << r.err;
  std::string message = r.err;
  if (!r.err.empty() && r.err[0] == '{') {
    auto v = json::Parse(r.err);
    ASSERT_TRUE(v.ok()) << "stderr is not JSON: " << r.err;
    const json::Value* e = v->find("error");
    ASSERT_TRUE(e && e->find("code") && e->find("code")->is_string() && e->find("message") &&
                e->find("message")->is_string())
        << "not {\"error\": {\"code\", \"message\"}}: " << r.err;
    EXPECT_EQ(v->as_object().size(), 1u) << r.err;
    EXPECT_EQ(e->as_object().size(), 2u) << r.err;
    message = e->find("message")->as_string();
  } else {
    EXPECT_EQ(r.err.rfind("ckptdb: error: ", 0), 0u) << "stderr: " << r.err;
  }
  for (const auto& n : names) EXPECT_NE(message.find(n), std::string::npos) << "stderr does not name '" << n << "': " << r.err;
}

// The store as the user sees it: `ckptdb log --json`, or a marker when there is no directory.
inline std::string Snapshot(const std::string& store) {
  if (!std::filesystem::exists(store)) return "<no directory>";
  CliRun r = Cli({"log", store, "--json"});
  return std::to_string(r.code) + "\n" + r.out + r.err;
}

}  // namespace ckptdb::cli_tests

// The real ckptdb executable as a child process for the crash suite: run it, time an import, and
// SIGKILL an import after a delay or when an event is seen (header-only: GoogleTest macros).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/crash_sources.h"
#include "tests/support/test_support.h"

extern char** environ;

namespace ckptdb::crash_tests {

using Clock = std::chrono::steady_clock;

inline double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Starts `argv` with stdin from /dev/null and stdout/stderr to `out_path` (default /dev/null).
inline pid_t Spawn(const std::vector<std::string>& argv, const std::string& out_path = "/dev/null") {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0].c_str(), &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    ADD_FAILURE() << "posix_spawn " << argv[0] << ": " << std::strerror(rc);
    return -1;
  }
  return pid;
}

inline int WaitStatus(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) {
      ADD_FAILURE() << "waitpid: " << std::strerror(errno);
      return -1;
    }
  return status;
}

struct CliResult {
  int exit_code = -1;  // -1 when it did not exit normally
  std::string output;  // stdout and stderr together
};

inline CliResult RunCli(const std::vector<std::string>& args, const std::string& scratch) {
  std::vector<std::string> argv = {testing::CliPath()};
  argv.insert(argv.end(), args.begin(), args.end());
  const std::string out = scratch + "/cli-output.txt";
  pid_t pid = Spawn(argv, out);
  CliResult r;
  if (pid < 0) return r;
  int status = WaitStatus(pid);
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  r.output = testing::ReadFileOrDie(out);
  return r;
}

inline std::vector<std::string> ImportArgs(const std::string& store, int64_t step, const std::string& file,
                                    bool with_chunk_size) {
  std::vector<std::string> a = {"import", store, "--step", std::to_string(step)};
  if (with_chunk_size) {
    a.push_back("--chunk-size");
    a.push_back(std::to_string(kChunkSize));
  }
  a.push_back(file);
  return a;
}

// How a killed import ended.
struct KillResult {
  bool killed = false;      // SIGKILL arrived while it ran
  bool exited_ok = false;   // it had already finished (exit 0) when the signal came
  int raw_status = 0;
};

inline KillResult Classify(int status) {
  KillResult r;
  r.raw_status = status;
  r.killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  r.exited_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  return r;
}

// Runs an import of `file` into `store` and SIGKILLs it after `delay`.
inline KillResult ImportAndKillAfter(const std::vector<std::string>& import_args, Clock::duration delay) {
  std::vector<std::string> argv = {testing::CliPath()};
  argv.insert(argv.end(), import_args.begin(), import_args.end());
  const auto start = Clock::now();
  pid_t pid = Spawn(argv);
  if (pid < 0) return {};
  std::this_thread::sleep_until(start + delay);
  ::kill(pid, SIGKILL);  // harmless if it already exited: it is a zombie until waited for
  return Classify(WaitStatus(pid));
}

// Runs an import and SIGKILLs it as soon as `event()` turns true (polled in a tight loop), or lets
// it finish if it exits first. *fired says whether the event was seen.
inline KillResult ImportAndKillWhen(const std::vector<std::string>& import_args, const std::function<bool()>& event,
                             bool* fired) {
  std::vector<std::string> argv = {testing::CliPath()};
  argv.insert(argv.end(), import_args.begin(), import_args.end());
  pid_t pid = Spawn(argv);
  *fired = false;
  if (pid < 0) return {};
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < deadline) {
    if (event()) {
      ::kill(pid, SIGKILL);
      *fired = true;
      break;
    }
    int status = 0;
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) return Classify(status);
  }
  if (!*fired) ::kill(pid, SIGKILL);
  return Classify(WaitStatus(pid));
}

// The uninterrupted wall time of an import.
inline double TimeImport(const std::vector<std::string>& import_args, const std::string& scratch) {
  const auto start = Clock::now();
  CliResult r = RunCli(import_args, scratch);
  const double t = Seconds(Clock::now() - start);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return t;
}

}  // namespace ckptdb::crash_tests

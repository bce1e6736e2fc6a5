// Fixtures for the suites that read a store while it is written (by another thread, or another
// process): checkpoint contents derived from the step alone, so a writer and a reader that share
// nothing but the step agree on the exact bytes; child processes talking over pipes; and counting
// pack files (header-only: GoogleTest macros).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "tests/support/safetensors_bytes.h"
#include "tests/support/store_fixtures.h"
#include "tests/support/test_support.h"

namespace ckptdb::reader_tests {

using store_tests::kChunk;
using store_tests::Owned;

// The checkpoint saved at `step`: "embed" never changes (every checkpoint shares its chunks), "w"
// (3 chunks and a tail) and "b" (one chunk and a tail) change with each step, so rotation leaves
// whole and partly dead packs for collections to delete and rewrite.
inline std::vector<Owned> StepTensors(int64_t step) {
  return {store_tests::MakeBytes("embed", 2 * kChunk, 7),
          store_tests::MakeTensor("w", DType::kF32, {3 * int64_t(kChunk) / 4 + 5}, 1000 + uint64_t(step)),
          store_tests::MakeBytes("b", kChunk + 11, 500000 + uint64_t(step))};
}

// The same tensors as safetensors sources, to compare exported files with.
inline std::vector<cli_tests::Src> StepSources(int64_t step) {
  std::vector<cli_tests::Src> out;
  for (const Owned& t : StepTensors(step))
    out.push_back({t.name, t.dtype, t.shape, std::string(t.bytes.begin(), t.bytes.end())});
  return out;
}

// Pack files in STORE/packs.
inline size_t PackFiles(const std::string& store) {
  size_t n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(store + "/packs", ec))
    if (e.path().extension() == ".pack") ++n;
  return n;
}

// A forked child running `body` with one pipe each way. Fork before this process opens a store:
// only the calling thread exists in the child. The child's exit code is body's return value.
class Child {
 public:
  explicit Child(const std::function<int(Child&)>& body) {
    int down[2], up[2];
    if (pipe(down) != 0 || pipe(up) != 0) {
      ADD_FAILURE() << "pipe: " << std::strerror(errno);
      return;
    }
    pid_ = fork();
    if (pid_ == 0) {
      close(down[1]);
      close(up[0]);
      in_ = down[0];
      out_ = up[1];
      _exit(body(*this));
    }
    close(down[0]);
    close(up[1]);
    in_ = up[0];
    out_ = down[1];
  }
  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      Wait();
    }
    close(in_);
    close(out_);
  }
  // One line to the other side.
  void Send(const std::string& line) {
    std::string s = line + "\n";
    if (write(out_, s.data(), s.size()) != ssize_t(s.size())) ADD_FAILURE() << "write to pipe failed";
  }
  // The next line from the other side, without its newline; "<eof>" if the other side closed it.
  std::string Receive() {
    std::string line;
    char c;
    while (true) {
      ssize_t n = read(in_, &c, 1);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return "<eof>";
      if (c == '\n') return line;
      line += c;
    }
  }
  // Waits for the child and returns its wait status.
  int Wait() {
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1;
};

// Runs the real ckptdb with `args` under an open-file limit of `max_files` (RLIMIT_NOFILE, set in
// the child before exec); returns the exit code (128 + signal) and stdout + stderr in *output.
inline int RunCliWithFileLimit(const std::vector<std::string>& args, rlim_t max_files, const std::string& out_path,
                               std::string* output) {
  std::vector<std::string> argv = {testing::CliPath()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargs;
  for (auto& a : argv) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) _exit(120);
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
    rlimit lim{max_files, max_files};
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0) _exit(121);
    execv(cargs[0], cargs.data());
    _exit(122);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  *output = testing::ReadFileOrDie(out_path);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace ckptdb::reader_tests

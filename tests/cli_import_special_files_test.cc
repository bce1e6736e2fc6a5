// Specifies `ckptdb import` of paths that are not regular files: refused at once with one line
// naming the path and what it is, the store neither created nor changed. The FIFO case runs the
// real executable with a deadline, since the bug it guards against (an open that waits for a
// writer) would otherwise hang the suite.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "tests/support/cli_fixture.h"
#include "tests/support/cli_runner.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

namespace fs = std::filesystem;
using namespace cli_tests;

// The real executable, killed (and reported as code -2) if it runs longer than `limit`.
CliRun BinaryWithDeadline(const std::vector<std::string>& args, const std::string& scratch,
                          std::chrono::seconds limit) {
  const std::string out_path = scratch + "/deadline.out", err_path = scratch + "/deadline.err";
  CliRun r;
  const pid_t pid = SpawnBinary(args, out_path, err_path);
  if (pid < 0) return r;
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      r.code = -2;
      return r;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = testing::ReadFileOrDie(out_path);
  r.err = testing::ReadFileOrDie(err_path);
  return r;
}

TEST_F(CliTest, ImportOfAFifoFailsAtOnceNamingIt) {
  const std::string fifo = dir_.Join("pipe.safetensors");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  const std::string fresh = dir_.Join("fresh");
  CliRun r = BinaryWithDeadline({"import", fresh, "--step", "1", fifo}, dir_.path(), std::chrono::seconds(30));
  ASSERT_NE(r.code, -2) << "ckptdb import of a FIFO was still running after 30 s";
  ExpectError(r, 1, {fifo, "is a FIFO, not a regular file"});
  EXPECT_FALSE(fs::exists(fresh));
}

TEST_F(CliTest, ImportOfADirectoryOrADeviceFailsNamingIt) {
  const std::string store = StoreWithOneCheckpoint();
  const std::string before = Snapshot(store);
  const std::string good = WriteFile(dir_, "good.safetensors", Safetensors({Random("x", DType::kU8, {3}, 1)}));
  const std::string d = dir_.Join("weights.safetensors");
  fs::create_directory(d);
  ExpectError(Cli({"import", store, "--step", "2", good, d}), 1, {d, "is a directory, not a regular file"});
  ExpectError(Cli({"import", store, "--step", "2", "/dev/null"}), 1, {"/dev/null", "is a character device"});
  EXPECT_EQ(Snapshot(store), before);
}

// A file truncated while `ckptdb import` has it open: whenever the cut lands (before the open,
// during the read, during the save, after), the command ends with an exit code, never a signal
// (a mapped file dies of SIGBUS), and a failure names the file.
TEST_F(CliTest, ImportOfAFileTruncatedMeanwhileFailsNamingItOrSucceedsNeverDies) {
  const std::string store = dir_.Join("store");
  const std::string f = WriteFile(dir_, "big.safetensors", Safetensors({Random("w", DType::kU8, {64 << 20}, 1)}));
  for (int delay_ms : {0, 5, 20, 80}) {
    SCOPED_TRACE("truncated after " + std::to_string(delay_ms) + " ms");
    WriteFile(dir_, "big.safetensors", Safetensors({Random("w", DType::kU8, {64 << 20}, 1)}));
    std::thread cutter([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      fs::resize_file(f, 1 << 20);
    });
    CliRun r = BinaryWithDeadline({"import", store, "--step", "1", f}, dir_.path(), std::chrono::seconds(120));
    cutter.join();
    ASSERT_TRUE(r.code == 0 || r.code == 1) << "exit " << r.code << " (-1: a signal; -2: hung): " << r.err;
    if (r.code == 1) ExpectError(r, 1, {f});
  }
}

}  // namespace
}  // namespace ckptdb

// Helpers shared by the tests and the benchmarks: scratch directories, reference data, random bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace ckptdb::testing {

// The reference data folder: $CKPTDB_TESTDATA if set, else ../shared/testdata beside the checkout.
std::string TestDataDir();
// The ckptdb executable built beside the tests: $CKPTDB_CLI if set, else <build>/ckptdb.
std::string CliPath();

// A fresh empty directory, removed with everything in it when the object dies.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }
  // path() + "/" + name
  std::string Join(const std::string& name) const;

 private:
  std::string path_;
};

// `n` bytes from a fast deterministic generator seeded with `seed`.
std::vector<uint8_t> RandomBytes(uint64_t seed, size_t n);
void FillRandom(uint64_t seed, void* data, size_t n);

// Reads a whole file; aborts the test binary with a message if it cannot.
std::string ReadFileOrDie(const std::string& path);
void WriteFileOrDie(const std::string& path, const std::string& bytes);

// Runs argv[0] (a path) with its arguments as a child process, waits, and returns its exit code
// (128 + signal if it died of one, -1 if it could not start). stdout and stderr together go to
// *output when it is non-null.
int RunProcess(const std::vector<std::string>& argv, std::string* output = nullptr);

// Runs `body` in a forked child process and returns what it returned, followed by
// " [child failed, wait status N]" if the child died (a signal, an escaped exception) before
// handing it back. For tests that change process-wide state (resource limits, user ids) or that
// must survive the code under test terminating. Fork before opening stores: only the calling
// thread exists in the child, and a lock another thread held stays held there (once a store has
// been opened, use InFreshProcess, tests/support/fresh_process.h).
std::string InChild(const std::function<std::string()>& body);
// What child process `pid` writes to `fd` (read to its end, then closed), once it has exited, with
// " [child failed, wait status N]" appended unless it exited 0. InChild's and InFreshProcess's end.
std::string ChildResult(int pid, int fd);

// Whether CKPTDB_LONG_TESTS=1 asks the crash suites for their long runs (50+ trials each).
bool LongTests();

// The total size in bytes of the regular files under `dir` (what du -b would say).
uint64_t DirectoryBytes(const std::string& dir);
// The space the regular files under `dir` really occupy (st_blocks x 512, what du would say).
uint64_t AllocatedBytes(const std::string& dir);

}  // namespace ckptdb::testing

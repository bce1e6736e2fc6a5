#include "tests/support/test_support.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/filesystem.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace fs = boost::filesystem;

namespace ckptdb::testing {

std::string TestDataDir() {
  if (const char* env = std::getenv("CKPTDB_TESTDATA"); env && *env) return env;
  return CKPTDB_TESTDATA_DIR;
}

std::string CliPath() {
  if (const char* env = std::getenv("CKPTDB_CLI"); env && *env) return env;
  return std::string(CKPTDB_BINARY_DIR) + "/ckptdb";
}

ScratchDir::ScratchDir() {
  const char* base = std::getenv("CKPTDB_SCRATCH");
  fs::path root = base && *base ? fs::path(base) : fs::temp_directory_path();
  fs::create_directories(root);
  path_ = (root / fs::unique_path("ckptdb-test-%%%%-%%%%-%%%%")).string();
  fs::create_directories(path_);
}

ScratchDir::~ScratchDir() {
  boost::system::error_code ec;
  fs::remove_all(path_, ec);
}

std::string ScratchDir::Join(const std::string& name) const { return path_ + "/" + name; }

void FillRandom(uint64_t seed, void* data, size_t n) {
  // splitmix64: fast, deterministic, and good enough that no two chunks collide by accident.
  // Mix the seed first: splitmix64 streams from adjacent raw seeds are shifted copies of each other,
  // which would make "different" random tensors share chunks and inflate dedup in tests.
  uint64_t x = seed ^ 0x5DEECE66Dull;
  x = (x ^ (x >> 33)) * 0xFF51AFD7ED558CCDull;
  x = (x ^ (x >> 33)) * 0xC4CEB9FE1A85EC53ull;
  x ^= x >> 33;
  auto next = [&x] {
    uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  auto* p = static_cast<uint8_t*>(data);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v = next();
    std::memcpy(p + i, &v, 8);
  }
  if (i < n) {
    uint64_t v = next();
    std::memcpy(p + i, &v, n - i);
  }
}

std::vector<uint8_t> RandomBytes(uint64_t seed, size_t n) {
  std::vector<uint8_t> v(n);
  FillRandom(seed, v.data(), n);
  return v;
}

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    std::abort();
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFileOrDie(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    std::abort();
  }
}

std::string InChild(const std::function<std::string()>& body) {
  int fds[2];
  if (::pipe(fds) != 0) return std::string("cannot make a pipe: ") + std::strerror(errno);
  std::fflush(nullptr);  // so buffered output is not written twice
  const pid_t pid = ::fork();
  if (pid < 0) return std::string("cannot fork: ") + std::strerror(errno);
  if (pid == 0) {
    ::close(fds[0]);
    std::string out;
    try {  // an exception must not unwind into the test runner, which would go on in the child
      out = body();
    } catch (const std::exception& e) {
      out = std::string("exception escaped: ") + e.what();
    } catch (...) {
      out = "exception escaped";
    }
    size_t done = 0;
    for (ssize_t n; done < out.size() && (n = ::write(fds[1], out.data() + done, out.size() - done)) > 0;)
      done += size_t(n);
    ::_exit(done == out.size() ? 0 : 1);  // no atexit handlers, no gtest teardown in the child
  }
  ::close(fds[1]);
  return ChildResult(pid, fds[0]);
}

std::string ChildResult(int pid, int fd) {
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, size_t(n));
  ::close(fd);
  int wstatus = 0;
  ::waitpid(pid, &wstatus, 0);
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0)
    out += " [child failed, wait status " + std::to_string(wstatus) + "]";
  return out;
}

int RunProcess(const std::vector<std::string>& argv, std::string* output) {
  const fs::path capture = fs::temp_directory_path() / fs::unique_path("ckptdb-run-%%%%-%%%%.out");
  posix_spawn_file_actions_t io;
  posix_spawn_file_actions_init(&io);
  posix_spawn_file_actions_addopen(&io, STDOUT_FILENO, capture.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&io, STDOUT_FILENO, STDERR_FILENO);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  const int spawned = posix_spawn(&pid, args[0], &io, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&io);
  int code = -1;
  if (spawned == 0) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  if (output) *output = fs::exists(capture) ? ReadFileOrDie(capture.string()) : "";
  boost::system::error_code ec;
  fs::remove(capture, ec);
  return code;
}

uint64_t AllocatedBytes(const std::string& dir) {
  uint64_t total = 0;
  for (fs::recursive_directory_iterator it(dir), end; it != end; ++it) {
    struct stat st;
    if (fs::is_regular_file(it->status()) && ::stat(it->path().c_str(), &st) == 0)
      total += static_cast<uint64_t>(st.st_blocks) * 512;
  }
  return total;
}

uint64_t DirectoryBytes(const std::string& dir) {
  uint64_t total = 0;
  for (fs::recursive_directory_iterator it(dir), end; it != end; ++it)
    if (fs::is_regular_file(it->status())) total += fs::file_size(it->path());
  return total;
}

bool LongTests() {
  const char* v = std::getenv("CKPTDB_LONG_TESTS");
  return v && std::string(v) == "1";
}

}  // namespace ckptdb::testing

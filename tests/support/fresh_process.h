// Running part of a test in a process of its own that inherits no threads (header-only: it needs
// GoogleTest, which the benchmarks sharing test_support do not link).
//
// testing::InChild forks, and a fork keeps only the calling thread: a mutex that another thread
// (a store's workers, RocksDB's background flushes) held at that moment stays locked forever in
// the child. So once the test's process has opened a store, a child that uses RocksDB must be a
// fresh program instead: InFreshProcess runs this test program again (fork, then exec of
// /proc/self/exe) with only the current test selected and CKPTDB_FRESH_CHILD_FD set. That process
// runs the test from its start up to the InFreshProcess call, runs `body` there, sends its result
// back through the descriptor, and goes on to the end of the test, cleaning up as usual. So what
// comes before the call runs in both processes and must be repeatable (a fixture's fresh scratch
// store is); what comes after sees the same string in both.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <string>

#include "tests/support/test_support.h"

namespace ckptdb::testing {

// `body`'s result as the fresh process computed it, with " [child failed, wait status N]" appended
// when that process did not exit 0 (a signal killed it, or the test failed in it too).
inline std::string InFreshProcess(const std::function<std::string()>& body) {
  if (const char* fd = std::getenv("CKPTDB_FRESH_CHILD_FD")) {  // this is the fresh process
    const std::string out = body();
    const int to = std::atoi(fd);
    size_t done = 0;
    for (ssize_t n; done < out.size() && (n = ::write(to, out.data() + done, out.size() - done)) > 0;)
      done += size_t(n);
    ::close(to);
    return out;
  }
  const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string filter = std::string("--gtest_filter=") + test->test_suite_name() + "." + test->name();
  int fds[2];
  if (::pipe(fds) != 0) return "cannot make a pipe";
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return "cannot fork";
  if (pid == 0) {
    ::close(fds[0]);
    ::setenv("CKPTDB_FRESH_CHILD_FD", std::to_string(fds[1]).c_str(), 1);
    const int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) ::dup2(null, 1);  // its test runner's report would repeat this one's
    ::execl("/proc/self/exe", "fresh-child", filter.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[1]);
  return ChildResult(pid, fds[0]);
}

}  // namespace ckptdb::testing

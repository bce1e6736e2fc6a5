// Specifies MapHostMemory (store/host_memory.h): zero-filled, page-aligned memory whose every page
// is present before it is returned, and nullptr (never a crash) when the memory cannot be had.
#include "store/host_memory.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

namespace ckptdb {
namespace {

constexpr uint64_t kPage = 4096;

// Pages of [p, p + bytes) that mincore reports resident.
uint64_t ResidentPages(const uint8_t* p, uint64_t bytes) {
  const uint64_t pages = (bytes + kPage - 1) / kPage;
  std::vector<unsigned char> in(pages);
  if (::mincore(const_cast<uint8_t*>(p), bytes, in.data()) != 0) return 0;
  uint64_t n = 0;
  for (unsigned char c : in) n += c & 1;
  return n;
}

// The process's address space in use, from /proc/self/status (VmSize, in KiB).
uint64_t VirtualBytes() {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("VmSize:", 0) == 0) return std::stoull(line.substr(7)) << 10;
  return 0;
}

TEST(HostMemory, EveryPageIsPresentAndZeroBeforeItIsReturned) {
  for (uint64_t n : {uint64_t{1}, kPage, kPage + 1, (uint64_t{3} << 20) + 5, uint64_t{64} << 20}) {
    SCOPED_TRACE("size " + std::to_string(n));
    uint8_t* p = MapHostMemory(n);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % kPage, 0u);
    // Checked before anything touches the memory: only the allocation can have faulted it in.
    EXPECT_EQ(ResidentPages(p, n), (n + kPage - 1) / kPage);
    uint64_t nonzero = 0;
    for (uint64_t i = 0; i < n; ++i) nonzero += p[i] != 0;
    EXPECT_EQ(nonzero, 0u);
    p[n - 1] = 0x5A;  // writable to the last byte
    UnmapHostMemory(p, n);
  }
}

TEST(HostMemory, AnImpossibleSizeIsNullNotAWrappedSmallMapping) {
  for (uint64_t n : {std::numeric_limits<uint64_t>::max(), std::numeric_limits<uint64_t>::max() - kPage,
                     uint64_t{1} << 62})
    EXPECT_EQ(MapHostMemory(n), nullptr) << "size " << n;
  UnmapHostMemory(nullptr, 1);  // ignored
}

TEST(HostMemory, MemoryBeyondTheProcessLimitIsNullNotACrash) {
  // In a child, so that the address-space limit cannot starve the test runner.
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const uint64_t limit = VirtualBytes() + (uint64_t{256} << 20);
    rlimit lim{limit, limit};
    if (::setrlimit(RLIMIT_AS, &lim) != 0) ::_exit(3);
    uint8_t* small = MapHostMemory(uint64_t{1} << 20);
    uint8_t* big = MapHostMemory(uint64_t{1} << 30);
    ::_exit(small != nullptr && big == nullptr ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "the child died of signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: a 1 GiB request with 256 MiB of address space left was not refused";
}

}  // namespace
}  // namespace ckptdb

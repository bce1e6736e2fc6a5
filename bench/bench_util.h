// Helpers shared by the plain benchmark programs (bench/*_main.cc): the clock, a parallel loop,
// the O_DIRECT baselines every store figure is compared with, and what /proc says about the machine
// and this process. Header-only so each program stays a single translation unit. Errors are
// returned (negative time plus a message) so each program reports them with its own exit path.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace ckptdb::bench {

constexpr uint64_t kMiB = 1ull << 20, kAlign = 4096, kIoPiece = 16 * kMiB;

inline double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// splitmix64 finaliser: spreads seeds so generator streams never overlap.
inline uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Runs fn(0..n-1) on `threads` std::threads that take indices from an atomic counter.
inline void ParallelFor(int threads, size_t n, const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] { for (size_t i; (i = next.fetch_add(1)) < n;) fn(i); });
  for (auto& th : pool) th.join();
}

// Bytes this process (all threads) caused to be sent to storage.
inline uint64_t IoWriteBytes() {
  std::ifstream f("/proc/self/io");
  std::string k;
  uint64_t v;
  while (f >> k >> v)
    if (k == "write_bytes:") return v;
  return 0;
}

// sync + drop the page cache; says once when it cannot (not root), since reads may then be cached.
inline void DropCaches() {
  static bool warned = false;
  ::sync();
  int fd = ::open("/proc/sys/vm/drop_caches", O_WRONLY);
  bool ok = fd >= 0 && ::write(fd, "3", 1) == 1;
  if (fd >= 0) ::close(fd);
  if (!ok && !warned) {
    std::printf("NOTE: cannot write /proc/sys/vm/drop_caches (not root?): buffered reads may be cached\n");
    warned = true;
  }
}

inline std::string CpuModel() {
  std::ifstream f("/proc/cpuinfo");
  for (std::string l; std::getline(f, l);)
    if (l.rfind("model name", 0) == 0) return l.substr(l.find(':') + 2);
  return "unknown";
}

// "ext4 (/dev/vda on /)": the mount holding `path` (the longest mount point that prefixes its
// real path), so a reader sees at once whether figures come from a disk or from tmpfs.
inline std::string FilesystemOf(const std::string& path) {
  char* real = ::realpath(path.c_str(), nullptr);
  const std::string p = real ? real : path;
  std::free(real);
  std::ifstream f("/proc/mounts");
  std::string best, line;
  size_t best_len = 0;
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string dev, mnt, type;
    in >> dev >> mnt >> type;
    const bool under = p == mnt || mnt == "/" || p.rfind(mnt + "/", 0) == 0;
    if (under && mnt.size() >= best_len) best_len = mnt.size(), best = type + " (" + dev + " on " + mnt + ")";
  }
  return best.empty() ? "unknown" : best;
}

// Writes `n` bytes to `path` (created or truncated) in 16 MiB writes taken cyclically from `src`,
// then fsync. With `direct`, src and src_bytes must be 4 KiB aligned and n a multiple of 4 KiB.
// Returns seconds from open to fsync done, or -1 with *error set.
inline double TimedWrite(const std::string& path, const uint8_t* src, uint64_t src_bytes, uint64_t n,
                         bool direct, std::string* error) {
  const double t0 = Now();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | (direct ? O_DIRECT : 0), 0644);
  auto fail = [&](const std::string& what) {
    *error = what + " " + path + (direct ? " (O_DIRECT)" : "") + ": " + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return -1.0;
  };
  if (fd < 0) return fail("open");
  for (uint64_t off = 0; off < n;) {
    const uint64_t at = off % src_bytes, len = std::min({kIoPiece, n - off, src_bytes - at});
    ssize_t w = ::pwrite(fd, src + at, len, static_cast<off_t>(off));
    if (w <= 0) return fail("write");
    off += static_cast<uint64_t>(w);
  }
  if (::fsync(fd) != 0) return fail("fsync");
  const double t = Now() - t0;
  ::close(fd);
  return t;
}

// Reads `path` whole with O_DIRECT in 16 MiB reads, each into the start of `buf` (4 KiB aligned,
// at least min(16 MiB, file size) bytes): the disk's read ceiling without memory effects.
// Returns seconds, or -1 with *error set (also when the file does not hold `expect` bytes).
inline double TimedRead(const std::string& path, uint8_t* buf, uint64_t expect, std::string* error) {
  const double t0 = Now();
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECT);
  auto fail = [&](const std::string& what) {
    *error = what + " " + path + " (O_DIRECT): " + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return -1.0;
  };
  if (fd < 0) return fail("open");
  uint64_t total = 0;
  for (ssize_t n; (n = ::read(fd, buf, kIoPiece)) != 0; total += static_cast<uint64_t>(n))
    if (n < 0) return fail("read");
  const double t = Now() - t0;
  ::close(fd);
  if (total != expect) return *error = "read " + std::to_string(total) + " bytes of " + path, -1.0;
  return t;
}

// One line of a benchmark's verdict: "LABEL  FIGURES   TARGET  PASS|FAIL", the label padded to
// `width` so a program's lines align.
template <typename... T>
void Target(int width, const char* label, const char* target, bool pass, const char* fmt, T... args) {
  char d[400];
  std::snprintf(d, sizeof d, fmt, args...);
  std::printf("%-*s %s   %s  %s\n", width, label, d, target, pass ? "PASS" : "FAIL");
}

}  // namespace ckptdb::bench

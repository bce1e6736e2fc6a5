// Specifies that exporting streams: `ckptdb export` of a 256 MiB checkpoint peaks at no more than
// 128 MiB above what the same process needs to open the store and read the manifest (`ckptdb
// show`), where holding the checkpoint whole would take 256 MiB more. Measured on the real
// executable as a child process: its peak resident set from wait4.
#include <sys/resource.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "ckptdb/ckptdb.h"
#include "tests/support/cli_runner.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

using testing::ScratchDir;

// Runs the ckptdb executable with `args` and returns its exit status and peak resident set in KiB.
std::pair<int, long> RunMeasured(const std::vector<std::string>& args) {
  const pid_t pid = cli_tests::SpawnBinary(args);
  if (pid < 0) return {-1, 0};
  int status = 0;
  struct rusage ru {};
  while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
  }
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), ru.ru_maxrss};
}

constexpr uint64_t kMiB = 1 << 20;

// The checkpoint: one tensor larger than the 64 MiB window (read in pieces) and many small ones,
// 256 MiB in all, each tensor's bytes RandomBytes(seed of that tensor).
struct Spec {
  std::string name;
  DType dtype;
  uint64_t bytes;
  uint64_t seed;
};
std::vector<Spec> Specs() {
  std::vector<Spec> v = {{"big", DType::kU8, 160 * kMiB, 1}};
  for (uint64_t i = 0; i < 96; ++i) {
    v.push_back({"small." + std::to_string(i), DType::kF32, kMiB / 4, 2 + i});
    v.push_back({"mid." + std::to_string(i), DType::kU8, 3 * kMiB / 4, 200 + i});
  }
  return v;
}

TEST(SafetensorsExportMemory, PeakMemoryIsBoundedByTheWindowNotTheCheckpoint) {
  ScratchDir dir;
  const std::string store = dir.Join("store");
  // Saved from a child process: a child's peak RSS starts at its parent's (the exec inherits the
  // high-water mark of the memory it was spawned from), so this process must stay small.
  const std::string saved = testing::InChild([&]() -> std::string {
    std::vector<std::vector<uint8_t>> bytes;
    std::vector<TensorRef> refs;
    for (const Spec& t : Specs()) {
      bytes.push_back(testing::RandomBytes(t.seed, t.bytes));
      refs.push_back({t.name, t.dtype, {int64_t(t.bytes / DTypeSize(t.dtype))}, bytes.back().data(), t.bytes});
    }
    auto s = Store::Open(store);
    if (!s.ok()) return s.status().ToString();
    auto c = (*s)->Save(refs, {});
    if (!c.ok()) return c.status().ToString();
    return c->logical_bytes == 256 * kMiB ? "" : "saved " + std::to_string(c->logical_bytes) + " bytes";
  });
  ASSERT_EQ(saved, "");

  const auto [show_rc, base_kib] = RunMeasured({"show", store, "--latest"});
  ASSERT_EQ(show_rc, 0);
  const std::string out = dir.Join("out.safetensors");
  const auto [export_rc, export_kib] = RunMeasured({"export", store, "--latest", "-o", out});
  ASSERT_EQ(export_rc, 0);
  std::printf("peak RSS: show %ld KiB, export of 256 MiB %ld KiB (+%ld KiB)\n", base_kib, export_kib,
              export_kib - base_kib);
  RecordProperty("export_peak_rss_over_show_kib", std::to_string(export_kib - base_kib));
  EXPECT_LT(export_kib, base_kib + 128 * 1024) << "export held more than the window";

  // And the file is the checkpoint, byte for byte, in saved order.
  const std::string file = testing::ReadFileOrDie(out);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(file[i]);
  ASSERT_EQ(file.size(), 8 + n + 256 * kMiB);
  uint64_t at = 8 + n;
  for (const Spec& t : Specs()) {
    ASSERT_EQ(std::memcmp(file.data() + at, testing::RandomBytes(t.seed, t.bytes).data(), t.bytes), 0) << t.name;
    at += t.bytes;
  }
}

}  // namespace
}  // namespace ckptdb

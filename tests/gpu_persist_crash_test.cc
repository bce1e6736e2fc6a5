// Crash safety of asynchronous saves from device memory (gpu/device_saver.h): a writer process
// saves a GPU-resident state with DeviceSaver::SaveAsync in a loop, overwriting the device tensors
// as soon as each call returns, and is SIGKILLed at a random moment, mostly during a background
// persist. Afterwards every committed checkpoint verifies and restores exactly the state of its
// step. Trials alternate the two captures (snapshot, hashed copy).
//
// The writer is this test binary run again (fork, then exec with CKPTDB_GPU_WRITER set): CUDA does
// not survive a fork of a process that has used it, and the parent has (to know there is a GPU).
// The parent's checks run in forked children that use no CUDA. Without a GPU the test skips.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ckptdb/ckptdb.h"
#include "gpu/device_buffer.h"
#include "gpu/device_hasher.h"
#include "gpu/device_saver.h"
#include "tests/support/store_fixtures.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

using namespace store_tests;

// The state of `step`: a tensor that never changes, one whose every chunk changes, one half of
// whose chunks change.
std::vector<Owned> Content(int64_t step) {
  static const std::vector<Owned> base = {MakeBytes("frozen", 16 * kChunk, 1), MakeBytes("w", 24 * kChunk + 3, 2),
                                          MakeBytes("m", 8 * kChunk, 3)};
  std::vector<Owned> ts = base;
  const auto stamp = [&](Owned& t, uint64_t offset) { std::memcpy(&t.bytes[offset], &step, sizeof step); };
  for (uint64_t off = 0; off < ts[1].bytes.size(); off += kChunk) stamp(ts[1], off);
  for (uint64_t i = 1; i < 8; i += 2) stamp(ts[2], i * kChunk);
  return ts;
}

StoreOptions WriterOptions() { return SmallChunks(2); }

// The writer (run as its own process): saves steps from the head's onwards until killed, writing
// each step to fd `ready` as it submits it. Exits non-zero on error.
[[noreturn]] void RunWriter(const std::string& path, int ready, bool snapshot) {
  auto opened = Store::Open(path, WriterOptions());
  if (!opened.ok()) ::_exit(3);
  Store& store = **opened;
  int64_t step = 1;
  if (auto head = store.Head(); head.ok() && head->has_value()) step = store.Describe(Selector::Id(**head))->info.step + 1;
  gpu::DeviceSaverOptions o;
  o.capture = snapshot ? gpu::DeviceSaverOptions::Capture::kSnapshot : gpu::DeviceSaverOptions::Capture::kHashedCopy;
  gpu::DeviceSaver saver(store, o);
  const std::vector<Owned> shape = Content(0);
  uint64_t total = 0;
  for (const Owned& t : shape) total += t.bytes.size();
  gpu::DeviceBuffer device(total);
  if (!device.ok()) ::_exit(4);
  const std::vector<uint8_t> junk(total, 0xEE);
  SaveHandle previous;
  for (int n = 0; n < 400; ++n, ++step) {
    std::vector<Owned> ts = Content(step);
    std::vector<TensorRef> refs;
    uint64_t at = 0;
    for (const Owned& t : ts) {
      if (!device.CopyIn(at, t.bytes.data(), t.bytes.size()).ok()) ::_exit(5);
      TensorRef r = t.ref();
      r.data = static_cast<uint8_t*>(device.data()) + at;
      r.cuda_device = 0;
      refs.push_back(r);
      at += t.bytes.size();
    }
    if (::write(ready, &step, sizeof step) != sizeof step) ::_exit(7);  // submitted
    auto h = saver.SaveAsync(refs, AtStep(step));
    if (!h.ok()) {
      std::fprintf(stderr, "SaveAsync of step %lld: %s\n", (long long)step, h.status().ToString().c_str());
      ::_exit(6);
    }
    if (!device.CopyIn(0, junk.data(), total).ok()) ::_exit(8);  // the capture is done
    (void)previous.Wait();
    previous = *h;
  }
  ::_exit(0);
}

// In a forked child (no CUDA): verifies the store and every checkpoint's bytes. "ok HEADSTEP".
std::string Check(const std::string& path) {
  return testing::InChild([&]() -> std::string {
    auto opened = Store::Open(path, WriterOptions());
    if (!opened.ok()) return "open: " + opened.status().ToString();
    Store& store = **opened;
    if (std::string bad = CheckEveryCheckpoint(store, Content); !bad.empty()) return bad;
    int64_t head_step = 0;
    for (const CheckpointInfo& c : store.List().value()) head_step = std::max(head_step, c.step);
    return "ok " + std::to_string(head_step);
  });
}

TEST(GpuPersistCrash, AKillDuringABackgroundPersistFromTheDeviceLeavesEveryCommittedCheckpointExact) {
  if (const char* writer = std::getenv("CKPTDB_GPU_WRITER")) {  // this process is the writer
    const char* mode = std::getenv("CKPTDB_GPU_WRITER_MODE");
    RunWriter(writer, std::atoi(std::getenv("CKPTDB_GPU_WRITER_FD")), mode && std::string(mode) == "snapshot");
  }
  std::string why;
  if (!gpu::DeviceAvailable(&why)) GTEST_SKIP() << "no GPU here: " << why;
  const int trials = testing::LongTests() ? 40 : 10;
  std::mt19937_64 rng(20261202);
  testing::ScratchDir dir;
  const std::string path = dir.Join("store");
  int64_t last_head = 0;
  int pending = 0;
  for (int trial = 0; trial < trials; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    const auto delay = std::chrono::microseconds(std::uniform_int_distribution<int>(50'000, 400'000)(rng));
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      ::setenv("CKPTDB_GPU_WRITER", path.c_str(), 1);
      ::setenv("CKPTDB_GPU_WRITER_FD", std::to_string(fds[1]).c_str(), 1);
      ::setenv("CKPTDB_GPU_WRITER_MODE", trial % 2 ? "hashed" : "snapshot", 1);
      ::execl("/proc/self/exe", "gpu_persist_crash_test",
              "--gtest_filter=GpuPersistCrash.AKillDuringABackgroundPersistFromTheDeviceLeavesEveryCommittedCheckpointExact",
              static_cast<char*>(nullptr));
      ::_exit(9);
    }
    ::close(fds[1]);
    int64_t first = 0;
    const bool started = ::read(fds[0], &first, sizeof first) == sizeof first;  // its first submission
    if (started) std::this_thread::sleep_for(delay);
    ::kill(pid, SIGKILL);
    int wstatus = 0;
    ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
    int64_t submitted = first;
    for (int64_t s; ::read(fds[0], &s, sizeof s) == sizeof s;) submitted = s;
    ::close(fds[0]);
    ASSERT_TRUE(started) << "the writer did not start (wait status " << wstatus << ")";
    ASSERT_TRUE(WIFSIGNALED(wstatus)) << "the writer ended on its own, status " << wstatus;
    const std::string report = Check(path);
    ASSERT_EQ(report.rfind("ok ", 0), 0u) << report;
    const int64_t head = std::stoll(report.substr(3));
    ASSERT_GE(head, last_head) << report;
    pending += submitted > head;
    last_head = head;
  }
  std::printf("%d of %d kills landed with a submitted save not yet committed; head at step %lld\n", pending, trials,
              (long long)last_head);
  EXPECT_GT(last_head, 0);
}

}  // namespace
}  // namespace ckptdb

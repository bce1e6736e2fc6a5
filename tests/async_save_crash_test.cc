// Specifies crash safety of asynchronous saves: a child process that saves with Store::SaveAsync
// in a loop (overwriting its tensors as soon as each call returns, reusing known chunks, captured
// in pieces, with retention and background collection) is SIGKILLed at a random moment, almost
// always in the middle of a background persist. Afterwards every committed checkpoint verifies and
// restores exactly the state of its step, and the next child continues from the head.
//
// Real child processes, a real store on the real file system. The parent never opens the store
// itself (its checks run in forked children too), so no RocksDB thread of its own is alive when
// it forks.
//
// Environment: CKPTDB_LONG_TESTS=1 runs 100 trials instead of 20; CKPTDB_CRASH_SEED=N seeds the
// kill delays (always printed).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ckptdb/ckptdb.h"
#include "tests/support/store_fixtures.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

using namespace store_tests;
using testing::ScratchDir;

StoreOptions ChildOptions() {
  StoreOptions o = SmallChunks(2);
  o.staging_bytes = 16 * kChunk;  // the 33 changing chunks are captured in three pieces
  return o;
}

// The state a save of `step` records: a frozen tensor (saved with known chunks after the first
// save), one whose every chunk changes, one half of whose chunks change, and an inline one. Built
// from random bases generated once, each changing chunk stamped with the step, so that making a
// state costs far less than persisting it and the writer spends its time in persists.
std::vector<Owned> Content(int64_t step) {
  static const std::vector<Owned> base = {MakeBytes("frozen", 16 * kChunk, 1), MakeBytes("w", 24 * kChunk + 3, 2),
                                          MakeBytes("m", 8 * kChunk, 3), MakeBytes("b", 100, 4)};
  std::vector<Owned> ts = base;
  const auto stamp = [&](Owned& t, uint64_t offset) { std::memcpy(&t.bytes[offset], &step, sizeof step); };
  for (uint64_t off = 0; off < ts[1].bytes.size(); off += kChunk) stamp(ts[1], off);
  for (uint64_t i = 1; i < 8; i += 2) stamp(ts[2], i * kChunk);
  stamp(ts[3], 0);
  return ts;
}

// The writer: saves steps from the head's onwards until killed, writing one byte to `ready_fd`
// once the store is open and then each step as it submits it. Exits non-zero on error.
[[noreturn]] void RunWriter(const std::string& path, int ready_fd) {
  auto opened = Store::Open(path, ChildOptions());
  if (!opened.ok()) ::_exit(3);
  Store& store = **opened;
  int64_t step = 1;
  if (auto head = store.Head(); head.ok() && head->has_value()) {
    auto m = store.Describe(Selector::Id(**head));
    if (!m.ok()) ::_exit(4);
    step = m->info.step + 1;
  }
  if (::write(ready_fd, "r", 1) != 1) ::_exit(5);
  SaveHandle previous;
  std::vector<Digest> frozen;
  for (int n = 0; n < 400; ++n, ++step) {
    std::vector<Owned> ts = Content(step);
    std::vector<TensorRef> refs = Refs(ts);
    if (!frozen.empty()) {
      refs[0].known_chunks = frozen;
      refs[0].data = nullptr;
    }
    if (::write(ready_fd, &step, sizeof step) != sizeof step) ::_exit(7);  // submitted
    auto h = store.SaveAsync(refs, AtStep(step));
    if (!h.ok()) {
      std::fprintf(stderr, "SaveAsync of step %lld: %s\n", (long long)step, h.status().ToString().c_str());
      ::_exit(6);
    }
    for (Owned& t : ts) std::fill(t.bytes.begin(), t.bytes.end(), 0xEE);  // the capture is done
    if (auto r = previous.Wait(); r.ok()) frozen = r->chunks[0];
    previous = *h;
  }
  ::_exit(0);
}

// In a forked child: verifies the store and every checkpoint's bytes. "ok N HEADSTEP" or what failed.
std::string Check(const std::string& path) {
  return testing::InChild([&]() -> std::string {
    auto opened = Store::Open(path, ChildOptions());
    if (!opened.ok()) return "open: " + opened.status().ToString();
    Store& store = **opened;
    if (std::string bad = CheckEveryCheckpoint(store, Content); !bad.empty()) return bad;
    auto all = store.List();
    if (!all.ok()) return "list: " + all.status().ToString();
    auto head = store.Head();
    if (!head.ok()) return "head: " + head.status().ToString();
    int64_t head_step = 0;
    for (const CheckpointInfo& c : *all)
      if (head->has_value() && c.id == **head) head_step = c.step;
    if (all->size() > 4) return "retention kept " + std::to_string(all->size()) + " checkpoints, not 4";
    return "ok " + std::to_string(all->size()) + " " + std::to_string(head_step);
  });
}

TEST(AsyncSaveCrash, AKillDuringABackgroundPersistLeavesEveryCommittedCheckpointExact) {
  const char* seed_env = std::getenv("CKPTDB_CRASH_SEED");
  const uint64_t seed = seed_env && *seed_env ? std::strtoull(seed_env, nullptr, 10) : 20261202;
  const int trials = testing::LongTests() ? 100 : 20;
  std::printf("CKPTDB_CRASH_SEED=%llu, %d trials\n", (unsigned long long)seed, trials);
  std::mt19937_64 rng(seed);
  ScratchDir dir;
  const std::string path = dir.Join("store");
  ASSERT_EQ(testing::InChild([&]() -> std::string {
              auto s = Store::Open(path, ChildOptions());
              if (!s.ok()) return s.status().ToString();
              RetentionPolicy p;
              p.max_to_keep = 4;
              return (*s)->SetRetention(p).ToString();
            }),
            "OK");
  int64_t last_head = 0;
  int progressed = 0, pending = 0;
  for (int trial = 0; trial < trials; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    const auto delay = std::chrono::microseconds(std::uniform_int_distribution<int>(0, 300'000)(rng));
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      RunWriter(path, fds[1]);
    }
    ::close(fds[1]);
    char ready = 0;
    const bool opened = ::read(fds[0], &ready, 1) == 1;
    if (opened) std::this_thread::sleep_for(delay);
    ::kill(pid, SIGKILL);
    int wstatus = 0;
    ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
    int64_t submitted = 0;  // the last step the writer submitted before the kill
    for (int64_t s; ::read(fds[0], &s, sizeof s) == sizeof s;) submitted = s;
    ::close(fds[0]);
    ASSERT_TRUE(opened) << "the writer could not open the store (wait status " << wstatus << ")";
    ASSERT_TRUE(WIFSIGNALED(wstatus)) << "the writer ended on its own, status " << wstatus;
    const std::string report = Check(path);
    ASSERT_EQ(report.rfind("ok ", 0), 0u) << report;
    const int64_t head = std::stoll(report.substr(report.rfind(' ') + 1));
    ASSERT_GE(head, last_head) << report;
    progressed += head > last_head;
    pending += submitted > head;  // killed between a submission and its commit
    last_head = head;
  }
  std::printf("%d of %d trials committed a save before the kill, %d were killed with a submitted save not yet "
              "committed; head at step %lld\n", progressed, trials, pending, (long long)last_head);
  EXPECT_GT(progressed, 0);
  EXPECT_GE(pending, trials / 2) << "too few kills landed in a background persist to show anything";
}

}  // namespace
}  // namespace ckptdb

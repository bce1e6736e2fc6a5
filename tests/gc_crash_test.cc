// Garbage collection under SIGKILL: a real `ckptdb gc` child killed at random points never loses a
// live chunk, and the next collection finishes the job. CKPTDB_LONG_TESTS=1 runs 50 trials.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/filesystem.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <random>
#include <thread>

#include "ckptdb/ckptdb.h"
#include "tests/support/test_support.h"

extern char** environ;

namespace ckptdb {
namespace {

namespace fs = boost::filesystem;
constexpr uint64_t kChunk = 256 << 10;

// Five checkpoints of one 32 MiB tensor, each rewriting a different quarter, with the first three
// removed: collection then deletes chunks, rewrites mostly-dead packs and deletes emptied ones.
struct Fixture {
  std::vector<std::vector<uint8_t>> versions;  // the bytes of checkpoints 4 and 5

  void Build(const std::string& path) {
    StoreOptions o;
    o.chunk_size = kChunk;
    auto store = Store::Open(path, o).value();
    std::vector<uint8_t> w = testing::RandomBytes(1, 32 << 20);
    versions.clear();
    for (int i = 0; i < 5; ++i) {
      testing::FillRandom(10 + i, w.data() + (i % 4) * (8 << 20), 8 << 20);
      TensorRef t{"w", DType::kU8, {int64_t(w.size())}, w.data(), w.size()};
      ASSERT_TRUE(store->Save({&t, 1}, SaveOptions{}).ok());
      if (i >= 3) versions.push_back(w);
    }
    for (CheckpointId id : {1, 2, 3}) ASSERT_TRUE(store->Remove(Selector::Id(id)).ok());
  }

  // The store holds exactly checkpoints 4 and 5, both whole.
  void ExpectIntact(const std::string& path) {
    StoreOptions o;
    o.create_if_missing = false;
    auto store = Store::Open(path, o);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto list = (*store)->List();
    ASSERT_TRUE(list.ok());
    ASSERT_EQ(list->size(), 2u);
    for (size_t i = 0; i < 2; ++i) {
      auto back = (*store)->Restore(Selector::Id(4 + i));
      ASSERT_TRUE(back.ok()) << back.status().ToString();
      EXPECT_EQ(std::memcmp((*back)[0].bytes.data(), versions[i].data(), versions[i].size()), 0);
    }
    auto v = (*store)->Verify();
    ASSERT_TRUE(v.ok());
    EXPECT_TRUE(v->ok()) << v->damage.size() << " damaged, first: " << v->damage[0].problem;
  }
};

pid_t SpawnGc(const std::string& store) {
  const std::string cli = testing::CliPath();
  std::vector<char*> argv = {const_cast<char*>(cli.c_str()), const_cast<char*>("gc"),
                             const_cast<char*>(store.c_str()), nullptr};
  posix_spawn_file_actions_t quiet;
  posix_spawn_file_actions_init(&quiet);
  posix_spawn_file_actions_addopen(&quiet, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&quiet, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, cli.c_str(), &quiet, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&quiet);
  return rc == 0 ? pid : -1;
}

TEST(GcCrashTest, KillDuringCollectionNeverLosesALiveChunk) {
  const int trials = testing::LongTests() ? 50 : 6;
  const uint32_t seed = 20261125;
  std::mt19937 rng(seed);
  testing::ScratchDir dir;
  Fixture f;

  // How long an uninterrupted collection takes, to spread the kills over it.
  const std::string timed = dir.Join("timed");
  f.Build(timed);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(testing::RunProcess({testing::CliPath(), "gc", timed}), 0);
  const double full = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  f.ExpectIntact(timed);
  std::printf("[ gc crash ] seed %u, %d trials, uninterrupted gc %.3f s\n", seed, trials, full);

  int killed = 0, finished = 0;
  for (int trial = 0; trial < trials; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial) + " (seed " + std::to_string(seed) + ")");
    const std::string path = dir.Join("t" + std::to_string(trial));
    f.Build(path);
    const double delay = std::uniform_real_distribution<double>(0, 1.2 * full)(rng);
    const pid_t pid = SpawnGc(path);
    ASSERT_GT(pid, 0);
    std::this_thread::sleep_for(std::chrono::duration<double>(delay));
    ::kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    (WIFSIGNALED(status) ? killed : finished)++;
    f.ExpectIntact(path);
    // The next collection finishes the job: only live bytes (plus slack) stay on disk.
    ASSERT_EQ(testing::RunProcess({testing::CliPath(), "gc", path}), 0);
    f.ExpectIntact(path);
    EXPECT_LE(testing::AllocatedBytes(path + "/packs"), 1.15 * (32 << 20) * 1.25);  // live: 32 MiB + one changed quarter
    fs::remove_all(path);
  }
  std::printf("[ gc crash ] %d trials: %d killed mid-collection, %d had finished\n", trials, killed, finished);
}

}  // namespace
}  // namespace ckptdb

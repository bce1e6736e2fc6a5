// Specifies atomic commit under SIGKILL: a killed `ckptdb import` leaves its checkpoint whole or absent.
//
// The real `ckptdb` executable is killed at random points of an import, and the store must afterwards
// show either exactly the checkpoints it had or those plus the new one, complete. No mocks: real child
// processes, real RocksDB directories on the real filesystem.
//
// Environment:
//   CKPTDB_LONG_TESTS=1   60 random-kill trials instead of 8, and both outcomes (killed before and
//                         after the commit) must occur at least once.
//   CKPTDB_CRASH_SEED=N   the seed of the kill delays (default below; always printed).
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "ckptdb/ckptdb.h"
#include "tests/support/checkpoint_expect.h"
#include "tests/support/crash_checks.h"
#include "tests/support/crash_sources.h"
#include "tests/support/existing_store.h"
#include "tests/support/killed_imports.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

namespace fs = std::filesystem;
using namespace crash_tests;
using testing::OpenExisting;

constexpr uint64_t kDefaultSeed = 20261123;
constexpr int64_t kNewStep = 300;
constexpr int64_t kRetryStep = 301;

uint64_t CrashSeed() {
  const char* v = std::getenv("CKPTDB_CRASH_SEED");
  return v && *v ? std::strtoull(v, nullptr, 10) : kDefaultSeed;
}

// ---------------------------------------------------------------------------------------------
// The fixture: three checkpoints' worth of data and two base stores, built once.
//   A (step 100): emb, w1a, bias                       ~24 MiB
//   B (step 200): emb, w1b (1/3 of w1a's chunks changed), w2, bias        ~32 MiB
//   C (step 300): emb, w1c (1/5 of w1b's chunks changed), w2, big, tied (= big's first 8 MiB),
//                 empty (0 bytes), odd (not a chunk multiple), bias       ~64 MiB
// so importing C dedups against the store (emb, w2, most of w1) and within itself (tied).

class CrashTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::ScratchDir();
    const SrcTensor emb = Random("model.emb", DType::kF32, {2048, 2048}, 11);
    const SrcTensor w1a = Random("model.w1", DType::kBF16, {2048, 2048}, 12);
    const SrcTensor w1b = Mutate(w1a, 3, 1, 1000);
    SrcTensor w1c = Mutate(w1b, 5, 2, 2000);
    const SrcTensor w2 = Random("model.w2", DType::kF16, {1024, 4096}, 14);
    const SrcTensor big = Random("model.big", DType::kF32, {4096, 1536}, 16);
    SrcTensor tied{"model.tied", DType::kU8, {int64_t(8 * kMiB)}, {}};
    tied.bytes.assign(big.bytes.begin(), big.bytes.begin() + 8 * kMiB);

    a_ = new Source{100, {emb, w1a, Random("model.bias", DType::kF32, {1000}, 13)}, {{"format", "pt"}}, ""};
    b_ = new Source{200, {emb, w1b, w2, Random("model.bias", DType::kF32, {1000}, 15)}, {{"format", "pt"}}, ""};
    c_ = new Source{kNewStep,
                    {emb, w1c, w2, big, tied, Random("model.empty", DType::kF32, {0, 8}, 0),
                     Random("model.odd", DType::kI64, {12345}, 18), Random("model.bias", DType::kF32, {1000}, 17)},
                    {{"format", "pt"}, {"step", "300"}},
                    ""};
    a_->file = dir_->Join("a.safetensors");
    b_->file = dir_->Join("b.safetensors");
    c_->file = dir_->Join("c.safetensors");
    for (const Source* s : {a_, b_, c_}) WriteRawSafetensors(s->file, *s);

    // base1 holds A; base2 holds A and B. Built with the real executable.
    base1_ = dir_->Join("base1");
    base2_ = dir_->Join("base2");
    CliResult r = RunCli(ImportArgs(base1_, a_->step, a_->file, true), dir_->path());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    fs::copy(base1_, base2_, fs::copy_options::recursive);
    r = RunCli(ImportArgs(base2_, b_->step, b_->file, false), dir_->path());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    for (const std::string* base : {&base1_, &base2_}) {
      auto store = OpenExisting(*base);
      ASSERT_TRUE(store.ok()) << store.status().ToString();
      auto list = (*store)->List();
      ASSERT_TRUE(list.ok()) << list.status().ToString();
      (base == &base1_ ? base1_list_ : base2_list_) = *list;
    }
    ASSERT_EQ(base1_list_.size(), 1u);
    ASSERT_EQ(base2_list_.size(), 2u);
  }

  static void TearDownTestSuite() {
    delete a_;
    delete b_;
    delete c_;
    delete dir_;
  }

  static const Source& SourceForStep(int64_t step) {
    if (step == a_->step) return *a_;
    if (step == b_->step) return *b_;
    return *c_;
  }

  // After a killed import of C into `store` that held `before`: the store opens, lists exactly
  // `before` or `before` plus C complete, everything restores bit-exactly and verifies.
  // Returns whether the new checkpoint was committed.
  static std::optional<bool> CheckAfterKill(const std::string& store_path,
                                            const std::vector<CheckpointInfo>& before) {
    auto store = OpenExisting(store_path);
    EXPECT_TRUE(store.ok()) << "store does not open after the kill: " << store.status().ToString();
    if (!store.ok()) return std::nullopt;
    auto list = (*store)->List();
    EXPECT_TRUE(list.ok()) << list.status().ToString();
    if (!list.ok()) return std::nullopt;
    EXPECT_TRUE(list->size() == before.size() || list->size() == before.size() + 1)
        << "store lists " << list->size() << " checkpoints; it held " << before.size();
    if (list->size() != before.size() && list->size() != before.size() + 1) return std::nullopt;
    for (size_t i = 0; i < before.size(); ++i) testing::ExpectSameInfo((*list)[i], before[i]);
    const bool committed = list->size() == before.size() + 1;
    if (committed) {
      const CheckpointInfo& n = list->back();
      EXPECT_EQ(n.id, before.back().id + 1);
      EXPECT_EQ(n.step, kNewStep);
      EXPECT_EQ(n.parent, std::optional<CheckpointId>(before.back().id));
      EXPECT_EQ(n.tensor_count, c_->tensors.size());
      EXPECT_EQ(n.logical_bytes, c_->logical_bytes());
    }
    for (const CheckpointInfo& info : *list) ExpectRestoresExactly(**store, info.id, SourceForStep(info.step));
    ExpectVerifies(**store, list->size());
    return committed;
  }

  // Imports C again (step 301) with the real executable and checks it restores exactly.
  static void CheckRetry(const std::string& store_path, size_t checkpoints_before, bool with_chunk_size) {
    CliResult r = RunCli(ImportArgs(store_path, kRetryStep, c_->file, with_chunk_size), dir_->path());
    EXPECT_EQ(r.exit_code, 0) << "retrying the import after the kill failed: " << r.output;
    auto store = OpenExisting(store_path);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto list = (*store)->List();
    ASSERT_TRUE(list.ok()) << list.status().ToString();
    ASSERT_EQ(list->size(), checkpoints_before + 1);
    EXPECT_EQ(list->back().step, kRetryStep);
    Source retry = *c_;
    retry.step = kRetryStep;
    ExpectRestoresExactly(**store, list->back().id, retry);
  }

  // Re-runs the killed first import of `src` (same command line) and checks the store then holds
  // exactly that one checkpoint.
  static void CheckRetryFresh(const std::string& store_path, const Source& src) {
    CliResult r = RunCli(ImportArgs(store_path, src.step, src.file, true), dir_->path());
    EXPECT_EQ(r.exit_code, 0) << "re-running the killed first import failed: " << r.output;
    auto store = OpenExisting(store_path);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    EXPECT_EQ((*store)->chunk_size(), kChunkSize);
    auto list = (*store)->List();
    ASSERT_TRUE(list.ok()) << list.status().ToString();
    ASSERT_EQ(list->size(), 1u);
    EXPECT_EQ(list->back().parent, std::nullopt);
    ExpectRestoresExactly(**store, list->back().id, src);
  }

  static testing::ScratchDir* dir_;
  static Source* a_;
  static Source* b_;
  static Source* c_;
  static std::string base1_, base2_;
  static std::vector<CheckpointInfo> base1_list_, base2_list_;
};

testing::ScratchDir* CrashTest::dir_ = nullptr;
Source* CrashTest::a_ = nullptr;
Source* CrashTest::b_ = nullptr;
Source* CrashTest::c_ = nullptr;
std::string CrashTest::base1_, CrashTest::base2_;
std::vector<CheckpointInfo> CrashTest::base1_list_, CrashTest::base2_list_;

TEST_F(CrashTest, KillDuringImportCommitsAllOrNothing) {
  const uint64_t seed = CrashSeed();
  const int trials = testing::LongTests() ? 60 : 8;
  std::printf("[ crash    ] seed %llu (CKPTDB_CRASH_SEED=%llu reproduces the delays), %d trials, file %.1f MiB, "
              "chunk size %llu KiB\n",
              (unsigned long long)seed, (unsigned long long)seed, trials, c_->logical_bytes() / double(kMiB),
              (unsigned long long)(kChunkSize >> 10));

  // How long an uninterrupted import takes, on each kind of base store (the slower of the two).
  // The disk's speed drifts with the machine's load, so long runs measure again every 10 trials.
  const auto measure = [&](int runs) {
    double t = 0;
    for (int i = 0; i < runs; ++i) {
      const std::string& base = i == 0 ? base2_ : base1_;
      const std::string store = dir_->Join("timing" + std::to_string(i));
      fs::copy(base, store, fs::copy_options::recursive);
      t = std::max(t, TimeImport(ImportArgs(store, kNewStep, c_->file, false), dir_->path()));
      // The uninterrupted import is the "after commit" outcome by definition.
      auto committed = CheckAfterKill(store, i == 0 ? base2_list_ : base1_list_);
      EXPECT_EQ(committed, std::optional<bool>(true));
      fs::remove_all(store);
    }
    std::printf("[ crash    ] uninterrupted import: %.3f s; kill delays uniform in [0, %.3f s]\n", t, 1.2 * t);
    return t;
  };
  double full = measure(2);
  ASSERT_FALSE(HasFailure());

  // Delays are drawn as fractions of [0, 1.2] so that re-measuring does not change the sequence.
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> fraction(0.0, 1.2);
  int before_commit = 0, after_commit = 0, finished_before_kill = 0;
  for (int trial = 0; trial < trials; ++trial) {
    if (trial > 0 && trial % 10 == 0) full = measure(1);
    const double delay = fraction(rng) * full;
    const bool two = trial % 2 == 0;  // alternate bases with one and two committed checkpoints
    const std::string& base = two ? base2_ : base1_;
    const auto& before = two ? base2_list_ : base1_list_;
    SCOPED_TRACE("seed " + std::to_string(seed) + ", trial " + std::to_string(trial) + ", delay " +
                 std::to_string(delay) + " s, base with " + std::to_string(before.size()) + " checkpoint(s)");
    const std::string store = dir_->Join("trial" + std::to_string(trial));
    fs::copy(base, store, fs::copy_options::recursive);

    const auto t0 = Clock::now();
    KillResult k = ImportAndKillAfter(ImportArgs(store, kNewStep, c_->file, false),
                                      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(delay)));
    EXPECT_TRUE(k.killed || k.exited_ok) << "import neither succeeded nor was killed: wait status " << k.raw_status;
    finished_before_kill += k.exited_ok;
    std::optional<bool> committed = CheckAfterKill(store, before);
    if (committed) (*committed ? after_commit : before_commit) += 1;
    if (k.exited_ok) {
      EXPECT_EQ(committed, std::optional<bool>(true)) << "the import exited 0 but its checkpoint is not listed";
    }
    CheckRetry(store, before.size() + (committed.value_or(false) ? 1 : 0), false);
    std::printf("[ crash    ] trial %2d: delay %.3f s, base %zu ckpt, %s, %s commit (%.2f s)\n", trial, delay,
                before.size(), k.killed ? "killed" : "had exited", committed ? (*committed ? "after" : "before") : "??",
                Seconds(Clock::now() - t0));
    std::fflush(stdout);
    fs::remove_all(store);
    if (HasFatalFailure()) break;
  }
  std::printf("[ crash    ] %d trials: %d ended before the commit, %d after it (%d had already exited)\n", trials,
              before_commit, after_commit, finished_before_kill);
  RecordProperty("trials", trials);
  RecordProperty("before_commit", before_commit);
  RecordProperty("after_commit", after_commit);
  if (testing::LongTests()) {
    EXPECT_GT(before_commit, 0) << "no kill landed before the commit: the trials did not exercise a torn save";
    EXPECT_GT(after_commit, 0) << "no kill landed after the commit";
  }
}

// The very first save into a directory that does not exist yet (importing B, ~32 MiB, creating the
// store with --chunk-size), killed right after each of the store's first files appears and at random
// points early in the import. Afterwards the store either opens with zero checkpoints or is cleanly
// absent (no directory, or an empty one), and re-running the same command succeeds.
TEST_F(CrashTest, KillDuringFirstSaveLeavesNoCheckpoint) {
  const uint64_t seed = CrashSeed() + 1;
  const Source& src = *b_;
  const auto args_for = [&](const std::string& store) { return ImportArgs(store, src.step, src.file, true); };

  double full = 1e9;
  for (int i = 0; i < 2; ++i) {
    const std::string timing = dir_->Join("fresh-timing");
    full = std::min(full, TimeImport(args_for(timing), dir_->path()));
    fs::remove_all(timing);
  }
  std::printf("[ crash    ] first save: uninterrupted import into a new store %.3f s; seed %llu\n", full,
              (unsigned long long)seed);

  const auto exists = [](const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0;
  };
  struct Plan {
    std::string what;
    double delay = -1;                              // >= 0: kill after this many seconds
    std::function<bool(const std::string&)> event;  // else: kill as soon as this holds
  };
  // Every event below happens before the save can commit (the commit follows the write of the
  // chunk file: a RocksDB blob file or a pack file, whichever the store uses), so these kills must
  // leave zero checkpoints. The RocksDB files may sit in the store directory or below it.
  std::vector<Plan> plans = {
      {"when the store directory appears", -1, [&](const std::string& s) { return exists(s); }},
      {"when the store directory has an entry", -1, [](const std::string& s) { return CountFiles(s, "", "") >= 1; }},
      {"when LOCK appears", -1, [](const std::string& s) { return CountFiles(s, "LOCK", "") >= 1; }},
      {"when IDENTITY appears", -1, [](const std::string& s) { return CountFiles(s, "IDENTITY", "") >= 1; }},
      {"when CURRENT appears", -1, [](const std::string& s) { return CountFiles(s, "CURRENT", "") >= 1; }},
      {"when the first OPTIONS file appears", -1, [](const std::string& s) { return CountFiles(s, "OPTIONS-", "") >= 1; }},
      {"when the second OPTIONS file appears", -1, [](const std::string& s) { return CountFiles(s, "OPTIONS-", "") >= 2; }},
      {"when the first chunk file appears", -1,
       [](const std::string& s) { return CountFiles(s, "", ".blob") + CountFiles(s, "", ".pack") >= 1; }},
  };
  // Random kills: in the first 100 ms (store creation) and in the first half of the import.
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> early(0.0, 0.1), during(0.0, 0.5 * full);
  const int random_pairs = testing::LongTests() ? 16 : 2;
  for (int i = 0; i < random_pairs; ++i) {
    plans.push_back({"random early kill", early(rng), nullptr});
    plans.push_back({"random kill in the first half", during(rng), nullptr});
  }

  int absent = 0, empty_store = 0, committed = 0;
  for (size_t i = 0; i < plans.size(); ++i) {
    const Plan& plan = plans[i];
    const std::string label = plan.what + (plan.delay >= 0 ? " (" + std::to_string(plan.delay) + " s)" : "");
    SCOPED_TRACE("seed " + std::to_string(seed) + ", first-save trial " + std::to_string(i) + ": " + label);
    const std::string store = dir_->Join("fresh" + std::to_string(i));
    KillResult k;
    bool fired = true;
    if (plan.delay >= 0) {
      k = ImportAndKillAfter(args_for(store),
                             std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(plan.delay)));
    } else {
      k = ImportAndKillWhen(args_for(store), [&] { return plan.event(store); }, &fired);
      EXPECT_TRUE(fired && k.killed) << "the import finished before the event";
    }
    EXPECT_TRUE(k.killed || k.exited_ok) << "import neither succeeded nor was killed: wait status " << k.raw_status;
    const std::vector<std::string> files = fs::exists(store) ? DirEntries(store) : std::vector<std::string>{};
    std::string state;
    if (!fs::exists(store)) {
      state = "no directory";
      ++absent;
    } else {
      auto opened = OpenExisting(store);
      if (opened.ok()) {
        auto list = (*opened)->List();
        ASSERT_TRUE(list.ok()) << list.status().ToString();
        if (list->empty() || plan.delay < 0) {
          EXPECT_TRUE(list->empty()) << "a save killed part-way left " << list->size() << " checkpoint(s)";
          ++empty_store;
        } else {
          // A random delay can outlast a fast import (the disk's speed varies a lot): then the kill
          // came after the commit, or the import had exited, and the one checkpoint must be complete.
          EXPECT_EQ(list->size(), 1u);
          ExpectRestoresExactly(**opened, list->front().id, src);
          ++committed;
        }
        if (k.exited_ok) {
          EXPECT_EQ(list->size(), 1u) << "the import exited 0 but its checkpoint is not listed";
        }
        ExpectVerifies(**opened, list->size());
        state = "store with " + std::to_string(list->size()) + " checkpoint(s)";
      } else if (opened.status().code() == Code::kNotFound) {
        // "No store" is clean only if nothing is left behind: a retry refuses a non-empty directory.
        EXPECT_TRUE(files.empty()) << "no store opens at " << store << " (" << opened.status().ToString()
                                   << ") but the killed import left files there: " << Joined(files);
        state = "no store (" + opened.status().ToString() + ")";
        ++absent;
      } else {
        ADD_FAILURE() << "after the kill the store neither opens nor is absent: " << opened.status().ToString()
                      << "; the directory holds: " << Joined(files);
        state = "broken (" + opened.status().ToString() + ")";
      }
    }
    std::printf("[ crash    ] first-save trial %2zu, %s: %s; %s; files: %s\n", i, label.c_str(),
                k.killed ? "killed" : "had exited", state.c_str(), Joined(files).c_str());
    std::fflush(stdout);
    CheckRetryFresh(store, src);
    fs::remove_all(store);
  }
  std::printf("[ crash    ] first save: %zu trials: %d left no store, %d an empty store, %d the complete checkpoint\n",
              plans.size(), absent, empty_store, committed);
}

}  // namespace
}  // namespace ckptdb

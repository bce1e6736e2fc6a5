// Retention under SIGKILL: a real `ckptdb import` that rotates old checkpoints away, or a real
// `ckptdb gc` that applies the policy, killed at random points. Afterwards the store holds exactly
// the state before or the state after the rotation -- never a new checkpoint without its rotation,
// never a rotation without its checkpoint -- every survivor restores bit-exactly, lineage is whole,
// and the next gc finishes the job. No mocks: real child processes on real store directories.
//
// Environment: CKPTDB_LONG_TESTS=1 runs 50 trials of each kind instead of 6.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <set>

#include "ckptdb/ckptdb.h"
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

constexpr uint64_t kSeed = 20261123;

int Trials() { return testing::LongTests() ? 50 : 6; }

// Steps 100..500 with losses; checkpoint 1 carries the tag "release", checkpoint 2 has the best loss.
struct Planned {
  int64_t step;
  double loss;
};
constexpr Planned kPlan[] = {{100, 0.5}, {200, 0.2}, {300, 0.4}, {400, 0.45}, {500, 0.3}};

std::vector<std::string> ImportCmd(const std::string& store, const Planned& p, const std::string& file, bool first) {
  std::vector<std::string> a = {"import", store, "--step", std::to_string(p.step), "--metric",
                                "loss=" + std::to_string(p.loss)};
  if (first) a.insert(a.end(), {"--chunk-size", std::to_string(kChunkSize), "--tag", "release"});
  a.push_back(file);
  return a;
}

std::map<CheckpointId, std::optional<CheckpointId>> Lineage(const std::vector<CheckpointInfo>& list) {
  std::map<CheckpointId, std::optional<CheckpointId>> out;
  for (const auto& c : list) out[c.id] = c.parent;
  return out;
}

using State = std::map<CheckpointId, std::optional<CheckpointId>>;  // id -> parent

class RetentionCrashTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::ScratchDir();
    sources_ = new std::vector<Source>();
    // Each version rewrites a different third of `w`'s chunks, so rotation frees real pack bytes.
    SrcTensor w = Random("w", DType::kF32, {2048, 1024}, 1);
    const SrcTensor emb = Random("emb", DType::kBF16, {1024, 1024}, 2);
    for (size_t i = 0; i < std::size(kPlan); ++i) {
      if (i > 0) w = Mutate(w, 3, i % 3, 100 * i);
      Source s{kPlan[i].step, {emb, w}, {}, dir_->Join("v" + std::to_string(i) + ".safetensors")};
      WriteRawSafetensors(s.file, s);
      sources_->push_back(std::move(s));
    }
    base_ = dir_->Join("base");
    for (size_t i = 0; i + 1 < std::size(kPlan); ++i) {
      CliResult r = RunCli(ImportCmd(base_, kPlan[i], (*sources_)[i].file, i == 0), dir_->path());
      ASSERT_EQ(r.exit_code, 0) << r.output;
    }
  }
  static void TearDownTestSuite() {
    delete sources_;
    delete dir_;
  }

  static const Source& ForStep(int64_t step) {
    for (const auto& s : *sources_)
      if (s.step == step) return s;
    static Source none;
    ADD_FAILURE() << "no source for step " << step;
    return none;
  }

  // A copy of the base store (checkpoints 1-4, head 4) with `policy` stored.
  static std::string Prepare(const std::string& name, const RetentionPolicy& policy) {
    const std::string path = dir_->Join(name);
    fs::remove_all(path);
    fs::copy(base_, path, fs::copy_options::recursive);
    auto store = OpenExisting(path);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    if (store.ok()) {
      EXPECT_TRUE((*store)->SetRetention(policy).ok());
    }
    return path;
  }

  // The store holds exactly one of `allowed` (id -> parent); every survivor restores exactly and
  // verifies. Returns the index of the state found.
  static std::optional<size_t> ExpectOneOf(const std::string& path, const std::vector<State>& allowed) {
    auto store = OpenExisting(path);
    EXPECT_TRUE(store.ok()) << "store does not open: " << store.status().ToString();
    if (!store.ok()) return std::nullopt;
    auto list = (*store)->List();
    EXPECT_TRUE(list.ok()) << list.status().ToString();
    if (!list.ok()) return std::nullopt;
    const State got = Lineage(*list);
    auto it = std::find(allowed.begin(), allowed.end(), got);
    std::string ids;
    for (const auto& [id, parent] : got) ids += " " + std::to_string(id) + "<-" + (parent ? std::to_string(*parent) : "none");
    EXPECT_NE(it, allowed.end()) << "unexpected checkpoints (id<-parent):" << ids;
    for (const CheckpointInfo& c : *list) ExpectRestoresExactly(**store, c.id, ForStep(c.step));
    ExpectVerifies(**store, list->size());
    auto tagged = (*store)->Describe(Selector::Tag("release"));
    EXPECT_TRUE(tagged.ok() && tagged->info.id == 1) << "the tagged checkpoint was rotated away";
    if (it == allowed.end()) return std::nullopt;
    return size_t(it - allowed.begin());
  }

  // Collects garbage to completion and checks what is left on disk is about the live bytes.
  static void FinishWithGc(const std::string& path, const std::vector<State>& allowed) {
    auto store = OpenExisting(path);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto gc = (*store)->CollectGarbage();
    ASSERT_TRUE(gc.ok()) << gc.status().ToString();
    store->reset();
    ExpectOneOf(path, allowed);
    EXPECT_LE(testing::AllocatedBytes(path + "/packs"), 1.15 * gc->live_bytes + (1 << 20));
  }

  static testing::ScratchDir* dir_;
  static std::vector<Source>* sources_;
  static std::string base_;
};

testing::ScratchDir* RetentionCrashTest::dir_ = nullptr;
std::vector<Source>* RetentionCrashTest::sources_ = nullptr;
std::string RetentionCrashTest::base_;

// Kills `args` (a ckptdb command) at delays spread over 1.2x its uninterrupted time, and after each
// kill calls check(path, trial), which returns the index of the state found (0: before, 1: after).
// `prepare(name)` makes a fresh store for a run. The long mode must see both outcomes.
template <typename Prepare, typename Check>
void KillTrials(const char* what, const std::function<std::vector<std::string>(const std::string&)>& args,
                Prepare prepare, Check check) {
  const int trials = Trials();
  const std::string timed = prepare(std::string(what) + "-timed");
  const auto t0 = Clock::now();
  CliResult r = RunCli(args(timed), fs::path(timed).parent_path().string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const double full = Seconds(Clock::now() - t0);
  check(timed, -1);
  std::mt19937_64 rng(kSeed);
  std::uniform_real_distribution<double> fraction(0.0, 1.2);
  int killed = 0, outcomes[2] = {0, 0};
  for (int trial = 0; trial < trials; ++trial) {
    const double delay = fraction(rng) * full;
    SCOPED_TRACE(std::string(what) + " trial " + std::to_string(trial) + ", delay " + std::to_string(delay) +
                 " s, seed " + std::to_string(kSeed));
    const std::string path = prepare(std::string(what) + "-" + std::to_string(trial));
    KillResult k = ImportAndKillAfter(args(path), std::chrono::duration_cast<Clock::duration>(
                                                      std::chrono::duration<double>(delay)));
    EXPECT_TRUE(k.killed || k.exited_ok) << "wait status " << k.raw_status;
    killed += k.killed;
    if (std::optional<size_t> state = check(path, trial); state && *state < 2) ++outcomes[*state];
    fs::remove_all(path);
  }
  std::printf("[ retention crash ] %s: %d trials over [0, %.3f s], %d killed mid-run; %d before, %d after the commit\n",
              what, trials, 1.2 * full, killed, outcomes[0], outcomes[1]);
  if (trials >= 50) {
    EXPECT_GT(outcomes[0], 0) << "no kill landed before the commit";
    EXPECT_GT(outcomes[1], 0) << "no kill landed after the commit";
  }
}

// A save with rotation: max_to_keep 1, step milestones every 300, best loss. Importing step 500
// retires only checkpoint 4 (1: tag and milestone, 2: best loss, 3: milestone), re-pointing the
// new checkpoint's parent to 3 -- all in the import's one commit.
TEST_F(RetentionCrashTest, KilledSaveRotatesWithItsCommitOrNotAtAll) {
  RetentionPolicy p;
  p.max_to_keep = 1;
  p.keep_every_steps = 300;
  p.keep_best = KeepBest{"loss", false, 1};
  const State before = {{1, std::nullopt}, {2, 1}, {3, 2}, {4, 3}};
  const State after = {{1, std::nullopt}, {2, 1}, {3, 2}, {5, 3}};
  const std::string file = (*sources_)[4].file;
  KillTrials(
      "save", [&](const std::string& path) { return ImportCmd(path, kPlan[4], file, false); },
      [&](const std::string& name) { return Prepare(name, p); },
      [&](const std::string& path, int trial) {
        auto state = ExpectOneOf(path, {before, after});
        if (trial < 0) {
          EXPECT_EQ(state, std::optional<size_t>(1)) << "an uninterrupted import must rotate";
        }
        FinishWithGc(path, {before, after});
        return state;
      });
}

// gc applying a policy set after the fact: max_to_keep 1 and best loss retire checkpoint 3 only
// (1 is tagged, 2 best, 4 the head), re-pointing 4 to 2; then the sweep reclaims 3's chunks.
TEST_F(RetentionCrashTest, KilledGcRetiresAllOrNothingAndTheNextGcFinishes) {
  RetentionPolicy p;
  p.max_to_keep = 1;
  p.keep_best = KeepBest{"loss", false, 1};
  const State before = {{1, std::nullopt}, {2, 1}, {3, 2}, {4, 3}};
  const State after = {{1, std::nullopt}, {2, 1}, {4, 2}};
  KillTrials(
      "gc", [](const std::string& path) { return std::vector<std::string>{"gc", path}; },
      [&](const std::string& name) { return Prepare(name, p); },
      [&](const std::string& path, int trial) {
        auto state = ExpectOneOf(path, {before, after});
        if (trial < 0) {
          EXPECT_EQ(state, std::optional<size_t>(1)) << "an uninterrupted gc must apply the policy";
        }
        FinishWithGc(path, {after});
        return state;
      });
}

}  // namespace
}  // namespace ckptdb

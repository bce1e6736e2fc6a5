// Power loss: every sync point of a save, a rotating save and a garbage collection is made the
// moment the power goes (store/io/fault_file_system.h drops what was not synced, in ckptdb's pack
// files and in RocksDB's files alike). After each cut the store, reopened on the real file system,
// holds exactly the state before or after the operation, every checkpoint it lists restores
// bit-exact, and garbage collection followed by verify finds nothing wrong.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <map>

#include "ckptdb/ckptdb.h"
#include "store/io/fault_file_system.h"
#include "store/io/fault_rocksdb_fs.h"
#include "store/open_internal.h"
#include "tests/support/crash_checks.h"
#include "tests/support/crash_sources.h"
#include "tests/support/test_support.h"

namespace ckptdb {
namespace {

using crash_tests::kChunkSize;
using crash_tests::Source;

// What a store holds, as far as the commit protocol promises: its checkpoints and its head.
struct State {
  std::vector<std::pair<CheckpointId, int64_t>> checkpoints;  // (id, step), oldest first
  std::optional<CheckpointId> head;
  bool operator==(const State&) const = default;
};

std::string Show(const State& s) {
  std::string out = "{";
  for (const auto& [id, step] : s.checkpoints) out += " " + std::to_string(id);
  return out + " } head " + (s.head ? std::to_string(*s.head) : "none");
}

State StateOf(Store& store) {
  State s;
  auto list = store.List();
  EXPECT_TRUE(list.ok()) << list.status().ToString();
  if (list.ok())
    for (const auto& info : *list) s.checkpoints.emplace_back(info.id, info.step);
  auto head = store.Head();
  EXPECT_TRUE(head.ok()) << head.status().ToString();
  if (head.ok()) s.head = *head;
  return s;
}

StoreOptions Options() {
  StoreOptions o;
  o.chunk_size = kChunkSize;
  o.threads = 2;
  o.background_gc = false;  // the test decides when collection runs
  return o;
}

Source Version(int64_t step, uint64_t seed) {
  Source src;
  src.step = step;
  src.tensors.push_back(crash_tests::Random("w", DType::kF32, {256, 1024}, seed));    // 1 MiB: 4 packed chunks
  src.tensors.push_back(crash_tests::Random("b", DType::kF32, {1024}, seed + 1));     // 4 KiB: inline
  src.metadata = {{"step", std::to_string(step)}};
  return src;
}

Result<CheckpointInfo> SaveSource(Store& store, const Source& src) {
  std::vector<TensorRef> refs;
  for (const auto& t : src.tensors) refs.push_back({t.name, t.dtype, t.shape, t.bytes.data(), t.bytes.size()});
  SaveOptions so;
  so.step = src.step;
  so.metadata = src.metadata;
  return store.Save(refs, so);
}

// One power-loss scenario: a store built once, an operation on a copy of it.
class PowerLoss : public ::testing::Test {
 protected:
  using Op = std::function<Status(Store&)>;

  void SetUp() override { base_ = dir_.Join("base"); }

  void Build(const std::function<void(Store&)>& fill) {
    auto store = Store::Open(base_, Options());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    fill(**store);
    before_ = StateOf(**store);
  }

  struct Trial {
    Status op;
    bool cut = false;
    uint64_t syncs = 0;
    std::vector<std::string> sync_log;
  };

  // Runs `op` on a fresh copy of the base store at `path`, the power going at sync point `k`
  // (0: never), and leaves the copy as the power cut left it.
  Trial Run(const std::string& path, uint64_t k, const Op& op, const std::string& ignore_syncs_under = "") {
    std::filesystem::remove_all(path);
    std::filesystem::copy(base_, path, std::filesystem::copy_options::recursive);
    auto faults = std::make_shared<io::FaultFileSystem>();
    Trial t;
    {
      auto store = OpenStoreWith(path, Options(), faults, io::NewFaultRocksEnv(faults));
      EXPECT_TRUE(store.ok()) << store.status().ToString();
      if (!store.ok()) return t;
      faults->IgnoreFileSyncsUnder(ignore_syncs_under);
      faults->CutAtSync(k);
      t.op = op(**store);
      t.cut = faults->cut();
      t.syncs = faults->syncs();
      t.sync_log = faults->sync_log();
      if (!t.cut) faults->CutAtSync(0);  // closing is not part of the operation
    }  // closes the store; after a cut every write fails
    EXPECT_TRUE(faults->PowerCut().ok());
    return t;
  }

  // The checks after a power cut (see the file comment); `after` is the state the operation
  // reaches when it completes.
  void ExpectSurvived(const std::string& path, const Trial& t, const State& after) {
    auto opened = Store::Open(path, Options());
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    Store& store = **opened;
    const State state = StateOf(store);
    if (t.op.ok()) {
      EXPECT_EQ(state, after) << "the operation returned OK, yet the store holds " << Show(state);
    } else {
      EXPECT_TRUE(state == before_ || state == after)
          << "store holds " << Show(state) << ", neither before " << Show(before_) << " nor after " << Show(after);
    }
    for (const auto& [id, step] : state.checkpoints) {
      ASSERT_TRUE(sources_.count(id)) << "checkpoint " << id << " was never saved";
      crash_tests::ExpectRestoresExactly(store, id, sources_.at(id));
    }
    auto gc = store.CollectGarbage();
    ASSERT_TRUE(gc.ok()) << gc.status().ToString();
    crash_tests::ExpectVerifies(store, state.checkpoints.size());
    EXPECT_EQ(StateOf(store), state);
  }

  // Runs `op` once uncut to learn its sync points, then once with the power going at each of
  // them. Returns how many sync points it enumerated.
  uint64_t EnumerateSyncPoints(const Op& op, const State& after) {
    const std::string path = dir_.Join("trial");
    const Trial whole = Run(path, 0, op);
    EXPECT_TRUE(whole.op.ok()) << whole.op.ToString();
    EXPECT_FALSE(whole.cut);
    {
      SCOPED_TRACE("no power cut during the operation");
      ExpectSurvived(path, whole, after);
    }
    std::string points;
    for (size_t i = 0; i < whole.sync_log.size(); ++i) points += "\n  " + std::to_string(i + 1) + ": " + whole.sync_log[i];
    std::cout << whole.syncs << " sync points:" << points << "\n";
    for (uint64_t k = 1; k <= whole.syncs; ++k) {
      SCOPED_TRACE("power cut at sync point " + std::to_string(k) + " of " + std::to_string(whole.syncs) + ": " +
                   (k <= whole.sync_log.size() ? whole.sync_log[k - 1] : "?"));
      const Trial t = Run(path, k, op);
      EXPECT_TRUE(t.cut) << "the operation reached fewer sync points this time";
      EXPECT_FALSE(t.op.ok()) << "the operation returned OK although its sync point " << k << " failed";
      ExpectSurvived(path, t, after);
      if (HasFatalFailure()) break;
    }
    return whole.syncs;
  }

  testing::ScratchDir dir_;
  std::string base_;
  State before_;
  std::map<CheckpointId, Source> sources_;  // what every checkpoint ever saved holds
};

TEST_F(PowerLoss, EverySyncPointOfASave) {
  Build([&](Store& store) {
    for (int i = 0; i < 2; ++i) {
      sources_[i + 1] = Version(100 * (i + 1), 10 * i);
      ASSERT_TRUE(SaveSource(store, sources_[i + 1]).ok());
    }
  });
  // Half of the new version's chunks change, so the save dedups some and writes a pack.
  Source next = sources_[2];
  next.step = 300;
  next.tensors[0] = crash_tests::Mutate(next.tensors[0], 2, 0, 99);
  next.metadata = {{"step", "300"}};
  sources_[3] = next;
  State after = before_;
  after.checkpoints.emplace_back(3, 300);
  after.head = 3;
  const uint64_t n = EnumerateSyncPoints([&](Store& s) { return SaveSource(s, next).status(); }, after);
  EXPECT_GE(n, 3u);  // the pack, its directory, the commit
}

TEST_F(PowerLoss, EverySyncPointOfARotatingSave) {
  Build([&](Store& store) {
    RetentionPolicy p;
    p.max_to_keep = 2;
    ASSERT_TRUE(store.SetRetention(p).ok());
    for (int i = 0; i < 2; ++i) {
      sources_[i + 1] = Version(100 * (i + 1), 10 * i);
      ASSERT_TRUE(SaveSource(store, sources_[i + 1]).ok());
    }
  });
  sources_[3] = Version(300, 77);
  State after;
  after.checkpoints = {{2, 200}, {3, 300}};  // the save retires checkpoint 1 in its commit
  after.head = 3;
  const uint64_t n = EnumerateSyncPoints([&](Store& s) { return SaveSource(s, sources_[3]).status(); }, after);
  EXPECT_GE(n, 3u);
}

TEST_F(PowerLoss, EverySyncPointOfAGarbageCollection) {
  // Four versions of one tensor, each rewriting a different quarter, the first two removed:
  // collection deletes chunks, copies the live ones out of mostly-dead packs and deletes packs.
  Build([&](Store& store) {
    Source v = Version(100, 1);
    for (int i = 0; i < 4; ++i) {
      v.step = 100 * (i + 1);
      v.metadata = {{"step", std::to_string(v.step)}};
      testing::FillRandom(50 + i, v.tensors[0].bytes.data() + i * kChunkSize, kChunkSize);
      sources_[i + 1] = v;
      ASSERT_TRUE(SaveSource(store, v).ok());
    }
    for (CheckpointId id : {1, 2}) ASSERT_TRUE(store.Remove(Selector::Id(id)).ok());
  });
  const uint64_t n = EnumerateSyncPoints(
      [&](Store& s) {
        auto r = s.CollectGarbage();
        if (r.ok()) {
          EXPECT_GT(r->packs_deleted + r->packs_rewritten, 0u);
        }
        return r.status();
      },
      before_);
  EXPECT_GE(n, 3u);  // the copied pack, its directory, the index commit
}

// The model is only worth something if it notices a missing sync: a store whose pack fdatasync
// does nothing loses a checkpoint whose Save returned OK.
TEST_F(PowerLoss, CatchesAMissingPackSync) {
  Build([&](Store& store) {
    sources_[1] = Version(100, 1);
    ASSERT_TRUE(SaveSource(store, sources_[1]).ok());
  });
  sources_[2] = Version(200, 2);
  const std::string path = dir_.Join("trial");
  const Trial t = Run(path, 0, [&](Store& s) { return SaveSource(s, sources_[2]).status(); },
                      path + "/packs");
  ASSERT_TRUE(t.op.ok()) << t.op.ToString();
  auto store = Store::Open(path, Options());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ASSERT_EQ(StateOf(**store).checkpoints.size(), 2u);  // the commit itself was synced
  auto restored = (*store)->Restore(Selector::Id(2));
  EXPECT_FALSE(restored.ok()) << "the unsynced pack survived the power cut";
  auto v = (*store)->Verify();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_FALSE(v->ok());
}

}  // namespace
}  // namespace ckptdb

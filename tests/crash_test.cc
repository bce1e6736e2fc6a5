// Atomic commit under SIGKILL: the real `ckptdb` executable is killed at random points of an import,
// and the store must afterwards show either exactly the checkpoints it had or those plus the new one,
// complete. No mocks: real child processes, real RocksDB directories on the real filesystem.
//
// Environment:
//   CKPTDB_LONG_TESTS=1   60 random-kill trials instead of 8, and both outcomes (killed before and
//                         after the commit) must occur at least once.
//   CKPTDB_CRASH_SEED=N   the seed of the kill delays (default below; always printed).
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ckptdb/ckptdb.h"
#include "tests/support/checkpoint_expect.h"
#include "tests/support/test_support.h"

extern char** environ;

namespace ckptdb {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kChunkSize = 256ull << 10;  // a 64 MiB import is ~256 chunks
constexpr uint64_t kDefaultSeed = 20261123;
constexpr int64_t kNewStep = 300;
constexpr int64_t kRetryStep = 301;

bool LongMode() {
  const char* v = std::getenv("CKPTDB_LONG_TESTS");
  return v && std::string(v) == "1";
}

uint64_t CrashSeed() {
  const char* v = std::getenv("CKPTDB_CRASH_SEED");
  return v && *v ? std::strtoull(v, nullptr, 10) : kDefaultSeed;
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// ---------------------------------------------------------------------------------------------
// Source data: what each checkpoint holds, kept in memory to compare restores with.

struct SrcTensor {
  std::string name;
  DType dtype;
  Shape shape;
  std::vector<uint8_t> bytes;
};

struct Source {
  int64_t step = 0;
  std::vector<SrcTensor> tensors;
  std::map<std::string, std::string> metadata;
  std::string file;  // the safetensors file holding exactly these tensors

  uint64_t logical_bytes() const {
    uint64_t n = 0;
    for (const auto& t : tensors) n += t.bytes.size();
    return n;
  }
};

SrcTensor Random(std::string name, DType dtype, Shape shape, uint64_t seed) {
  SrcTensor t{std::move(name), dtype, std::move(shape), {}};
  t.bytes = testing::RandomBytes(seed, *ExpectedBytes(dtype, t.shape));
  return t;
}

// A copy of `t` whose chunks with index % every == phase get fresh bytes (so they stop deduplicating).
SrcTensor Mutate(const SrcTensor& t, uint64_t every, uint64_t phase, uint64_t seed) {
  SrcTensor out = t;
  for (uint64_t off = 0, i = 0; off < out.bytes.size(); off += kChunkSize, ++i)
    if (i % every == phase) testing::FillRandom(seed + i, out.bytes.data() + off, std::min<uint64_t>(64, out.bytes.size() - off));
  return out;
}

// Writes `src` as a safetensors file by hand (not with the code under test): 8-byte LE header
// length, JSON header padded with spaces to a multiple of 8, then the tensors back to back.
void WriteRawSafetensors(const std::string& path, const Source& src) {
  std::string h = "{";
  if (!src.metadata.empty()) {
    h += "\"__metadata__\":{";
    for (const auto& [k, v] : src.metadata) h += "\"" + k + "\":\"" + v + "\",";
    h.back() = '}';
    h += ",";
  }
  uint64_t off = 0;
  for (const auto& t : src.tensors) {
    h += "\"" + t.name + "\":{\"dtype\":\"" + std::string(DTypeName(t.dtype)) + "\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i) h += (i ? "," : "") + std::to_string(t.shape[i]);
    h += "],\"data_offsets\":[" + std::to_string(off) + "," + std::to_string(off + t.bytes.size()) + "]},";
    off += t.bytes.size();
  }
  h.back() = '}';
  h.append((8 - h.size() % 8) % 8, ' ');
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(h.size()) >> (8 * i));
  bool ok = std::fwrite(len, 1, 8, f) == 8 && std::fwrite(h.data(), 1, h.size(), f) == h.size();
  for (const auto& t : src.tensors)
    ok = ok && std::fwrite(t.bytes.data(), 1, t.bytes.size(), f) == t.bytes.size();
  ok = std::fclose(f) == 0 && ok;
  ASSERT_TRUE(ok) << "cannot write " << path;
}

// ---------------------------------------------------------------------------------------------
// Child processes.

// Starts `argv` with stdin from /dev/null and stdout/stderr to `out_path` (default /dev/null).
pid_t Spawn(const std::vector<std::string>& argv, const std::string& out_path = "/dev/null") {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0].c_str(), &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    ADD_FAILURE() << "posix_spawn " << argv[0] << ": " << std::strerror(rc);
    return -1;
  }
  return pid;
}

int WaitStatus(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) {
      ADD_FAILURE() << "waitpid: " << std::strerror(errno);
      return -1;
    }
  return status;
}

struct CliResult {
  int exit_code = -1;  // -1 when it did not exit normally
  std::string output;  // stdout and stderr together
};

CliResult RunCli(const std::vector<std::string>& args, const std::string& scratch) {
  std::vector<std::string> argv = {testing::CliPath()};
  argv.insert(argv.end(), args.begin(), args.end());
  const std::string out = scratch + "/cli-output.txt";
  pid_t pid = Spawn(argv, out);
  CliResult r;
  if (pid < 0) return r;
  int status = WaitStatus(pid);
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  r.output = testing::ReadFileOrDie(out);
  return r;
}

std::vector<std::string> ImportArgs(const std::string& store, int64_t step, const std::string& file,
                                    bool with_chunk_size) {
  std::vector<std::string> a = {"import", store, "--step", std::to_string(step)};
  if (with_chunk_size) {
    a.push_back("--chunk-size");
    a.push_back(std::to_string(kChunkSize));
  }
  a.push_back(file);
  return a;
}

// How a killed import ended.
struct KillResult {
  bool killed = false;      // SIGKILL arrived while it ran
  bool exited_ok = false;   // it had already finished (exit 0) when the signal came
  int raw_status = 0;
};

KillResult Classify(int status) {
  KillResult r;
  r.raw_status = status;
  r.killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  r.exited_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  return r;
}

// Runs an import of `file` into `store` and SIGKILLs it after `delay`.
KillResult ImportAndKillAfter(const std::vector<std::string>& import_args, Clock::duration delay) {
  std::vector<std::string> argv = {testing::CliPath()};
  argv.insert(argv.end(), import_args.begin(), import_args.end());
  const auto start = Clock::now();
  pid_t pid = Spawn(argv);
  if (pid < 0) return {};
  std::this_thread::sleep_until(start + delay);
  ::kill(pid, SIGKILL);  // harmless if it already exited: it is a zombie until waited for
  return Classify(WaitStatus(pid));
}

// Runs an import and SIGKILLs it as soon as `event()` turns true (polled in a tight loop), or lets
// it finish if it exits first. *fired says whether the event was seen.
KillResult ImportAndKillWhen(const std::vector<std::string>& import_args, const std::function<bool()>& event,
                             bool* fired) {
  std::vector<std::string> argv = {testing::CliPath()};
  argv.insert(argv.end(), import_args.begin(), import_args.end());
  pid_t pid = Spawn(argv);
  *fired = false;
  if (pid < 0) return {};
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < deadline) {
    if (event()) {
      ::kill(pid, SIGKILL);
      *fired = true;
      break;
    }
    int status = 0;
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) return Classify(status);
  }
  if (!*fired) ::kill(pid, SIGKILL);
  return Classify(WaitStatus(pid));
}

// The uninterrupted wall time of an import.
double TimeImport(const std::vector<std::string>& import_args, const std::string& scratch) {
  const auto start = Clock::now();
  CliResult r = RunCli(import_args, scratch);
  const double t = Seconds(Clock::now() - start);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return t;
}

// ---------------------------------------------------------------------------------------------
// Checks with the library.

// Every file and directory under `dir`, as paths relative to it, sorted.
std::vector<std::string> DirEntries(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    names.push_back(fs::relative(it->path(), dir).string() + (it->is_directory() ? "/" : ""));
  std::sort(names.begin(), names.end());
  return names;
}

// The files anywhere under `dir` named PREFIX...SUFFIX, not counting RocksDB's temporaries
// (*.dbtmp). Tolerates files that vanish while it looks (the import is still running).
int CountFiles(const std::string& dir, const std::string& prefix, const std::string& suffix) {
  int n = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    n += name.size() >= prefix.size() + suffix.size() && name.compare(0, prefix.size(), prefix) == 0 &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
         name.find(".dbtmp") == std::string::npos;
  }
  return n;
}

std::string Joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : " ") + x;
  return s;
}

Result<std::unique_ptr<Store>> OpenExisting(const std::string& path) {
  StoreOptions o;
  o.create_if_missing = false;
  return Store::Open(path, o);
}

// Restores checkpoint `id` and compares every tensor (order, name, dtype, shape, bytes) and the
// metadata with `src`.
void ExpectRestoresExactly(Store& store, CheckpointId id, const Source& src) {
  SCOPED_TRACE("checkpoint " + std::to_string(id) + " (step " + std::to_string(src.step) + ")");
  auto m = store.Describe(Selector::Id(id));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->metadata, src.metadata);
  EXPECT_EQ(m->chunk_size, kChunkSize);
  // The bytes are compared with the source below, which is stricter than re-hashing each chunk
  // (Verify re-hashes them all anyway), so skip the per-chunk digest check here to save time.
  ReadOptions ro;
  ro.verify_chunks = false;
  auto r = store.Restore(Selector::Id(id), ro);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), src.tensors.size());
  for (size_t i = 0; i < src.tensors.size(); ++i) {
    const Tensor& got = (*r)[i];
    const SrcTensor& want = src.tensors[i];
    EXPECT_EQ(got.name, want.name);
    EXPECT_EQ(got.dtype, want.dtype) << want.name;
    EXPECT_EQ(got.shape, want.shape) << want.name;
    ASSERT_EQ(got.bytes.size(), want.bytes.size()) << want.name;
    EXPECT_TRUE(want.bytes.empty() || std::memcmp(got.bytes.data(), want.bytes.data(), want.bytes.size()) == 0)
        << "tensor " << want.name << " restored with different bytes";
  }
}

void ExpectVerifies(Store& store, uint64_t checkpoints) {
  auto v = store.Verify();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->checkpoints, checkpoints);
  for (const Damage& d : v->damage)
    ADD_FAILURE() << "damage: checkpoint " << d.id << " tensor " << d.tensor << " chunk " << d.chunk_index << ": "
                  << d.problem;
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
  const int trials = LongMode() ? 60 : 8;
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
  if (LongMode()) {
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
  const int random_pairs = LongMode() ? 16 : 2;
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

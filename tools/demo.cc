// ckptdb_demo: a small trainer that embeds ckptdb the way a real one would. It trains the same
// model twice, straight through (run A) and in a process that is killed mid-run and then resumed
// from its newest checkpoint (run B), and checks that both runs end bit for bit identical.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include "ckptdb/ckptdb.h"

namespace {

namespace fs = std::filesystem;
using ckptdb::DType;
using ckptdb::Status;
using ll = long long;  // for printf
using ull = unsigned long long;

constexpr int kVocab = 4096, kEmbed = 64, kHidden = 256, kClasses = 10;
constexpr int kBatch = 32, kTokens = 8;  // an example is a bag of 8 token ids
constexpr int kTeacherHidden = 32;
constexpr float kLr = 1e-3f, kBeta1 = 0.9f, kBeta2 = 0.999f, kEps = 1e-8f;
constexpr uint64_t kInitSeed = 0x5eed0001, kDataSeed = 0x5eed0002, kTeacherSeed = 0x5eed0003;
// Small chunks, so that the frozen embedding and the unchanged parts of a checkpoint dedup visibly.
constexpr uint64_t kChunkSize = 64 << 10;

struct Config {
  std::string dir;
  int64_t steps = 400, every = 50, kill_at = 237;
  bool keep = false;
};

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

std::string Bytes(uint64_t n) {
  char buf[32];
  if (n >= (1u << 20)) std::snprintf(buf, sizeof buf, "%.2f MiB", n / 1048576.0);
  else if (n >= 1024) std::snprintf(buf, sizeof buf, "%.1f KiB", n / 1024.0);
  else std::snprintf(buf, sizeof buf, "%llu B", ull(n));
  return buf;
}

uint64_t SplitMix(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// xoshiro256**: its whole state is four words, so a checkpoint can carry it exactly and a resumed
// run draws the very batches the uninterrupted run drew.
struct Rng {
  uint64_t s[4];
  explicit Rng(uint64_t seed) { for (auto& w : s) w = SplitMix(seed); }
  uint64_t Next() {
    const uint64_t r = std::rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t, s[3] = std::rotl(s[3], 45);
    return r;
  }
  // Uniform in [-a, a); 24 random bits convert to float exactly.
  float Uniform(float a) { return (static_cast<float>(Next() >> 40) * 0x1p-23f - 1.0f) * a; }
};

struct Param {
  std::string name;
  ckptdb::Shape shape;
  std::vector<float> w, g, m, v;  // g, m, v stay empty for a frozen tensor
};

enum { kEmb, kW1, kB1, kW2, kB2, kW3, kB3 };

struct Model {
  std::vector<Param> p;  // indexed by the enum above
  int64_t step = 0;
  Rng data{kDataSeed};
};

Model NewModel() {
  Model m;
  Rng init(kInitSeed);
  auto add = [&](const char* name, ckptdb::Shape shape, bool trainable) {
    size_t n = 1;
    for (int64_t d : shape) n *= d;
    Param p{name, shape, std::vector<float>(n), {}, {}, {}};
    // Weights U(-1/sqrt(fan_in), +), biases zero, embedding U(-1, 1): the usual defaults.
    float a = shape.size() == 1 ? 0.0f : trainable ? 1.0f / std::sqrt(float(shape[1])) : 1.0f;
    for (float& x : p.w) x = a ? init.Uniform(a) : 0.0f;
    if (trainable) p.g = p.m = p.v = std::vector<float>(n);
    m.p.push_back(std::move(p));
  };
  add("embed.weight", {kVocab, kEmbed}, false);  // frozen: identical bytes in every checkpoint
  add("fc1.weight", {kHidden, kEmbed}, true), add("fc1.bias", {kHidden}, true);
  add("fc2.weight", {kHidden, kHidden}, true), add("fc2.bias", {kHidden}, true);
  add("fc3.weight", {kClasses, kHidden}, true), add("fc3.bias", {kClasses}, true);
  return m;
}

// y = W x + b with W row-major [out, in]; b may be null.
void Linear(const float* W, const float* b, int in, int out, const float* x, float* y) {
  for (int o = 0; o < out; ++o) {
    float s = b ? b[o] : 0.0f;
    for (int i = 0; i < in; ++i) s += W[o * in + i] * x[i];
    y[o] = s;
  }
}

// dW += dy x^T, db += dy and, when dx is given, dx = W^T dy.
void LinearBack(const float* W, int in, int out, const float* x, const float* dy, float* dW,
                float* db, float* dx) {
  if (dx) std::fill(dx, dx + in, 0.0f);
  for (int o = 0; o < out; ++o) {
    const float d = dy[o];
    if (d == 0.0f) continue;  // ReLU zeroes most of dy; skipping is exact and faster
    db[o] += d;
    for (int i = 0; i < in; ++i) dW[o * in + i] += d * x[i];
    if (dx)
      for (int i = 0; i < in; ++i) dx[i] += d * W[o * in + i];
  }
}

void Relu(const float* z, float* h, int n) {
  for (int i = 0; i < n; ++i) h[i] = z[i] > 0.0f ? z[i] : 0.0f;
}

// A fixed random network labels the data, so the task is learnable but not trivial.
struct Teacher {
  std::vector<float> w1 = std::vector<float>(kTeacherHidden * kEmbed);
  std::vector<float> w2 = std::vector<float>(kClasses * kTeacherHidden);
  Teacher() {
    Rng r(kTeacherSeed);
    for (float& x : w1) x = r.Uniform(1.0f);
    for (float& x : w2) x = r.Uniform(1.0f);
  }
  int Label(const float* x) const {
    float h[kTeacherHidden], lg[kClasses];
    Linear(w1.data(), nullptr, kEmbed, kTeacherHidden, x, h);
    for (float& v : h) v = std::tanh(v);
    Linear(w2.data(), nullptr, kTeacherHidden, kClasses, h, lg);
    return int(std::max_element(lg, lg + kClasses) - lg);
  }
};

// Draws an example from the model's data RNG: the mean embedding of kTokens random tokens.
void Sample(Model& m, float* x) {
  std::fill(x, x + kEmbed, 0.0f);
  for (int t = 0; t < kTokens; ++t) {
    const float* e = m.p[kEmb].w.data() + (m.data.Next() >> 52) * kEmbed;
    for (int i = 0; i < kEmbed; ++i) x[i] += e[i] * (1.0f / kTokens);
  }
}

void AdamUpdate(Model& m) {
  const float c1 = float(1.0 - std::pow(double(kBeta1), double(m.step)));
  const float c2 = float(1.0 - std::pow(double(kBeta2), double(m.step)));
  for (Param& p : m.p) {
    for (size_t i = 0; i < p.g.size(); ++i) {
      const float g = p.g[i];
      p.m[i] = kBeta1 * p.m[i] + (1.0f - kBeta1) * g;
      p.v[i] = kBeta2 * p.v[i] + (1.0f - kBeta2) * g * g;
      p.w[i] -= kLr * (p.m[i] / c1) / (std::sqrt(p.v[i] / c2) + kEps);
    }
  }
}

// One Adam step on a fresh batch; single-threaded in a fixed order, so it is bit-reproducible.
float TrainStep(Model& m, const Teacher& teacher) {
  for (Param& p : m.p) std::fill(p.g.begin(), p.g.end(), 0.0f);
  auto W = [&](int i) { return m.p[i].w.data(); };
  auto G = [&](int i) { return m.p[i].g.data(); };
  float x[kEmbed], z1[kHidden], h1[kHidden], z2[kHidden], h2[kHidden], lg[kClasses];
  float d1[kHidden], d2[kHidden], dl[kClasses];
  double loss = 0;
  for (int b = 0; b < kBatch; ++b) {
    Sample(m, x);
    const int y = teacher.Label(x);
    Linear(W(kW1), W(kB1), kEmbed, kHidden, x, z1), Relu(z1, h1, kHidden);
    Linear(W(kW2), W(kB2), kHidden, kHidden, h1, z2), Relu(z2, h2, kHidden);
    Linear(W(kW3), W(kB3), kHidden, kClasses, h2, lg);
    const float mx = *std::max_element(lg, lg + kClasses);
    float sum = 0;
    for (int c = 0; c < kClasses; ++c) sum += (dl[c] = std::exp(lg[c] - mx));
    loss += std::log(sum) - (lg[y] - mx);
    for (int c = 0; c < kClasses; ++c) dl[c] = (dl[c] / sum - (c == y)) / kBatch;
    LinearBack(W(kW3), kHidden, kClasses, h2, dl, G(kW3), G(kB3), d2);
    for (int i = 0; i < kHidden; ++i) d2[i] = z2[i] > 0.0f ? d2[i] : 0.0f;
    LinearBack(W(kW2), kHidden, kHidden, h1, d2, G(kW2), G(kB2), d1);
    for (int i = 0; i < kHidden; ++i) d1[i] = z1[i] > 0.0f ? d1[i] : 0.0f;
    LinearBack(W(kW1), kEmbed, kHidden, x, d1, G(kW1), G(kB1), nullptr);  // embedding is frozen
  }
  ++m.step;
  AdamUpdate(m);
  return float(loss / kBatch);
}

// The checkpoint layout, in one place: used to save (as TensorRefs), restore into and compare.
std::vector<ckptdb::TensorBuffer> Buffers(Model& m) {
  std::vector<ckptdb::TensorBuffer> out;
  auto f32 = [&](std::string name, const Param& p, std::vector<float>& v) {
    out.push_back({std::move(name), DType::kF32, p.shape, v.data(), v.size() * sizeof(float)});
  };
  for (Param& p : m.p) f32(p.name, p, p.w);
  for (Param& p : m.p) {
    if (p.g.empty()) continue;
    f32("optim." + p.name + ".exp_avg", p, p.m);
    f32("optim." + p.name + ".exp_avg_sq", p, p.v);
  }
  out.push_back({"trainer.step", DType::kI64, {}, &m.step, sizeof m.step});
  out.push_back({"trainer.rng", DType::kU64, {4}, m.data.s, sizeof m.data.s});
  return out;
}

// Retention as a trainer would set it: the 3 newest checkpoints, a milestone every 200 steps and
// the best loss survive; the rest rotate away in the save's own commit and their disk space returns
// by background garbage collection.
ckptdb::RetentionPolicy Policy() {
  ckptdb::RetentionPolicy p;
  p.max_to_keep = 3;
  p.keep_every_steps = 200;
  p.keep_best = ckptdb::KeepBest{"loss", /*maximize=*/false, 1};
  return p;
}

ckptdb::Result<std::unique_ptr<ckptdb::Store>> OpenStore(const fs::path& dir) {
  ckptdb::StoreOptions options;
  options.chunk_size = kChunkSize;
  auto store = ckptdb::Store::Open(dir.string(), options);
  if (!store.ok()) return store;
  if (Status s = (*store)->SetRetention(Policy()); !s.ok()) return s;
  return store;
}

std::string KeptBecause(uint32_t reasons) {
  static const std::pair<uint32_t, const char*> kNames[] = {
      {ckptdb::kKeepHead, "head"}, {ckptdb::kKeepRecent, "recent"}, {ckptdb::kKeepStepMilestone, "milestone"},
      {ckptdb::kKeepHourMilestone, "hourly"}, {ckptdb::kKeepBest, "best-loss"}, {ckptdb::kKeepTagged, "tagged"},
      {ckptdb::kKeepNoLimit, "no-limit"}};
  // Appended piece by piece: `"," + std::string(name)` inlines into an insert that GCC 12 flags
  // with a false -Wrestrict at -O2.
  std::string out;
  for (const auto& [bit, name] : kNames) {
    if (!(reasons & bit)) continue;
    if (!out.empty()) out += ',';
    out += name;
  }
  return out;
}

Status SaveCheckpoint(ckptdb::Store& store, Model& m, double loss, const char* run) {
  std::vector<ckptdb::TensorRef> refs;
  for (auto& b : Buffers(m)) refs.push_back({b.name, b.dtype, b.shape, b.data, b.size_bytes});
  ckptdb::SaveOptions o;
  o.step = m.step;
  o.metadata = {{"model", "embed 4096x64 (frozen) -> 256 -> 256 -> 10, relu"},
                {"optimizer", "adam lr=0.001 betas=(0.9,0.999) eps=1e-8"},
                {"data", "bags of 8 tokens labelled by a fixed teacher, batch 32"},
                {"trainer", "ckptdb_demo"}};
  o.metrics = {{"loss", loss}};
  const auto t0 = std::chrono::steady_clock::now();
  auto info = store.Save(refs, o);
  if (!info.ok()) return info.status().WithContext("saving step " + std::to_string(m.step));
  std::printf("  [%s] step %4lld  loss %.4f  saved checkpoint %llu: %s logical, %s new, %.1f ms\n",
              run, ll(m.step), loss, ull(info->id), Bytes(info->logical_bytes).c_str(),
              Bytes(info->new_bytes).c_str(), Seconds(t0) * 1e3);
  return Status::OK();
}

// The training loop. With crash_at > 0 the process dies by SIGKILL right after that step, the way
// an OOM kill or a lost node ends a real job: no destructor, no flush, no goodbye.
Status Train(ckptdb::Store& store, Model& m, const Config& cfg, int64_t crash_at, const char* run) {
  static const Teacher teacher;
  double loss_sum = 0;
  int64_t n = 0;
  while (m.step < cfg.steps) {
    loss_sum += TrainStep(m, teacher), ++n;
    if (m.step == crash_at) {
      std::printf("  [%s] step %4lld  process %d crashes (SIGKILL) before this step is saved\n",
                  run, ll(m.step), int(getpid()));
      std::fflush(stdout);
      raise(SIGKILL);
    }
    if (m.step % cfg.every == 0 || m.step == cfg.steps) {
      if (Status s = SaveCheckpoint(store, m, loss_sum / n, run); !s.ok()) return s;
      loss_sum = 0, n = 0;  // each checkpoint's loss covers the steps since the previous one
    }
  }
  return Status::OK();
}

// What a trainer does at start-up: continue from the head, if there is one (the newest checkpoint
// until a rollback moves the head back: resuming from "latest" would then continue the wrong line).
Status Resume(ckptdb::Store& store, Model& m, const char* run) {
  auto list = store.List();
  if (!list.ok()) return list.status();
  if (list->empty()) {
    std::printf("  [%s] no checkpoint in the store: starting from step 0\n", run);
    return Status::OK();
  }
  const auto t0 = std::chrono::steady_clock::now();
  // RestoreInto fills the live model's own buffers: no second copy of the state.
  if (Status s = store.RestoreInto(ckptdb::Selector::Head(), Buffers(m)); !s.ok()) return s;
  auto head = store.Head();
  if (!head.ok()) return head.status();
  std::printf("  [%s] restored checkpoint %llu (step %lld) in %.1f ms; resuming at step %lld\n",
              run, ull(head->value_or(0)), ll(m.step), Seconds(t0) * 1e3, ll(m.step + 1));
  return Status::OK();
}

// Both runs must agree on every byte of every tensor, optimizer state and RNG included.
bool SameState(Model& a, Model& b) {
  auto ta = Buffers(a), tb = Buffers(b);
  uint64_t bytes = 0, differ = 0;
  for (size_t i = 0; i < ta.size(); ++i) {
    bytes += ta[i].size_bytes;
    if (ta[i].size_bytes == tb[i].size_bytes &&
        std::memcmp(ta[i].data, tb[i].data, ta[i].size_bytes) == 0)
      continue;
    ++differ;
    std::printf("  %s differs between run A and run B\n", ta[i].name.c_str());
  }
  std::printf("compare: %zu tensors, %s: %s\n", ta.size(), Bytes(bytes).c_str(),
              differ ? "MISMATCH" : "bit-identical");
  return differ == 0;
}

Status PrintHistory(ckptdb::Store& store, int64_t saves) {
  // The last save's rotation is collected in the background; wait so the disk figure is final.
  if (Status s = store.WaitForBackgroundWork(); !s.ok()) return s;
  auto list = store.List();
  if (!list.ok()) return list.status();
  auto head = store.Head();
  if (!head.ok()) return head.status();
  const auto why = ckptdb::DecideRetention(Policy(), *list, *head);
  std::printf("\nhistory of run B (%s), newest first: %zu of %lld checkpoints kept\n", store.path().c_str(),
              list->size(), ll(saves));
  std::printf("  %-4s %5s %6s  %-23s %11s %11s %8s  %s\n", "id", "step", "parent", "committed (UTC)", "logical",
              "new", "loss", "kept because");
  for (size_t i = list->size(); i-- > 0;) {
    const ckptdb::CheckpointInfo& c = (*list)[i];
    const time_t secs = c.commit_time_ns / 1000000000;
    struct tm tm;
    gmtime_r(&secs, &tm);
    char when[32], parent[24] = "-";
    std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    if (c.parent) std::snprintf(parent, sizeof parent, "%llu", ull(*c.parent));
    auto loss = c.metrics.find("loss");
    std::printf("  %-4llu %5lld %6s  %s.%03d %11s %11s %8.4f  %s\n", ull(c.id), ll(c.step), parent, when,
                int(c.commit_time_ns / 1000000 % 1000), Bytes(c.logical_bytes).c_str(), Bytes(c.new_bytes).c_str(),
                loss == c.metrics.end() ? NAN : loss->second, KeptBecause(why[i].reasons).c_str());
  }
  auto space = store.Space();
  if (!space.ok()) return space.status();
  std::printf("space: %s of tensors in %s of unique chunks (dedup %.2fx); %s on disk after background gc\n",
              Bytes(space->logical_bytes).c_str(), Bytes(space->unique_bytes).c_str(), space->dedup_ratio,
              Bytes(space->disk_bytes).c_str());
  return Status::OK();
}

const char kUsage[] =
    "usage: ckptdb_demo [--dir DIR] [--steps N] [--every K] [--kill-at S] [--keep]\n"
    "  --dir DIR    where the stores go (DIR/run-a, DIR/run-b); default: a fresh temp dir,\n"
    "               removed at the end unless --keep\n"
    "  --steps N    training steps (default 400)\n"
    "  --every K    save a checkpoint every K steps (default 50)\n"
    "  --kill-at S  kill run B's trainer after step S, 1 <= S < N (default 237)\n"
    "  --keep       keep the default temp dir\n";

// Returns false after printing a one-line error.
bool ParseArgs(int argc, char** argv, Config& cfg, bool& help) {
  auto fail = [](const std::string& msg) {
    std::fprintf(stderr, "ckptdb_demo: %s (see --help)\n", msg.c_str());
    return false;
  };
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i], value;
    const bool has_eq = flag.find('=') != std::string::npos;
    if (has_eq) value = flag.substr(flag.find('=') + 1), flag.resize(flag.find('='));
    if (flag == "--help" || flag == "-h") return help = true;
    if (flag == "--keep" && !has_eq) {
      cfg.keep = true;
      continue;
    }
    if (flag != "--dir" && flag != "--steps" && flag != "--every" && flag != "--kill-at")
      return fail("unknown flag '" + std::string(argv[i]) + "'");
    if (!has_eq) {
      if (i + 1 >= argc) return fail(flag + " needs a value");
      value = argv[++i];
    }
    if (flag == "--dir") {
      if (value.empty()) return fail("--dir needs a non-empty path");
      cfg.dir = value;
      continue;
    }
    int64_t n = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec != std::errc() || end != value.data() + value.size() || n <= 0)
      return fail(flag + " needs a positive integer, got '" + value + "'");
    (flag == "--steps" ? cfg.steps : flag == "--every" ? cfg.every : cfg.kill_at) = n;
  }
  if (cfg.kill_at >= cfg.steps)
    return fail("--kill-at " + std::to_string(cfg.kill_at) + " must be below --steps " +
                std::to_string(cfg.steps));
  return true;
}

int Fail(const Status& s, const char* what) {
  std::fprintf(stderr, "ckptdb_demo: %s: %s\n", what, s.ToString().c_str());
  return 1;
}

int RunDemo(const Config& cfg, const fs::path& dir) {
  const fs::path dir_a = dir / "run-a", dir_b = dir / "run-b";
  for (const fs::path& d : {dir_a, dir_b})
    if (fs::exists(d))
      return std::fprintf(stderr, "ckptdb_demo: %s exists; pick a fresh --dir\n", d.c_str()), 1;
  Model probe = NewModel();
  uint64_t state = 0;
  for (auto& b : Buffers(probe)) state += b.size_bytes;
  std::printf("model: embedding %dx%d (frozen) -> %d -> %d -> %d, Adam; batch %d\n", kVocab,
              kEmbed, kHidden, kHidden, kClasses, kBatch);
  std::printf("checkpoint: %zu tensors, %s; chunk size %s; %lld steps, saving every %lld\n",
              Buffers(probe).size(), Bytes(state).c_str(), Bytes(kChunkSize).c_str(),
              ll(cfg.steps), ll(cfg.every));
  std::printf("retention: keep the %llu newest, one per %llu steps, and the best loss\n",
              ull(Policy().max_to_keep), ull(Policy().keep_every_steps));

  // Run B's doomed trainer is forked before this process opens any store: forking after RocksDB
  // has started its background threads would leave the child without them.
  std::printf("\nrun B, part 1 (%s): a trainer process that will be killed after step %lld\n",
              dir_b.c_str(), ll(cfg.kill_at));
  std::fflush(stdout);
  auto t0 = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid < 0) return std::perror("ckptdb_demo: fork"), 1;
  if (pid == 0) {
    auto store = OpenStore(dir_b);
    if (!store.ok()) _exit(Fail(store.status(), "run B child"));
    Model m = NewModel();
    Status s = Train(**store, m, cfg, cfg.kill_at, "B");
    _exit(s.ok() ? 3 : Fail(s, "run B child"));
  }
  int ws = 0;
  if (waitpid(pid, &ws, 0) != pid) return std::perror("ckptdb_demo: waitpid"), 1;
  if (!WIFSIGNALED(ws) || WTERMSIG(ws) != SIGKILL) {
    std::fprintf(stderr, "ckptdb_demo: run B's trainer did not die by SIGKILL (status %d)\n", ws);
    return 1;
  }
  std::printf("  [B] trainer %d is gone (SIGKILL) after %.2f s\n", int(pid), Seconds(t0));

  std::printf("\nrun B, part 2: a new trainer resumes from the store\n");
  t0 = std::chrono::steady_clock::now();
  Model b = NewModel();
  auto store_b = OpenStore(dir_b);
  if (!store_b.ok()) return Fail(store_b.status(), "reopening run B");
  if (Status s = Resume(**store_b, b, "B"); !s.ok()) return Fail(s, "resuming run B");
  if (Status s = Train(**store_b, b, cfg, 0, "B"); !s.ok()) return Fail(s, "run B");
  std::printf("  [B] done in %.2f s\n", Seconds(t0));

  std::printf("\nrun A (%s): the same training, uninterrupted\n", dir_a.c_str());
  t0 = std::chrono::steady_clock::now();
  Model a = NewModel();
  auto store_a = OpenStore(dir_a);
  if (!store_a.ok()) return Fail(store_a.status(), "opening run A");
  if (Status s = Train(**store_a, a, cfg, 0, "A"); !s.ok()) return Fail(s, "run A");
  std::printf("  [A] done in %.2f s\n", Seconds(t0));

  if (Status s = PrintHistory(**store_b, (cfg.steps + cfg.every - 1) / cfg.every); !s.ok())
    return Fail(s, "listing run B");
  std::printf("\n");
  return SameState(a, b) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);  // line by line, even into a pipe: the child dies unflushed
  Config cfg;
  bool help = false;
  if (!ParseArgs(argc, argv, cfg, help)) return 2;
  if (help) return std::fputs(kUsage, stdout), 0;

  const auto start = std::chrono::steady_clock::now();
  fs::path dir = cfg.dir;
  std::error_code ec;
  if (cfg.dir.empty()) {
    std::string tmpl = (fs::temp_directory_path(ec) / "ckptdb-demo-XXXXXX").string();
    if (ec || mkdtemp(tmpl.data()) == nullptr)
      return std::fprintf(stderr, "ckptdb_demo: cannot create a temp dir: %s\n",
                          std::strerror(errno)), 1;
    dir = tmpl;
  } else if (fs::create_directories(dir, ec); ec) {
    return std::fprintf(stderr, "ckptdb_demo: cannot create %s: %s\n", dir.c_str(),
                        ec.message().c_str()), 1;
  }

  const int rc = RunDemo(cfg, dir);
  if (cfg.dir.empty() && !cfg.keep) fs::remove_all(dir, ec);
  else std::printf("stores kept in %s (see: ckptdb log %s/run-b)\n", dir.c_str(), dir.c_str());
  std::printf("%s in %.2f s\n", rc == 0 ? "PASS" : "FAIL", Seconds(start));
  return rc;
}

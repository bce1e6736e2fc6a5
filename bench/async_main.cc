// async: how long Store::SaveAsync stalls the caller, against a plain memcpy of the same bytes
// into memory already allocated and touched, and how long its persist takes to be durable,
// against a synchronous Save of the same bytes. One run, one disk, medians of --repeat fresh
// stores; the state is bench/model_state.h's. Each repeat:
//   1. Save (synchronous) of a fresh state: every chunk new.
//   2. SaveAsync of a fresh state (every chunk new) in a store that has never captured: the
//      stall includes allocating and touching the staging memory; then Wait.
//   3. SaveAsync of another fresh state: staging is warm, so the stall is the capture alone;
//      Wait gives the time to durable, to set against 1.
//   4. SaveAsync with ~1% of the tensors changed and the rest passed with known_chunks (3's).
// A measurement, not a test: it exits 0 when targets fail.
//
//   async [--gib G (2.1)] [--repeat N (3)] [--chunk-mib N (4)] [--threads N] [--dir DIR]
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "bench/model_state.h"
#include "ckptdb/ckptdb.h"
#include "tests/support/test_support.h"

namespace {

using namespace ckptdb;
using bench::kMiB, bench::Now, bench::State, bench::Spec;
namespace fs = std::filesystem;

std::string g_scratch;
[[noreturn]] void Quit(int rc) {
  std::error_code ec;
  if (!g_scratch.empty()) fs::remove_all(g_scratch, ec);
  std::_Exit(rc);
}
[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "async bench: %s\n", msg.c_str());
  Quit(1);
}
void OnSignal(int sig) { Quit(128 + sig); }

template <typename T>
T Check(Result<T> r, const char* what) {
  if (!r.ok()) Die(std::string(what) + ": " + r.status().ToString());
  return std::move(r).value();
}

struct Args {
  double gib = 2.1;
  int repeat = 3, threads = 0;
  uint64_t chunk_mib = 4;
  std::string dir;
};

// VmHWM or VmRSS of this process, in bytes.
uint64_t ProcStatus(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string k;
  uint64_t v = 0;
  while (in >> k)
    if (k == key && in >> v) return v * 1024;
  return 0;
}
void ResetPeak() { std::ofstream("/proc/self/clear_refs") << "5"; }

std::map<std::string, std::vector<double>> g_m;
void Rec(const std::string& k, double v) { g_m[k].push_back(v); }
double Med(const std::string& k) {
  std::vector<double> v = g_m[k];
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

SaveOptions AtStep(int64_t step) {
  SaveOptions o;
  o.step = step;
  return o;
}

void RunRepeat(int r, const Args& a, State& s, State& dst, const std::string& scratch, int cores) {
  std::printf("-- repeat %d/%d\n", r + 1, a.repeat);
  std::vector<size_t> all(s.specs.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  // The baseline: one memcpy per tensor into memory written before (so no page faults).
  double t0 = Now();
  for (size_t i = 0; i < s.specs.size(); ++i) std::memcpy(dst.at(i), s.at(i), s.specs[i].bytes);
  const double copy = Now() - t0;
  t0 = Now();
  bench::ParallelFor(cores, s.specs.size(), [&](size_t i) { std::memcpy(dst.at(i), s.at(i), s.specs[i].bytes); });
  const double copy_par = Now() - t0;
  std::printf("  memcpy into touched memory      %7.3f s (%.2f GB/s); on %d threads %7.3f s\n", copy,
              s.logical / 1e9 / copy, cores, copy_par);
  Rec("copy", copy);

  StoreOptions so;
  so.chunk_size = a.chunk_mib * kMiB;
  so.threads = a.threads;
  const std::string dir = scratch + "/store-" + std::to_string(r);
  auto store = Check(Store::Open(dir, so), "open");
  const std::vector<TensorRef> refs = bench::Refs(s);

  bench::Fill(s, all, 100 * r + 1, cores);
  t0 = Now();
  const SavedCheckpoint sync = Check(store->Save(refs, AtStep(1)), "save");
  const double sync_s = Now() - t0;
  std::printf("  Save (synchronous, all new)     %7.3f s (%.2f GB/s)\n", sync_s, s.logical / 1e9 / sync_s);
  Rec("sync", sync_s);

  const uint64_t rss0 = ProcStatus("VmRSS:");
  ResetPeak();
  double stall[2], durable[2];
  SavedCheckpoint last;  // the warm save's chunks: the known lists of step 4
  for (int k = 0; k < 2; ++k) {
    bench::Fill(s, all, 100 * r + 2 + k, cores);
    t0 = Now();
    SaveHandle h = Check(store->SaveAsync(refs, AtStep(2 + k)), "save async");
    stall[k] = Now() - t0;
    const SavedCheckpoint c = Check(h.Wait(), "wait");
    last = c;
    durable[k] = Now() - t0;
    if (c.new_bytes != s.logical) std::printf("  WARNING: new_bytes %llu of %llu\n", (unsigned long long)c.new_bytes,
                                              (unsigned long long)s.logical);
    std::printf("  SaveAsync %s stall %7.3f s = %.2fx memcpy; durable after %7.3f s = %.2fx Save\n",
                k ? "(staging warm)  " : "(first capture) ", stall[k], stall[k] / copy, durable[k],
                durable[k] / sync_s);
  }
  const uint64_t peak = ProcStatus("VmHWM:");
  Rec("stall_first", stall[0]);
  Rec("stall", stall[1]);
  Rec("durable", durable[1]);
  Rec("peak_extra", double(peak > rss0 ? peak - rss0 : 0));
  Rec("rss0", double(rss0));

  // ~1% of the bytes change (the largest tensors that fit, and the step counter); the rest are
  // passed with the chunks the last save returned, as ckptdb.Store.save(skip_unchanged=True) does.
  std::vector<size_t> order(all);
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return s.specs[x].bytes > s.specs[y].bytes; });
  std::rotate(order.begin(), order.begin() + (r * 7) % order.size(), order.end());
  std::vector<bool> changed(s.specs.size());
  changed.back() = true;
  uint64_t changed_bytes = s.specs.back().bytes;
  for (size_t i : order)
    if (changed_bytes < s.logical / 100 * 9 / 10 && changed_bytes + s.specs[i].bytes <= s.logical / 100 * 5 / 4)
      changed[i] = true, changed_bytes += s.specs[i].bytes;
  std::vector<size_t> picked;
  for (size_t i = 0; i < changed.size(); ++i)
    if (changed[i]) picked.push_back(i);
  bench::Fill(s, picked, 100 * r + 9, cores);
  std::vector<TensorRef> hinted = refs;
  for (size_t i = 0; i < hinted.size(); ++i)
    if (!changed[i]) hinted[i].known_chunks = last.chunks[i];
  t0 = Now();
  SaveHandle h = Check(store->SaveAsync(hinted, AtStep(4)), "save async 1%");
  const double stall_inc = Now() - t0;
  const SavedCheckpoint inc = Check(h.Wait(), "wait 1%");
  const double durable_inc = Now() - t0;
  std::printf("  SaveAsync, %zu of %zu tensors changed (%.1f MB), rest known: stall %7.3f s = %.1f%% of the full "
              "capture; durable after %.3f s, new %.1f MB\n", picked.size(), s.specs.size(), changed_bytes / 1e6,
              stall_inc, 100 * stall_inc / stall[1], durable_inc, inc.new_bytes / 1e6);
  Rec("stall_inc", stall_inc);
  Rec("durable_inc", durable_inc);
  if (Status closed = store->Close(); !closed.ok()) Die("close: " + closed.ToString());
  store.reset();
  fs::remove_all(dir);
}

int Run(const Args& a, const std::string& scratch) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  State s, dst;
  const std::vector<Spec> specs = bench::PlanModel(static_cast<uint64_t>(a.gib * (1ull << 30)));
  if (!bench::Allocate(s, specs) || !bench::Allocate(dst, specs)) Die("out of memory");
  std::memset(dst.arena, 0, dst.arena_bytes);
  std::vector<size_t> all(s.specs.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  bench::Fill(s, all, 0, cores);
  std::printf("ckptdb async-save benchmark\n");
  std::printf("machine   %d cores (nproc), CPU %s; scratch %s (%s)\n", cores, bench::CpuModel().c_str(),
              scratch.c_str(), bench::FilesystemOf(scratch).c_str());
  std::printf("state     %zu tensors, %.3f GB (%.2f GiB); chunk %llu MiB; threads %s; repeat %d (medians)\n",
              s.specs.size(), s.logical / 1e9, s.logical / double(1ull << 30), (unsigned long long)a.chunk_mib,
              a.threads ? std::to_string(a.threads).c_str() : "0 (all cores)", a.repeat);
  for (int r = 0; r < a.repeat; ++r) RunRepeat(r, a, s, dst, scratch, cores);

  std::printf("\n== summary: medians of %d repeat(s), state %.3f GB\n", a.repeat, s.logical / 1e9);
  std::printf("baseline  memcpy into touched memory %.3f s | Save (synchronous) %.3f s\n", Med("copy"), Med("sync"));
  std::printf("async     first capture (allocates staging) %.3f s | later captures %.3f s | durable %.3f s | "
              "1%% changed: stall %.3f s, durable %.3f s\n", Med("stall_first"), Med("stall"), Med("durable"),
              Med("stall_inc"), Med("durable_inc"));
  bench::Target(16, "stall", "target <= 1.3x", Med("stall") <= 1.3 * Med("copy"),
                "SaveAsync returns after %.3f s = %.2fx a memcpy of the state (%.3f s)", Med("stall"),
                Med("stall") / Med("copy"), Med("copy"));
  bench::Target(16, "stall, 1% changed", "target <= 5%", Med("stall_inc") <= 0.05 * Med("stall"),
                "%.3f s = %.1f%% of the full capture (%.3f s)", Med("stall_inc"),
                100 * Med("stall_inc") / Med("stall"), Med("stall"));
  std::printf("durable   SaveAsync to durable %.3f s = %.2fx the synchronous Save (%.3f s)\n", Med("durable"),
              Med("durable") / Med("sync"), Med("sync"));
  std::printf("memory    peak RSS during asynchronous saves: %.3f GB above the %.3f GB before them (state, memcpy "
              "target and store) = %.2fx the state: the staging copy\n", Med("peak_extra") / 1e9, Med("rss0") / 1e9,
              Med("peak_extra") / s.logical);
  std::free(s.arena);
  std::free(dst.arena);
  return 0;
}

constexpr const char* kUsage =
    "usage: async [--gib G (2.1)] [--repeat N (3)] [--chunk-mib N (4)] [--threads N (0 = all cores)]\n"
    "             [--dir DIR (scratch parent; default $CKPTDB_SCRATCH or /tmp)]\n";

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  Args a;
  for (int i = 1; i < argc; ++i) try {
      std::string f = argv[i];
      auto val = [&]() -> std::string {
        if (i + 1 >= argc) Die(f + " needs a value\n" + kUsage);
        return argv[++i];
      };
      if (f == "--gib") a.gib = std::stod(val());
      else if (f == "--repeat") a.repeat = std::stoi(val());
      else if (f == "--chunk-mib") a.chunk_mib = std::stoull(val());
      else if (f == "--threads") a.threads = std::stoi(val());
      else if (f == "--dir") a.dir = val();
      else if (f == "--help" || f == "-h") return std::printf("%s", kUsage), 0;
      else Die("unknown flag " + f + "\n" + kUsage);
    } catch (const std::logic_error&) {
      Die(std::string("bad value for ") + argv[i - 1] + "\n" + kUsage);
    }
  if (a.gib <= 0 || a.repeat < 1 || a.chunk_mib < 1 || a.threads < 0) Die("bad flag value");
  if (!a.dir.empty()) ::setenv("CKPTDB_SCRATCH", a.dir.c_str(), 1);
  int rc;
  {
    testing::ScratchDir scratch;
    g_scratch = scratch.path();
    std::signal(SIGINT, OnSignal);
    std::signal(SIGTERM, OnSignal);
    rc = Run(a, scratch.path());
  }
  return rc;
}

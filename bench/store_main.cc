// store: the main ckptdb benchmark. One run measures, on the same disk and the same bytes, the
// disk and hash ceilings (O_DIRECT write, buffered write + fsync, O_DIRECT read, all-core BLAKE3)
// and the store (full save, 1% incremental save, Restore, RestoreInto, write amplification from
// /proc/self/io), repeats everything --repeat times on fresh stores and reports medians against
// the targets. It is a measurement, not a test: it exits 0 when targets fail.
//
//   store [--gib G] [--repeat N] [--chunk-mib N] [--threads N] [--no-direct-io] [--dir DIR]
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "bench/model_state.h"
#include "ckptdb/ckptdb.h"
#include "store/blake3.h"
#include "tests/support/test_support.h"

namespace {

using namespace ckptdb;
namespace fs = std::filesystem;

using bench::State, bench::Spec, bench::PlanModel, bench::Fill, bench::Refs;
using bench::kAlign, bench::kIoPiece, bench::kMiB, bench::DropCaches, bench::IoWriteBytes, bench::Mix,
    bench::Now, bench::ParallelFor;

std::string g_scratch;  // removed on every exit path: normal end, Die, SIGINT/SIGTERM
[[noreturn]] void Quit(int rc) {
  std::error_code ec;
  if (!g_scratch.empty()) fs::remove_all(g_scratch, ec);  // best effort from a signal handler
  std::_Exit(rc);
}
[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "store bench: %s\n", msg.c_str());
  Quit(1);
}

struct Args {
  double gib = 2;
  int repeat = 3, threads = 0;
  uint64_t chunk_mib = 4;
  bool direct = true;
  std::string dir;
};
// Writes the arena to `path` in 16 MiB writes, then fsync; returns seconds (open to fsync done).
double WriteBaseline(const std::string& path, const State& s, bool direct) {
  std::string error;
  double t = bench::TimedWrite(path, s.arena, s.arena_bytes, s.arena_bytes, direct, &error);
  if (t < 0) Die(error);
  return t;
}

double ReadBaseline(const std::string& path, uint8_t* buf, uint64_t expect) {
  std::string error;
  double t = bench::TimedRead(path, buf, expect, &error);
  if (t < 0) Die(error);
  return t;
}

// The same read into memory this process has never written, as any loader that allocates its
// destination pays (torch.load, safetensors): on VMs the first write to new pages is costly.
double ReadFreshBaseline(const std::string& path, uint64_t expect) {
  double t0 = Now();
  const uint64_t mapped = (expect + kIoPiece - 1) / kIoPiece * kIoPiece;
  void* p = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED) Die("mmap for the fresh-memory read baseline");
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECT);
  if (fd < 0) Die("open " + path + " with O_DIRECT: " + std::strerror(errno));
  uint64_t total = 0;
  for (ssize_t n; (n = ::read(fd, static_cast<uint8_t*>(p) + total, kIoPiece)) != 0; total += static_cast<uint64_t>(n))
    if (n < 0) Die("read " + path + ": " + std::strerror(errno));
  double t = Now() - t0;
  ::close(fd);
  ::munmap(p, mapped);
  if (total != expect) Die("read " + std::to_string(total) + " bytes of " + path);
  return t;
}

double HashBaseline(const State& s, uint64_t chunk, int threads) {
  std::vector<std::pair<const uint8_t*, uint64_t>> chunks;
  for (size_t i = 0; i < s.specs.size(); ++i)
    for (uint64_t off = 0; off < s.specs[i].bytes; off += chunk)
      chunks.emplace_back(s.at(i) + off, std::min(chunk, s.specs[i].bytes - off));
  double t0 = Now();
  ParallelFor(threads, chunks.size(), [&](size_t k) {
    uint8_t out[blake3::kOutLen];
    blake3::Hash(chunks[k].first, chunks[k].second, out);
  });
  return Now() - t0;
}

// Writing into freshly mapped memory: what Restore's library-allocated buffers (and any other
// staging copy into new memory) pay in page faults before the bytes land.
double FirstTouch(uint64_t n) {
  double t0 = Now();
  void* p = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) Die("mmap failed");
  std::memset(p, 1, n);
  double t = Now() - t0;
  ::munmap(p, n);
  return t;
}

template <typename T>
T Check(Result<T> r, const char* what) {
  if (!r.ok()) Die(std::string(what) + ": " + r.status().ToString());
  return std::move(r).value();
}
void Check(const Status& s, const char* what) {
  if (!s.ok()) Die(std::string(what) + ": " + s.ToString());
}
SaveOptions AtStep(int64_t step) {
  SaveOptions o;
  o.step = step;
  return o;
}

double GBs(uint64_t bytes, double secs) { return secs > 0 ? bytes / 1e9 / secs : 0; }
void Line(const char* label, uint64_t bytes, double secs, const char* extra = "") {
  std::printf("  %-26s %8.3f GB in %7.3f s = %6.2f GB/s%s\n", label, bytes / 1e9, secs, GBs(bytes, secs), extra);
}

// Every per-repeat figure, by name; the summary takes medians.
std::map<std::string, std::vector<double>> g_m;
void Rec(const std::string& k, double v) { g_m[k].push_back(v); }
double Med(const std::string& k) {
  std::vector<double> v = g_m[k];
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void OnSignal(int sig) { Quit(128 + sig); }

void RunRepeat(int r, const Args& a, State& s, State& into, const std::string& scratch, int cores) {
  const uint64_t chunk = a.chunk_mib * kMiB;
  std::printf("-- repeat %d/%d\n", r + 1, a.repeat);
  // Baselines on the same bytes and disk.
  const std::string file = scratch + "/baseline.bin";
  ::sync();
  uint64_t io0 = IoWriteBytes();
  double t = WriteBaseline(file, s, true);
  uint64_t io_direct = IoWriteBytes() - io0;
  Line("O_DIRECT write+fsync", s.arena_bytes, t);
  Rec("dw", GBs(s.arena_bytes, t));
  DropCaches();
  t = ReadBaseline(file, into.arena, s.arena_bytes);
  Line("O_DIRECT read", s.arena_bytes, t);
  Rec("dr", GBs(s.arena_bytes, t));
  DropCaches();
  t = ReadFreshBaseline(file, s.arena_bytes);
  Line("O_DIRECT read, new memory", s.arena_bytes, t);
  Rec("drf", GBs(s.arena_bytes, t));
  fs::remove(file);
  ::sync();
  t = WriteBaseline(file, s, false);
  Line("buffered write+fsync", s.arena_bytes, t);
  Rec("bw", GBs(s.arena_bytes, t));
  fs::remove(file);
  t = HashBaseline(s, chunk, cores);
  char extra[200];
  std::snprintf(extra, sizeof extra, "   (%d threads, %s)", cores, blake3::BackendName(blake3::BestBackend()));
  Line("BLAKE3 all-core", s.logical, t, extra);
  Rec("h", GBs(s.logical, t));
  const uint64_t touch = std::min<uint64_t>(s.logical, 512 * kMiB);
  t = FirstTouch(touch);
  Line("first touch of new memory", touch, t, "   (mmap + memset: page-fault cost)");
  Rec("ft", GBs(touch, t));
  if (r == 0)
    std::printf("  /proc/self/io check: O_DIRECT baseline counted %.3f GB of %.3f GB written\n",
                io_direct / 1e9, s.arena_bytes / 1e9);

  // Full save into a fresh store.
  const std::string dir = scratch + "/store-" + std::to_string(r);
  StoreOptions so;
  so.chunk_size = chunk;
  so.threads = a.threads;
  so.use_direct_io = a.direct;
  auto store = Check(Store::Open(dir, so), "open");
  const std::vector<TensorRef> refs = Refs(s);
  DropCaches();
  io0 = IoWriteBytes();
  double t0 = Now();
  CheckpointInfo full = Check(store->Save(refs, AtStep(1)), "full save");
  t = Now() - t0;
  uint64_t written = IoWriteBytes() - io0;
  std::snprintf(extra, sizeof extra, "   new %.3f GB, written %.3f GB = %.3fx", full.new_bytes / 1e9,
                written / 1e9, full.new_bytes ? double(written) / full.new_bytes : 0);
  Line("full save", s.logical, t, extra);
  Rec("save", GBs(s.logical, t));
  Rec("save_s", t);
  Rec("wa_full", full.new_bytes ? double(written) / full.new_bytes : 0);

  // Incremental: overwrite tensors totalling ~1% of the bytes (largest first that fit) and the
  // step counter; changed chunk bytes are those whose new digest the store does not hold.
  std::set<Digest> held;
  for (const auto& ti : Check(store->Describe(Selector::Latest()), "describe").tensors)
    held.insert(ti.chunks.begin(), ti.chunks.end());
  std::vector<size_t> order(s.specs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return s.specs[x].bytes > s.specs[y].bytes; });
  std::rotate(order.begin(), order.begin() + (r * 7) % order.size(), order.end());  // vary per repeat
  const uint64_t goal = s.logical / 100;
  std::vector<size_t> picked = {s.specs.size() - 1};  // the step counter
  uint64_t picked_bytes = s.specs.back().bytes;
  for (size_t i : order)
    if (picked_bytes < goal * 9 / 10 && i + 1 != s.specs.size() && picked_bytes + s.specs[i].bytes <= goal * 5 / 4)
      picked.push_back(i), picked_bytes += s.specs[i].bytes;
  Fill(s, picked, r + 1, cores);
  uint64_t changed = 0;
  std::set<Digest> fresh;
  for (size_t i : picked)
    for (uint64_t off = 0; off < s.specs[i].bytes; off += chunk) {
      uint64_t len = std::min(chunk, s.specs[i].bytes - off);
      Digest d = HashBytes(s.at(i) + off, len);
      if (!held.count(d) && fresh.insert(d).second) changed += len;
    }
  ::sync();
  io0 = IoWriteBytes();
  t0 = Now();
  CheckpointInfo inc = Check(store->Save(refs, AtStep(2)), "incremental save");
  t = Now() - t0;
  written = IoWriteBytes() - io0;
  std::snprintf(extra, sizeof extra, "   %zu tensors changed, %.1f MB changed chunk bytes, new %.1f MB, written %.1f MB",
                picked.size(), changed / 1e6, inc.new_bytes / 1e6, written / 1e6);
  Line("incremental save", s.logical, t, extra);
  if (inc.new_bytes != changed)
    std::printf("  WARNING: new_bytes %llu != changed chunk bytes %llu\n", (unsigned long long)inc.new_bytes,
                (unsigned long long)changed);
  Rec("inc_s", t);
  Rec("inc_ratio", changed ? double(written) / changed : 0);
  Rec("wa_inc", inc.new_bytes ? double(written) / inc.new_bytes : 0);
  Rec("inc_changed", double(changed));
  Rec("inc_written", double(written));

  // Unchanged save: nothing new to write, so this is hashing + index lookups + flush + commit.
  t0 = Now();
  CheckpointInfo same = Check(store->Save(refs, AtStep(3)), "unchanged save");
  t = Now() - t0;
  std::snprintf(extra, sizeof extra, "   new %llu bytes (hash + lookup + commit only)", (unsigned long long)same.new_bytes);
  Line("unchanged save", s.logical, t, extra);
  Rec("same", GBs(s.logical, t));
  Rec("store_bytes", double(testing::DirectoryBytes(dir)));

  // Restore in a freshly opened store with a cold page cache, as a restarting job would.
  store.reset();
  DropCaches();
  t0 = Now();
  store = Check(Store::Open(dir, so), "reopen");
  Rec("open_s", Now() - t0);
  t0 = Now();
  std::vector<Tensor> out = Check(store->Restore(Selector::Latest()), "restore");
  t = Now() - t0;
  Line("Restore (lib buffers)", s.logical, t);
  Rec("restore", GBs(s.logical, t));
  if (out.size() != s.specs.size()) Die("restore returned " + std::to_string(out.size()) + " tensors");
  for (size_t i = 0; i < out.size(); ++i)
    if (out[i].name != s.specs[i].name || out[i].bytes.size() != s.specs[i].bytes ||
        std::memcmp(out[i].bytes.data(), s.at(i), s.specs[i].bytes) != 0)
      Die("Restore: tensor " + s.specs[i].name + " differs from the saved state");
  out.clear();

  std::memset(into.arena, 0, into.arena_bytes);  // prefaulted and cleared, outside the timing
  std::vector<TensorBuffer> bufs;
  for (size_t i = 0; i < s.specs.size(); ++i)
    bufs.push_back({s.specs[i].name, s.specs[i].dtype, s.specs[i].shape, into.at(i), s.specs[i].bytes});
  DropCaches();
  t0 = Now();
  Check(store->RestoreInto(Selector::Latest(), bufs), "restore into");
  t = Now() - t0;
  Line("RestoreInto (prealloc)", s.logical, t);
  Rec("into", GBs(s.logical, t));
  for (size_t i = 0; i < s.specs.size(); ++i)
    if (std::memcmp(into.at(i), s.at(i), s.specs[i].bytes) != 0)
      Die("RestoreInto: tensor " + s.specs[i].name + " differs from the saved state");
  store.reset();
  fs::remove_all(dir);
}

// One target line: label, the measurement (printf-style), the target, PASS or FAIL.
int Run(const Args& a, const std::string& scratch) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const std::string cpu = bench::CpuModel();
  State s, into;
  const std::vector<Spec> specs = PlanModel(static_cast<uint64_t>(a.gib * (1ull << 30)));
  if (!bench::Allocate(s, specs) || !bench::Allocate(into, specs)) Die("out of memory");
  std::memset(into.arena, 0, into.arena_bytes);
  int big = 0, mid = 0, small = 0;
  for (const auto& sp : s.specs) (sp.bytes >= 128 * kMiB ? big : sp.bytes >= kMiB ? mid : small)++;
  std::printf("ckptdb store benchmark\n");
  std::printf("machine   %d cores (nproc), CPU %s, BLAKE3 backend %s\n", cores, cpu.c_str(),
              blake3::BackendName(blake3::BestBackend()));
  std::printf("state     %zu tensors, %.3f GB (%.2f GiB): %d >= 128 MiB, %d of 1-128 MiB, %d < 1 MiB (incl. 0-d step)\n",
              s.specs.size(), s.logical / 1e9, s.logical / double(1ull << 30), big, mid, small);
  std::printf("store     chunk %llu MiB, threads %s, use_direct_io %s; scratch %s; repeat %d (medians reported)\n",
              (unsigned long long)a.chunk_mib, a.threads ? std::to_string(a.threads).c_str() : "0 (all cores)",
              a.direct ? "true" : "false", scratch.c_str(), a.repeat);
  std::vector<size_t> all(s.specs.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  double t0 = Now();
  Fill(s, all, 0, cores);
  std::printf("filled    random bytes, different per tensor, in %.2f s\n", Now() - t0);
  for (int r = 0; r < a.repeat; ++r) RunRepeat(r, a, s, into, scratch, cores);

  const double dw = Med("dw"), dr = Med("dr"), h = Med("h"), save = Med("save");
  const double wref = std::min(dw, h), rref = std::min(dr, h);
  std::printf("\n== summary: medians of %d repeat(s), GB = 1e9 bytes, state %.3f GB\n", a.repeat, s.logical / 1e9);
  std::printf("baseline  O_DIRECT write+fsync %.2f GB/s | buffered write+fsync %.2f GB/s | O_DIRECT read %.2f GB/s"
              " | BLAKE3 all-core %.2f GB/s | first touch of new memory %.2f GB/s\n", dw, Med("bw"), dr, h, Med("ft"));
  std::printf("store     full save %.2f GB/s (%.3f s) | unchanged re-save %.2f GB/s | reopen %.3f s | "
              "on disk %.3f GB after 3 saves\n", save, Med("save_s"), Med("same"), Med("open_s"), Med("store_bytes") / 1e9);
  bench::Target(16, "full save", "target >= 70%", save >= 0.7 * wref,
         "%.2f GB in %.3f s = %.2f GB/s = %3.0f%% of min(O_DIRECT %.2f, BLAKE3 all-core %.2f) = %.2f",
         s.logical / 1e9, Med("save_s"), save, 100 * save / wref, dw, h, wref);
  bench::Target(16, "incremental", "target <= 1.05x", Med("inc_ratio") <= 1.05,
         "%.2f s, written %.1f MB for %.1f MB changed chunk bytes = %.3fx", Med("inc_s"),
         Med("inc_written") / 1e6, Med("inc_changed") / 1e6, Med("inc_ratio"));
  bench::Target(16, "write amp full", "target <= 1.1", Med("wa_full") <= 1.1, "full save: written / new chunk bytes = %.3fx",
         Med("wa_full"));
  bench::Target(16, "write amp incr", "target <= 1.1", Med("wa_inc") <= 1.1, "incremental: written / new bytes = %.3fx",
         Med("wa_inc"));
  for (auto [label, key] : {std::pair{"restore", "restore"}, std::pair{"restore into", "into"}})
    bench::Target(16, label, "target >= 70%", Med(key) >= 0.7 * rref,
           "%.2f GB/s = %3.0f%% of min(O_DIRECT read %.2f, BLAKE3 all-core %.2f) = %.2f", Med(key),
           100 * Med(key) / rref, dr, h, rref);
  const double fref = std::min(Med("drf"), h);
  bench::Target(16, "restore (fresh)", "target >= 70%", Med("restore") >= 0.7 * fref,
         "%.2f GB/s = %3.0f%% of min(O_DIRECT read into new memory %.2f, BLAKE3 all-core %.2f) = %.2f",
         Med("restore"), 100 * Med("restore") / fref, Med("drf"), h, fref);
  std::printf("note: Restore fills buffers it has just allocated, so it also pays first-touch page faults "
              "(%.2f GB/s here); RestoreInto's buffers are prefaulted, like the plain O_DIRECT read's\n", Med("ft"));
  std::free(s.arena);
  std::free(into.arena);
  return 0;
}

constexpr const char* kUsage =
    "usage: store [--gib G (2)] [--repeat N (3)] [--chunk-mib N (4)] [--threads N (0 = all cores)]\n"
    "             [--no-direct-io] [--dir DIR (scratch parent; default $CKPTDB_SCRATCH or /tmp)]\n";

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
    else if (f == "--no-direct-io") a.direct = false;
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
    testing::ScratchDir scratch;  // removed with everything in it when this scope ends
    g_scratch = scratch.path();
    std::signal(SIGINT, OnSignal);
    std::signal(SIGTERM, OnSignal);
    rc = Run(a, scratch.path());
  }
  return rc;
}

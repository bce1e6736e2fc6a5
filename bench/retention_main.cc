// retention: what a retention policy and garbage collection cost (issue 3). The same N states of a
// G GiB model, a random fraction of whose chunks is rewritten before each save, go into two stores
// on one disk: one with max_to_keep = K, whose saves after the K-th also rotate the oldest checkpoint
// away in their commit, and one with no policy, whose saves differ only by not rotating. The twin
// saves run back to back, alternating which goes first, so drift on a shared machine hits both.
// With background_gc (the library's default) each rotating save's collection is waited for and
// timed on its own. Then an explicit GC, each against an O_DIRECT copy of the bytes it wrote, disk
// size against live unique bytes (after every save and at the end), and a bit-exact restore of
// every survivor. A measurement, not a test: exit 0 when a target fails, 1 only when the store
// errs or restores wrong bytes.
//
//   retention [--gib G (1)] [--checkpoints N (50)] [--changed F (0.10)] [--max-to-keep K (5)]
//             [--chunk-mib N (4)] [--gc-every N (0: only at the end)] [--background-gc 0|1 (1)]
//             [--threads N] [--dir DIR (.)]
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "ckptdb/ckptdb.h"
#include "tests/support/test_support.h"

namespace {

using namespace ckptdb;
namespace fs = std::filesystem;
using bench::kAlign, bench::kIoPiece, bench::kMiB, bench::IoWriteBytes, bench::Mix, bench::Now,
    bench::ParallelFor;

std::string g_scratch;  // removed on every exit path: normal end, Die, SIGINT/SIGTERM
[[noreturn]] void Quit(int rc) {
  std::error_code ec;
  if (!g_scratch.empty()) fs::remove_all(g_scratch, ec);
  std::_Exit(rc);
}
[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "retention bench: %s\n", msg.c_str());
  Quit(1);
}
void OnSignal(int sig) { Quit(128 + sig); }
template <typename T>
T Check(Result<T> r, const char* what) {
  if (!r.ok()) Die(std::string(what) + ": " + r.status().ToString());
  return std::move(r).value();
}
void Check(const Status& s, const char* what) {
  if (!s.ok()) Die(std::string(what) + ": " + s.ToString());
}

struct Args {
  double gib = 1, changed = 0.10;
  int checkpoints = 50, gc_every = 0, threads = 0;
  bool background_gc = true;  // StoreOptions' default
  uint64_t max_to_keep = 5, chunk_mib = 4;
  std::string dir;
};

// The state: kTensors equal bf16 tensors of whole chunks packed in one 4 KiB-aligned arena (so
// store chunk c is arena chunk c, and the O_DIRECT baselines can write the arena as is), plus a 0-d
// step counter. Chunk c holds bytes that depend only on (c, gen[c]), so a checkpoint's expected
// contents are its gen vector: the restore check needs no copies of old states.
constexpr int kTensors = 8;
struct State {
  uint64_t chunk = 0, tensor_chunks = 0, chunks = 0;
  uint8_t* arena = nullptr;
  std::vector<uint32_t> gen;
  int64_t step = 0;
  uint64_t bytes() const { return chunks * chunk; }
};
void FillChunk(uint64_t c, uint32_t gen, uint8_t* out, uint64_t len) {
  testing::FillRandom(Mix(Mix(c + 1) ^ Mix(gen + 0x5151)), out, len);
}
std::vector<TensorRef> Refs(State& s) {
  std::vector<TensorRef> r;
  const uint64_t tb = s.tensor_chunks * s.chunk;
  for (int i = 0; i < kTensors; ++i)
    r.push_back({"layers." + std::to_string(i) + ".weight", DType::kBF16,
                 {static_cast<int64_t>(tb / 2048), 1024}, s.arena + i * tb, tb});
  r.push_back({"step", DType::kI64, {}, &s.step, sizeof s.step});
  return r;
}
// Rewrites `n` distinct chunks picked at random with generation `gen`; the rest stay, so dedup finds
// them. Fresh random bytes per chunk: no rewritten chunk matches any chunk the store holds.
void Mutate(State& s, uint32_t gen, uint64_t n, std::mt19937_64& rng, int threads) {
  std::vector<uint64_t> idx(s.chunks);
  for (uint64_t c = 0; c < s.chunks; ++c) idx[c] = c;
  for (uint64_t k = 0; k < n; ++k) std::swap(idx[k], idx[k + rng() % (s.chunks - k)]);
  for (uint64_t k = 0; k < n; ++k) s.gen[idx[k]] = gen;
  ParallelFor(threads, n, [&](size_t k) { FillChunk(idx[k], gen, s.arena + idx[k] * s.chunk, s.chunk); });
}

struct Dist { double med = 0, p90 = 0, max = 0; };
Dist Of(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return {n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, v[(n * 9 + 9) / 10 - 1], v.back()};
}
double MB(uint64_t b) { return b / 1e6; }
// Allocated bytes of the pack files alone: the rest of a store directory is RocksDB's.
uint64_t PackBytes(const std::string& dir) {
  uint64_t n = 0;
  struct stat st;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().extension() == ".pack" && ::stat(e.path().c_str(), &st) == 0) n += uint64_t(st.st_blocks) * 512;
  return n;
}

struct GcRun {
  double secs = 0;
  uint64_t disk_before = 0, disk_after = 0, packs_before = 0, packs_after = 0, written = 0;
  GcReport r;
};
// One CollectGarbage, timed, with the store directory's allocated size (du) around it and the
// bytes this process sent to storage meanwhile (the rewritten live chunks plus the index batch).
GcRun CollectTimed(Store& store, const std::string& dir, const char* label) {
  GcRun g;
  g.disk_before = testing::AllocatedBytes(dir);
  g.packs_before = PackBytes(dir);
  const uint64_t io0 = IoWriteBytes();
  const double t0 = Now();
  g.r = Check(store.CollectGarbage(), "collect garbage");
  g.secs = Now() - t0;
  g.written = IoWriteBytes() - io0;
  g.disk_after = testing::AllocatedBytes(dir);
  g.packs_after = PackBytes(dir);
  std::printf("  %-22s %7.3f s  reclaimed %8.1f MB  packs deleted %3llu rewritten %3llu  chunks deleted %4llu  "
              "checkpoints removed %zu  wrote %7.1f MB  disk %8.1f -> %8.1f MB (packs %8.1f -> %8.1f)  live %8.1f MB\n",
              label, g.secs, MB(g.r.reclaimed_bytes), (unsigned long long)g.r.packs_deleted,
              (unsigned long long)g.r.packs_rewritten, (unsigned long long)g.r.chunks_deleted,
              g.r.checkpoints_removed.size(), MB(g.written), MB(g.disk_before), MB(g.disk_after),
              MB(g.packs_before), MB(g.packs_after), MB(g.r.live_bytes));
  return g;
}

// One target line, as store_main.cc prints them: label, measurement, target, PASS or FAIL.
constexpr uint64_t kSlack = 8 * kMiB;  // the "few MiB" of the disk target: RocksDB's own files, pack padding
// The background collection after each rotation keeps garbage under half the live bytes (it runs
// beside training, so it copies less than an explicit gc, which compacts to 1.15x): see
// kBackgroundGcGarbageBudget in store/store_impl.h.
constexpr double kBackgroundBound = 1.5;

int Run(const Args& a, const std::string& scratch) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  State s;
  s.chunk = a.chunk_mib * kMiB;
  s.tensor_chunks = std::max<uint64_t>(1, static_cast<uint64_t>(a.gib * (1ull << 30)) / kTensors / s.chunk);
  s.chunks = s.tensor_chunks * kTensors;
  s.gen.assign(s.chunks, 0);
  s.arena = static_cast<uint8_t*>(std::aligned_alloc(kAlign, s.bytes()));
  uint8_t* readbuf = static_cast<uint8_t*>(std::aligned_alloc(kAlign, kIoPiece));
  if (!s.arena || !readbuf) Die("out of memory");
  const uint64_t n_change = std::min<uint64_t>(s.chunks, std::llround(a.changed * s.chunks));
  std::printf("ckptdb retention benchmark\n");
  std::printf("machine   %d cores (nproc), CPU %s; load average %s", cores, bench::CpuModel().c_str(),
              testing::ReadFileOrDie("/proc/loadavg").c_str());
  std::printf("disk      %s: %s\n", scratch.c_str(), bench::FilesystemOf(scratch).c_str());
  std::printf("state     %d bf16 tensors of %.1f MiB + 0-d step = %.3f GB (%.2f GiB), %llu chunks of %llu MiB; "
              "%llu chunks (%.1f%%) rewritten before each save\n", kTensors, s.tensor_chunks * s.chunk / double(kMiB),
              s.bytes() / 1e9, s.bytes() / double(1ull << 30), (unsigned long long)s.chunks,
              (unsigned long long)a.chunk_mib, (unsigned long long)n_change, 100.0 * n_change / s.chunks);
  std::printf("stores    rotated: max_to_keep %llu, background_gc %s; baseline: no policy; %d saves each, threads %s;"
              " explicit gc %s\n", (unsigned long long)a.max_to_keep, a.background_gc ? "on" : "off", a.checkpoints,
              a.threads ? std::to_string(a.threads).c_str() : "all cores",
              a.gc_every ? ("every " + std::to_string(a.gc_every) + " saves and at the end").c_str() : "at the end");
  ParallelFor(cores, s.chunks, [&](size_t c) { FillChunk(c, 0, s.arena + c * s.chunk, s.chunk); });

  StoreOptions so;
  so.chunk_size = s.chunk;
  so.threads = a.threads;
  so.background_gc = a.background_gc;
  const std::string dir_rot = scratch + "/rotated", dir_plain = scratch + "/plain";
  auto rot = Check(Store::Open(dir_rot, so), "open rotated store");
  auto plain = Check(Store::Open(dir_plain, so), "open baseline store");
  RetentionPolicy policy;
  policy.max_to_keep = a.max_to_keep;
  Check(rot->SetRetention(policy), "set retention");

  std::mt19937_64 rng(42);
  std::vector<std::vector<uint32_t>> gens(a.checkpoints + 1);  // by step
  std::vector<double> t_rot, t_plain, ratios;                   // saves that rotate, and their twins
  std::vector<double> new_bytes, mid_gc_secs, bg_secs, bg_bytes, bg_ratios;  // bg: background gc
  size_t kept_max = 0;
  uint64_t disk_peak = 0;
  double worst = 0;  // the highest disk / live unique bytes after a rotating save
  int worst_at = 0;
  bool bound_held = true;  // disk <= kBackgroundBound x live + kSlack after every rotating save
  const std::vector<TensorRef> refs = Refs(s);
  std::printf("-- saves (seconds per Save; kept and disk: the rotated store's checkpoints and du after it)\n");
  for (int i = 1; i <= a.checkpoints; ++i) {
    if (i > 1) Mutate(s, static_cast<uint32_t>(i), n_change, rng, cores);
    s.step = i;
    gens[i] = s.gen;
    SaveOptions o;
    o.step = i;
    double tr = 0, tp = 0, tw = 0;
    uint64_t bg_written = 0;
    CheckpointInfo info;
    for (int k = 0; k < 2; ++k) {  // alternate which store saves first
      const bool do_rot = (k == 0) == (i % 2 == 1);
      const double t0 = Now();
      CheckpointInfo ci = Check((do_rot ? rot : plain)->Save(refs, o), do_rot ? "save (rotated)" : "save (baseline)");
      (do_rot ? tr : tp) = Now() - t0;
      if (!do_rot) continue;
      info = ci;
      // A background gc starts as a rotating save commits. Waiting for it here times it (and the
      // bytes it writes) and keeps it off the twin save, which would otherwise share the cores.
      const uint64_t io0 = IoWriteBytes();
      const double t1 = Now();
      Check(rot->WaitForBackgroundWork(), "background gc");
      tw = Now() - t1;
      bg_written = IoWriteBytes() - io0;
    }
    const size_t kept = Check(rot->List(), "list").size();
    const uint64_t disk = testing::AllocatedBytes(dir_rot), live = Check(rot->Space(), "space").unique_bytes;
    kept_max = std::max(kept_max, kept);
    disk_peak = std::max(disk_peak, disk);
    const bool rotates = static_cast<uint64_t>(i) > a.max_to_keep && a.max_to_keep > 0;
    if (rotates && double(disk) / live > worst) worst = double(disk) / live, worst_at = i;
    if (rotates) bound_held = bound_held && disk <= kBackgroundBound * live + kSlack;
    if (rotates) t_rot.push_back(tr), t_plain.push_back(tp), ratios.push_back(tr / tp);
    if (rotates && a.background_gc)
      bg_secs.push_back(tw), bg_bytes.push_back(double(bg_written)), bg_ratios.push_back((tr + tw) / tp);
    if (i > 1) new_bytes.push_back(double(info.new_bytes));
    char bg[80] = "";
    if (a.background_gc) std::snprintf(bg, sizeof bg, " + bg gc %6.3f s (wrote %6.1f MB)", tw, MB(bg_written));
    std::printf("  save %3d/%d  rotated %6.3f s%s  no policy %6.3f s  ratio %5.2f  new %6.1f MB  kept %zu  "
                "disk %7.1f MB = %.2fx live%s\n", i, a.checkpoints, tr, bg, tp, tr / tp, MB(info.new_bytes), kept,
                MB(disk), double(disk) / live, rotates ? "  (rotates)" : "");
    if (a.gc_every > 0 && i % a.gc_every == 0 && i < a.checkpoints)
      mid_gc_secs.push_back(CollectTimed(*rot, dir_rot, ("gc after save " + std::to_string(i)).c_str()).secs);
  }
  const auto listed = Check(rot->List(), "list");

  // Garbage collection at the end, then once more: the second finds nothing, so it times the
  // mark-and-sweep alone (manifests read, index scanned).
  std::printf("-- garbage collection of the rotated store\n");
  const GcRun gc = CollectTimed(*rot, dir_rot, "gc after the last save");
  const GcRun gc2 = CollectTimed(*rot, dir_rot, "gc again (no garbage)");
  const SpaceReport space = Check(rot->Space(), "space");
  const SpaceReport space_plain = Check(plain->Space(), "space (baseline)");

  // Baselines on the same disk. A save's floor: all-core BLAKE3 over the state (every save hashes
  // it all; median of 3, as load varies) or an O_DIRECT write+fsync of the median new bytes,
  // whichever is slower, since a save overlaps the two. GC's: an O_DIRECT write+fsync of the bytes
  // GC wrote plus reading them back with O_DIRECT, since GC reads what it moves.
  std::string err;
  const std::string file = scratch + "/baseline.bin";
  std::vector<double> hashes;
  for (int r = 0; r < 3; ++r) {
    const double t0 = Now();
    ParallelFor(cores, s.chunks, [&](size_t c) { (void)HashBytes(s.arena + c * s.chunk, s.chunk); });
    hashes.push_back(Now() - t0);
  }
  const double t_hash = Of(hashes).med;
  const uint64_t save_new = (static_cast<uint64_t>(Of(new_bytes).med) + kAlign - 1) / kAlign * kAlign;
  const double t_save_w = save_new ? bench::TimedWrite(file, s.arena, s.bytes(), save_new, true, &err) : 0;
  if (t_save_w < 0) Die(err);
  uint64_t copy = std::max<uint64_t>(gc.written, 64 * kMiB);  // at least 64 MiB, for a stable rate
  for (double b : bg_bytes) copy = std::max<uint64_t>(copy, static_cast<uint64_t>(b));
  copy = (copy + kAlign - 1) / kAlign * kAlign;
  const double t_copy_w = bench::TimedWrite(file, s.arena, s.bytes(), copy, true, &err);
  const double t_copy_r = t_copy_w < 0 ? -1 : bench::TimedRead(file, readbuf, copy, &err);
  if (t_copy_w < 0 || t_copy_r < 0) Die(err);
  const double copy_rate = copy / (t_copy_w + t_copy_r);  // bytes/s read and written back
  // A gc's time over the copy floor of the bytes it wrote; "-" when it wrote almost nothing.
  auto vs_floor = [&](double secs, double bytes) {
    char b[32] = "-";
    if (bytes >= kMiB) std::snprintf(b, sizeof b, "%.2fx", secs / (bytes / copy_rate));
    return std::string(b);
  };
  fs::remove(file);

  // Restore check: every surviving checkpoint, read back (digests verified) and compared byte for
  // byte with its bytes regenerated from the generations it was saved with.
  std::printf("-- restore check\n");
  bool restore_ok = !listed.empty();
  for (const CheckpointInfo& ci : listed) {
    const double t0 = Now();
    const std::vector<Tensor> out = Check(rot->Restore(Selector::Id(ci.id)), "restore");
    const double t_restore = Now() - t0;
    const std::vector<uint32_t>& g = gens.at(ci.step);
    bool ok = out.size() == refs.size() && out.back().bytes.size() == sizeof(int64_t) &&
              std::memcmp(out.back().bytes.data(), &ci.step, sizeof ci.step) == 0;
    for (size_t i = 0; ok && i + 1 < refs.size(); ++i) ok = out[i].bytes.size() == refs[i].size_bytes;
    std::atomic<uint64_t> bad{0};
    if (ok)
      ParallelFor(cores, s.chunks, [&](size_t c) {
        thread_local std::vector<uint8_t> want;
        want.resize(s.chunk);
        FillChunk(c, g[c], want.data(), s.chunk);
        const uint8_t* got = out[c / s.tensor_chunks].bytes.data() + (c % s.tensor_chunks) * s.chunk;
        if (std::memcmp(got, want.data(), s.chunk) != 0) ++bad;
      });
    ok = ok && bad == 0;
    restore_ok = restore_ok && ok;
    std::printf("  checkpoint id %llu step %lld: restored in %.3f s, %s\n", (unsigned long long)ci.id,
                (long long)ci.step, t_restore, ok ? "bit-exact" : ("WRONG: " + std::to_string(bad.load()) + " chunks differ").c_str());
  }
  rot.reset();  // closed: RocksDB gives back what it preallocated while open
  const uint64_t disk_closed = testing::AllocatedBytes(dir_rot);
  plain.reset();
  const uint64_t disk_plain = testing::AllocatedBytes(dir_plain);

  const Dist dr = Of(t_rot), dp = Of(t_plain), rr = Of(ratios);
  const uint64_t expect_kept = a.max_to_keep ? std::min<uint64_t>(a.max_to_keep, a.checkpoints) : a.checkpoints;
  const double ratio = space.unique_bytes ? double(gc.disk_after) / space.unique_bytes : 0;
  std::printf("\n== summary: GB = 1e9 bytes, state %.3f GB, %d saves, max_to_keep %llu, %.1f%% chunks changed per save;"
              " load average now %s", s.bytes() / 1e9, a.checkpoints, (unsigned long long)a.max_to_keep,
              100.0 * n_change / s.chunks, testing::ReadFileOrDie("/proc/loadavg").c_str());
  const double floor_s = std::max(t_hash, t_save_w);
  std::printf("baseline  save floor %.3f s = max(BLAKE3 all-core over the state %.3f s, O_DIRECT write+fsync of %.1f MB %.3f s)"
              " | GC copy floor: O_DIRECT read + write+fsync of %.1f MB in %.3f s = %.2f GB/s copied\n", floor_s,
              t_hash, MB(save_new), t_save_w, MB(copy), t_copy_w + t_copy_r, copy_rate / 1e9);
  std::printf("commit    %zu saves that rotate: median %.3f s, p90 %.3f s, max %.3f s | the same saves without a policy: "
              "median %.3f s, p90 %.3f s, max %.3f s\n", t_rot.size(), dr.med, dr.p90, dr.max, dp.med, dp.p90, dp.max);
  std::printf("          rotation cost: ratio of medians %.3fx; per-save ratio median %.3fx, p90 %.3fx, max %.3fx; "
              "median save = %.2fx the save floor\n", dp.med > 0 ? dr.med / dp.med : 0, rr.med, rr.p90, rr.max,
              dr.med / floor_s);
  if (!mid_gc_secs.empty())
    std::printf("gc (mid)  %zu runs during the saves (lines above): median %.3f s\n", mid_gc_secs.size(),
                Of(mid_gc_secs).med);
  if (!bg_secs.empty()) {
    const Dist bs = Of(bg_secs), bb = Of(bg_bytes), br = Of(bg_ratios);
    std::printf("bg gc     after each of %zu rotating saves: median %.3f s, p90 %.3f s, max %.3f s; wrote median %.1f MB,"
                " max %.1f MB; median gc = %s its copy floor | save + its gc = %.2fx the no-policy save (median per save)\n",
                bg_secs.size(), bs.med, bs.p90, bs.max, MB(bb.med), MB(bb.max), vs_floor(bs.med, bb.med).c_str(),
                br.med);
  }
  std::printf("gc        %.3f s (%s the copy floor), reclaimed %.1f MB, packs deleted %llu rewritten %llu, "
              "checkpoints removed %zu, wrote %.1f MB | again with no garbage %.4f s\n", gc.secs,
              vs_floor(gc.secs, gc.written).c_str(), MB(gc.r.reclaimed_bytes), (unsigned long long)gc.r.packs_deleted,
              (unsigned long long)gc.r.packs_rewritten, gc.r.checkpoints_removed.size(), MB(gc.written), gc2.secs);
  std::printf("disk      peak after any save %.1f MB; before the last gc %.1f MB (packs %.1f), after %.1f MB (open; packs %.1f, the rest RocksDB), %.1f MB (closed); "
              "live unique %.1f MB; the no-policy store: %zu checkpoints in %.1f MB (closed), unique %.1f MB\n",
              MB(disk_peak), MB(gc.disk_before), MB(gc.packs_before), MB(gc.disk_after), MB(gc.packs_after), MB(disk_closed), MB(space.unique_bytes),
              space_plain.checkpoints.size(), MB(disk_plain), MB(space_plain.unique_bytes));
  bench::Target(16, "rotation", "target = max_to_keep", listed.size() == expect_kept && kept_max == expect_kept,
         "%zu checkpoints after %d saves (at most %zu at any time), expected %llu", listed.size(), a.checkpoints,
         kept_max, (unsigned long long)expect_kept);
  bench::Target(16, "disk after gc", "target <= 1.15x + 8 MiB", gc.disk_after <= 1.15 * space.unique_bytes + kSlack,
         "%.1f MB on disk / %.1f MB live unique = %.3fx (store open)", MB(gc.disk_after), MB(space.unique_bytes),
         ratio);
  if (a.background_gc && worst > 0)  // each rotating save is followed by a gc: the bound should hold throughout
    bench::Target(16, "disk after saves", "target <= 1.5x + 8 MiB", bound_held,
           "worst after a rotating save and its background gc: %.3fx live unique (save %d)", worst, worst_at);
  std::printf("restore check %s (%zu checkpoints, each bit-exact against the state it saved)\n",
              restore_ok ? "PASS" : "FAIL", listed.size());
  std::free(s.arena);
  std::free(readbuf);
  return restore_ok ? 0 : 1;
}

constexpr const char* kUsage =
    "usage: retention [--gib G (1)] [--checkpoints N (50)] [--changed F (0.10)] [--max-to-keep K (5)]\n"
    "                 [--chunk-mib N (4)] [--gc-every N (0: only at the end)] [--background-gc 0|1 (1)]\n"
    "                 [--threads N (0 = all cores)]"
    " [--dir DIR (scratch parent; default the current directory)]\n";

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
    else if (f == "--checkpoints") a.checkpoints = std::stoi(val());
    else if (f == "--changed") a.changed = std::stod(val());
    else if (f == "--max-to-keep") a.max_to_keep = std::stoull(val());
    else if (f == "--chunk-mib") a.chunk_mib = std::stoull(val());
    else if (f == "--gc-every") a.gc_every = std::stoi(val());
    else if (f == "--threads") a.threads = std::stoi(val());
    else if (f == "--background-gc") a.background_gc = std::stoi(val()) != 0;
    else if (f == "--dir") a.dir = val();
    else if (f == "--help" || f == "-h") return std::printf("%s", kUsage), 0;
    else Die("unknown flag " + f + "\n" + kUsage);
  } catch (const std::logic_error&) {
    Die(std::string("bad value for ") + argv[i - 1] + "\n" + kUsage);
  }
  if (a.gib <= 0 || a.checkpoints < 1 || a.changed < 0 || a.changed > 1 || a.chunk_mib < 1 || a.gc_every < 0 ||
      a.threads < 0)
    Die("bad flag value\n" + std::string(kUsage));
  // The current directory by default, not /tmp: /tmp may be tmpfs, which would measure memory.
  ::setenv("CKPTDB_SCRATCH", a.dir.empty() ? fs::current_path().c_str() : a.dir.c_str(), 1);
  int rc;
  {
    testing::ScratchDir scratch;  // removed with everything in it when this scope ends
    g_scratch = scratch.path();
    std::signal(SIGINT, OnSignal);
    std::signal(SIGTERM, OnSignal);
    if (bench::FilesystemOf(scratch.path()).rfind("tmpfs", 0) == 0)
      std::printf("WARNING: %s is on tmpfs: the figures measure memory, not a disk; pass --dir\n",
                  scratch.path().c_str());
    rc = Run(a, scratch.path());
  }
  return rc;
}

// The GPU path's benchmark (issue 12, item 7), one run on the GPU machine, with a GPU-resident
// training state of about 16 GB: bf16 weights plus fp32 master weights and two Adam moments per
// layer (CKPTDB_GPU_BENCH_GB sets the size). Every figure is compared with a baseline measured in
// the same run on the same device and disk:
//   - GPU BLAKE3 throughput over the whole state, against a device-to-device copy and against the
//     chip's integer-throughput bound (~12.5 integer operations per byte of BLAKE3);
//   - the stall (time until SaveAsync returns) of a full asynchronous save, each capture, against a
//     plain pinned device-to-host copy of the same bytes: target <= 1.3x that copy;
//   - an incremental save with 1% of the tensors changed: bytes over PCIe <= 1.1x the changed chunk
//     bytes, stall <= 10% of the full copy;
//   - the time until each background persist is durable, against the disk's O_DIRECT write speed;
//   - a restore into GPU memory (bench/gpu_restore_bench.py compares torch.load and safetensors).
// Usage: gpu_save DIR (a directory on the disk to measure; it needs ~2.2x the state's size free).
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <tuple>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "ckptdb/ckptdb.h"
#include "gpu/device_buffer.h"
#include "gpu/device_hasher.h"
#include "gpu/device_restore.h"
#include "gpu/device_saver.h"

namespace {

using namespace ckptdb;
using bench::Now;
constexpr uint64_t kGiB = 1ull << 30, kChunk = 4ull << 20;

[[noreturn]] void Die(const std::string& what, const Status& s) {
  std::fprintf(stderr, "gpu_save: %s: %s\n", what.c_str(), s.ToString().c_str());
  std::exit(1);
}
void Must(const std::string& what, const Status& s) {
  if (!s.ok()) Die(what, s);
}

// A layer: its bf16 weight, and fp32 master weight, exp_avg and exp_avg_sq, 4096 x 4096 each.
struct State {
  explicit State(uint64_t target_bytes) {
    const Shape shape = {4096, 4096};
    const uint64_t n = 4096ull * 4096, per_layer = n * (2 + 4 * 3);
    layers = std::max<uint64_t>(1, target_bytes / per_layer);
    for (uint64_t l = 0; l < layers; ++l)
      for (auto [kind, dtype, width] : {std::tuple{"weight", DType::kBF16, 2}, std::tuple{"master", DType::kF32, 4},
                                        std::tuple{"exp_avg", DType::kF32, 4}, std::tuple{"exp_avg_sq", DType::kF32, 4}}) {
        TensorRef r;
        r.name = "layer" + std::to_string(l) + "." + kind;
        r.dtype = dtype;
        r.shape = shape;
        r.size_bytes = n * width;
        r.cuda_device = 0;
        offsets.push_back(bytes);
        bytes += r.size_bytes;
        refs.push_back(r);
      }
  }
  void Place(void* base) {
    for (size_t i = 0; i < refs.size(); ++i) refs[i].data = static_cast<uint8_t*>(base) + offsets[i];
  }
  uint64_t layers = 0, bytes = 0;
  std::vector<TensorRef> refs;
  std::vector<uint64_t> offsets;
};

double Gb(uint64_t bytes, double seconds) { return bytes / seconds / 1e9; }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: gpu_save DIR\n");
    return 2;
  }
  std::string why;
  if (!gpu::DeviceAvailable(&why)) {
    std::printf("gpu_save: no GPU here (%s); nothing measured\n", why.c_str());
    return 0;
  }
  const std::string dir = argv[1];
  std::filesystem::create_directories(dir);
  const char* gb_env = std::getenv("CKPTDB_GPU_BENCH_GB");
  const double gb = gb_env ? std::atof(gb_env) : 16.0;
  State st(static_cast<uint64_t>(gb * 1e9));
  auto info = gpu::CurrentDeviceInfo();
  if (!info.ok()) Die("device info", info.status());
  std::printf("device: %s, %d SMs at %d MHz; disk: %s; CPU: %s\n", info->name.c_str(), info->multiprocessors,
              info->clock_khz / 1000, bench::FilesystemOf(dir).c_str(), bench::CpuModel().c_str());
  std::printf("state: %" PRIu64 " layers x (bf16 weight + fp32 master, exp_avg, exp_avg_sq) = %zu tensors, %.2f GB\n",
              st.layers, st.refs.size(), st.bytes / 1e9);
  gpu::DeviceBuffer device(st.bytes);
  Must("allocating the state", device.status());
  st.Place(device.data());
  Must("filling the state", device.Fill(0, st.bytes, 1));

  // 1. BLAKE3 on the device, against a device-to-device copy of 4 GiB and the integer bound.
  std::vector<gpu::DeviceChunk> chunks;
  for (uint64_t at = 0; at < st.bytes; at += kChunk)
    chunks.push_back({static_cast<uint8_t*>(device.data()) + at, std::min(kChunk, st.bytes - at)});
  std::vector<Digest> digests(chunks.size());
  Must("hashing (warm-up)", gpu::HashDeviceChunks(std::span(chunks).first(std::min<size_t>(256, chunks.size())),
                                                  std::span(digests).first(std::min<size_t>(256, chunks.size()))));
  double t0 = Now();
  Must("hashing", gpu::HashDeviceChunks(chunks, digests));
  const double hash_s = Now() - t0;
  const uint64_t copy_bytes = std::min<uint64_t>(4 * kGiB, st.bytes / 2);
  double d2d_gbs = 0;
  {
    gpu::DeviceBuffer scratch(copy_bytes);
    Must("scratch", scratch.status());
    Must("d2d warm-up", scratch.CopyFrom(device, copy_bytes));
    t0 = Now();
    Must("d2d", scratch.CopyFrom(device, copy_bytes));
    d2d_gbs = Gb(2 * copy_bytes, Now() - t0);  // read + written
  }
  // ~12.5 integer operations per byte: 7 rounds x 8 G x 14 operations per 64-byte block; Hopper
  // issues 64 INT32 operations per SM per clock.
  const double bound = double(info->multiprocessors) * 64 * info->clock_khz * 1e3 / 12.5 / 1e9;
  const double hash_gbs = Gb(st.bytes, hash_s);
  bench::Target(34, "gpu blake3 (4 MiB chunks)", ">= 300 GB/s", hash_gbs >= 300,
                "%7.1f GB/s; d2d copy %.0f GB/s (read+write); integer bound ~%.0f GB/s (%.0f%% of it)", hash_gbs,
                d2d_gbs, bound, 100 * hash_gbs / bound);

  // 2. Baselines: a pinned device-to-host copy of every byte; the disk's O_DIRECT write speed.
  double copy_s = 0, odirect_gbs = 0;
  {
    gpu::PinnedBuffer pinned(st.bytes);
    Must("pinning the baseline's host memory", pinned.status());
    Must("d2h warm-up", device.CopyOut(0, pinned.data(), std::min<uint64_t>(kGiB, st.bytes)));
    t0 = Now();
    Must("d2h", device.CopyOut(0, pinned.data(), st.bytes));
    copy_s = Now() - t0;
    std::string error;
    const std::string file = dir + "/odirect.baseline";
    const uint64_t n = st.bytes / 4096 * 4096;
    const double w = bench::TimedWrite(file, pinned.data(), std::min<uint64_t>(n, kGiB), n, true, &error);
    std::filesystem::remove(file);
    if (w < 0) Die("O_DIRECT baseline", Status::IOError(error));
    odirect_gbs = Gb(n, w);
  }
  std::printf("%-34s %.3f s (%.1f GB/s)\n", "pinned d2h copy (baseline)", copy_s, Gb(st.bytes, copy_s));
  std::printf("%-34s %.1f GB/s (from pinned memory, then fsync)\n", "O_DIRECT write (baseline)", odirect_gbs);

  // 3. Saves: each capture, a full save (every chunk new) and a 1% incremental one.
  StoreOptions so;
  so.chunk_size = kChunk;
  auto store = Store::Open(dir + "/store", so);
  if (!store.ok()) Die("opening the store", store.status());
  RetentionPolicy keep;
  keep.max_to_keep = 1;  // background collection keeps the disk to ~2 states
  Must("policy", (*store)->SetRetention(keep));
  int64_t step = 0;
  uint64_t seed = 2;
  struct Measured {
    double stall, durable;
    uint64_t pcie, new_bytes;
  };
  auto save = [&](gpu::DeviceSaver& saver) {
    const gpu::DeviceSaveStats before = saver.stats();
    SaveOptions o;
    o.step = ++step;
    const double start = Now();
    auto h = saver.SaveAsync(st.refs, o);
    const double stall = Now() - start;
    if (!h.ok()) Die("SaveAsync", h.status());
    auto saved = h->Wait();
    const double durable = Now() - start;
    if (!saved.ok()) Die("persist", saved.status());
    return Measured{stall, durable, saver.stats().bytes_to_host - before.bytes_to_host, saved->new_bytes};
  };
  const uint64_t changed_tensors = std::max<size_t>(1, st.refs.size() / 100);
  auto change_all = [&] { Must("changing every tensor", device.Fill(0, st.bytes, ++seed)); };
  uint64_t changed_bytes = 0;
  auto change_some = [&] {
    changed_bytes = 0;
    for (uint64_t k = 0; k < changed_tensors; ++k) {
      const size_t i = (k * 97 + 13) % st.refs.size();
      Must("changing a tensor", device.Fill(st.offsets[i], st.refs[i].size_bytes, ++seed));
      changed_bytes += st.refs[i].size_bytes;
    }
  };
  using Capture = gpu::DeviceSaverOptions::Capture;
  for (Capture mode : {Capture::kSnapshot, Capture::kHashedCopy}) {
    const char* name = mode == Capture::kSnapshot ? "snapshot" : "hashed copy";
    gpu::DeviceSaverOptions opt;
    opt.capture = mode;
    opt.pinned_capture_bytes = st.bytes + kGiB;
    gpu::DeviceSaver saver(**store, opt);
    if (mode == Capture::kSnapshot) {
      change_all();
      const Measured cold = save(saver);
      std::printf("%-34s stall %.3f s (allocates its memory), durable %.2f s\n", "first save, snapshot", cold.stall,
                  cold.durable);
    } else {
      t0 = Now();
      Must("reserving pinned capture memory", saver.Reserve(0, 0, st.bytes));
      std::printf("%-34s %.2f s to pin %.1f GB once (DeviceSaver::Reserve)\n", "hashed copy: reserve", Now() - t0,
                  st.bytes / 1e9);
    }
    change_all();
    const Measured full = save(saver);
    char label[80];
    std::snprintf(label, sizeof label, "full save, %s", name);
    bench::Target(34, label, "stall <= 1.3x copy", full.stall <= 1.3 * copy_s,
                  "stall %.3f s = %.2fx the pinned copy; durable %.2f s = %.2fx the O_DIRECT write of %.1f GB",
                  full.stall, full.stall / copy_s, full.durable, full.durable / (full.new_bytes / 1e9 / odirect_gbs),
                  full.new_bytes / 1e9);
    change_some();
    const Measured inc = save(saver);
    std::snprintf(label, sizeof label, "1%% incremental, %s", name);
    const bool pass = inc.pcie <= 1.1 * changed_bytes && inc.stall <= 0.10 * copy_s;
    bench::Target(34, label, "PCIe <= 1.1x changed, stall <= 10% copy", pass,
                  "PCIe %.3f GB = %.3fx the %.3f GB changed; stall %.4f s = %.1f%% of the copy; durable %.2f s",
                  inc.pcie / 1e9, double(inc.pcie) / changed_bytes, changed_bytes / 1e9, inc.stall,
                  100 * inc.stall / copy_s, inc.durable);
  }

  // 4. Restore the last checkpoint into GPU memory.
  Must("background work", (*store)->WaitForBackgroundWork());
  std::vector<TensorBuffer> into;
  for (const TensorRef& r : st.refs) into.push_back({r.name, r.dtype, r.shape, const_cast<void*>(r.data), r.size_bytes, 0});
  // The first read comes mostly from the disk (the packs were written with O_DIRECT); the next two,
  // from the page cache, compare where the digests are checked.
  for (auto [on_device, cache] : {std::pair{false, "cold"}, std::pair{false, "warm"}, std::pair{true, "warm"}}) {
    gpu::DeviceRestoreOptions ro;
    ro.verify_on_device = on_device;
    t0 = Now();
    Must("restoring into the device", gpu::RestoreIntoDevice(**store, Selector::Latest(), into, {}, ro));
    const double restore_s = Now() - t0;
    std::printf("%-34s %.2f s (%.1f GB/s), %s page cache, digests checked on the %s\n", "restore into GPU memory",
                restore_s, Gb(st.bytes, restore_s), cache, on_device ? "device" : "host");
  }
  Must("closing", (*store)->Close());
  std::filesystem::remove_all(dir + "/store");
  return 0;
}

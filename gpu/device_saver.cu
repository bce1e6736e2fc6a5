#include "gpu/device_saver.h"

#include <cuda_runtime.h>

#include <mutex>
#include <optional>
#include <tuple>
#include <thread>

#include "gpu/cuda_status.h"
#include "gpu/device_hasher.h"
#include "gpu/device_sources.h"
#include "gpu/one_device.h"
#include "store/save_from_source.h"
#include "store/save_queue.h"

namespace ckptdb::gpu {

struct DeviceSaver::Shared {
  explicit Shared(DeviceSaverOptions o) : options(o) {}
  const DeviceSaverOptions options;
  std::mutex mu;
  std::shared_ptr<SaverMemory> memory;  // made for the first device a save uses
  std::atomic<uint64_t> snapshots{0}, hashed_copies{0}, synchronous{0};
};

DeviceSaver::DeviceSaver(Store& store, DeviceSaverOptions options)
    : store_(store), shared_(std::make_shared<Shared>(options)) {}

DeviceSaver::~DeviceSaver() = default;

DeviceSaveStats DeviceSaver::stats() const {
  DeviceSaveStats s;
  std::lock_guard<std::mutex> l(shared_->mu);
  if (const auto& m = shared_->memory) {
    s.chunks_to_host = m->chunks_to_host.load();
    s.bytes_to_host = m->bytes_to_host.load();
    s.snapshot_bytes = m->snapshot_bytes.load();
  }
  s.snapshots = shared_->snapshots.load();
  s.hashed_copies = shared_->hashed_copies.load();
  s.synchronous = shared_->synchronous.load();
  return s;
}

namespace {

// The saver's memory for `device`, made on first use. InvalidArgument for a second device.
Result<std::shared_ptr<SaverMemory>> MemoryFor(DeviceSaver::Shared& shared, const Store& store, int device) {
  std::lock_guard<std::mutex> l(shared.mu);
  if (!shared.memory) {
    const DeviceSaverOptions& o = shared.options;
    const size_t buffers = o.staging_buffers > 0 ? o.staging_buffers : std::max(1u, std::thread::hardware_concurrency());
    static_assert(DeviceSaverOptions::kAuto == RegionPool::kAutoBudget, "the budgets pass through as they are");
    shared.memory =
        std::make_shared<SaverMemory>(device, store.chunk_size(), buffers, o.snapshot_bytes, o.pinned_capture_bytes);
  }
  if (shared.memory->device != device)
    return Status::InvalidArgument("this DeviceSaver saves from CUDA device " + std::to_string(shared.memory->device) +
                                   ", not device " + std::to_string(device) + ": use one saver per device");
  return shared.memory;
}

// What Save and SaveAsync start with: the saver's memory for the tensors' one device, or null when
// every tensor is in host memory (the store's own path then serves them). FailedPrecondition when
// device tensors meet no usable GPU.
Result<std::shared_ptr<SaverMemory>> ForTensors(DeviceSaver::Shared& shared, const Store& store,
                                                std::span<const TensorRef> tensors) {
  auto device = OneDevice(tensors, "tensor", "a device save reads one device");
  if (!device.ok()) return device.status();
  if (*device == kHostMemory) return std::shared_ptr<SaverMemory>();
  std::string why;
  if (!DeviceAvailable(&why)) return Status::FailedPrecondition(why);
  return MemoryFor(shared, store, *device);
}

}  // namespace

Status DeviceSaver::Reserve(int device, uint64_t snapshot_bytes, uint64_t pinned_bytes) {
  std::string why;
  if (!DeviceAvailable(&why)) return Status::FailedPrecondition(why);
  auto memory = MemoryFor(*shared_, store_, device);
  if (!memory.ok()) return memory.status();
  for (auto [pool, bytes, what] : {std::tuple{&(*memory)->snapshots, snapshot_bytes, "device snapshot"},
                                   std::tuple{&(*memory)->pinned, pinned_bytes, "pinned capture"}}) {
    if (bytes == 0) continue;
    std::optional<uint8_t*> region = pool->Take(bytes);
    if (!region)
      return Status::ResourceExhausted("cannot reserve " + std::to_string(bytes) + " bytes of " + what + " memory");
    pool->Give(*region);
  }
  return Status::OK();
}

Result<SavedCheckpoint> DeviceSaver::Save(std::span<const TensorRef> tensors, const SaveOptions& options, void* stream) {
  auto memory = ForTensors(*shared_, store_, tensors);
  if (!memory.ok()) return memory.status();
  if (!*memory) return store_.Save(tensors, options);
  if (Status s = CudaStatus(cudaSetDevice((*memory)->device), "device save: cudaSetDevice"); !s.ok()) return s;
  if (Status s = CudaStatus(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)),
                            "device save: waiting for the tensors' stream");
      !s.ok())
    return s;
  return SaveFromSource(store_, tensors, options, [&](std::span<const ChunkTask> tasks) {
    return Result<std::unique_ptr<ChunkSource>>(std::make_unique<LiveSource>(tensors, tasks, *memory));
  });
}

Result<SaveHandle> DeviceSaver::SaveAsync(std::span<const TensorRef> tensors, const SaveOptions& options, void* stream) {
  auto memory = ForTensors(*shared_, store_, tensors);
  if (!memory.ok()) return memory.status();
  if (!*memory) return store_.SaveAsync(tensors, options);
  using Capture = DeviceSaverOptions::Capture;
  const Capture mode = shared_->options.capture;
  bool no_memory = false;  // neither capture could have its memory: save synchronously instead
  auto capture = [&](std::span<const ChunkTask> tasks) -> Result<std::unique_ptr<ChunkSource>> {
    if (mode != Capture::kHashedCopy) {
      auto snap = CaptureSnapshot(tensors, tasks, *memory, stream);
      if (!snap.ok() || *snap) {
        if (snap.ok()) shared_->snapshots.fetch_add(1);
        return snap;
      }
      if (mode == Capture::kSnapshot)
        return Status::ResourceExhausted("no device memory for a snapshot of the state within the saver's budget");
    }
    auto copy = CaptureHashedCopy(store_, tensors, tasks, *memory, stream);
    if (!copy.ok() || *copy) {
      if (copy.ok()) shared_->hashed_copies.fetch_add(1);
      return copy;
    }
    if (mode == Capture::kHashedCopy)
      return Status::ResourceExhausted("no pinned host memory for the state's new chunks within the saver's budget");
    no_memory = true;
    return Status::ResourceExhausted("no memory to capture the state into");
  };
  auto handle = SaveAsyncFromSource(store_, tensors, options, capture);
  if (handle.ok() || !no_memory) return handle;
  // Neither way had memory: a synchronous save (SaveAsync returns once it is committed).
  shared_->synchronous.fetch_add(1);
  auto saved = Save(tensors, options, stream);
  if (!saved.ok()) return saved.status();
  auto outcome = std::make_shared<SaveOutcome>(options.step);
  outcome->Set(std::move(saved).value());
  return SaveHandle(std::move(outcome));
}

}  // namespace ckptdb::gpu

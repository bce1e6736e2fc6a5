#include "gpu/device_save.h"

#include <cuda_runtime.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "gpu/cuda_status.h"
#include "gpu/device_chunk_hasher.h"
#include "gpu/device_hasher.h"
#include "store/save_from_source.h"
#include "store/store_impl.h"

namespace ckptdb::gpu {
namespace {

// At most `limit` pinned buffers of `bytes` each, made when first needed and reused.
class PinnedPool {
 public:
  PinnedPool(uint64_t bytes, size_t limit) : bytes_(bytes), limit_(limit) {}
  ~PinnedPool() {
    for (void* p : all_) cudaFreeHost(p);
  }
  Result<void*> Take() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return !free_.empty() || all_.size() < limit_; });
    if (!free_.empty()) {
      void* p = free_.back();
      free_.pop_back();
      return p;
    }
    void* p = nullptr;
    if (Status s = CudaStatus(cudaHostAlloc(&p, bytes_, cudaHostAllocDefault), "device save: cudaHostAlloc"); !s.ok())
      return s;
    all_.push_back(p);
    return p;
  }
  void Give(void* p) {
    {
      std::lock_guard<std::mutex> l(mu_);
      free_.push_back(p);
    }
    cv_.notify_one();
  }

 private:
  const uint64_t bytes_;
  const size_t limit_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<void*> all_, free_;
};

class DeviceChunks final : public ChunkSource {
 public:
  // `chunks` and `bytes` count what crosses to the host; they outlive the source (the save ends it).
  DeviceChunks(std::span<const TensorRef> tensors, std::span<const ChunkTask> tasks, PinnedPool& pool,
               std::atomic<uint64_t>& chunks, std::atomic<uint64_t>& bytes)
      : tensors_(tensors), tasks_(tasks), pool_(pool), chunks_(chunks), bytes_(bytes) {}

  ChunkView View(size_t task) const override {
    const ChunkTask& t = tasks_[task];
    return {static_cast<const uint8_t*>(tensors_[t.tensor].data) + t.offset, t.length};
  }
  const ChunkHasher* hasher() const override { return &hasher_; }

  Status WithHostBytes(size_t /*task*/, const ChunkView& view,
                       const std::function<Status(const ChunkView&)>& use) const override {
    auto buffer = pool_.Take();
    if (!buffer.ok()) return buffer.status();
    // Each worker thread copies on its own stream, so copies and other threads' writes overlap.
    Status s = CudaStatus(cudaMemcpyAsync(*buffer, view.data, view.length, cudaMemcpyDeviceToHost, cudaStreamPerThread),
                          "device save: copying a chunk to the host");
    if (s.ok()) s = CudaStatus(cudaStreamSynchronize(cudaStreamPerThread), "device save: copying a chunk to the host");
    if (s.ok()) {
      chunks_.fetch_add(1);
      bytes_.fetch_add(view.length);
      s = use({static_cast<const uint8_t*>(*buffer), view.length});
    }
    pool_.Give(*buffer);
    return s;
  }

 private:
  std::span<const TensorRef> tensors_;
  std::span<const ChunkTask> tasks_;
  PinnedPool& pool_;
  DeviceChunkHasher hasher_;
  std::atomic<uint64_t>& chunks_;
  std::atomic<uint64_t>& bytes_;
};

}  // namespace

Result<SavedCheckpoint> SaveFromDevice(Store& store, std::span<const TensorRef> tensors, const SaveOptions& options,
                                       DeviceSaveStats* stats, void* stream, int staging_buffers) {
  std::string why;
  if (!DeviceAvailable(&why)) return Status::FailedPrecondition(why);
  if (Status s = CudaStatus(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)),
                            "device save: waiting for the tensors' stream");
      !s.ok())
    return s;
  const size_t limit = staging_buffers > 0 ? staging_buffers : std::max(1u, std::thread::hardware_concurrency());
  PinnedPool pool(store.chunk_size(), limit);
  std::atomic<uint64_t> chunks{0}, bytes{0};
  auto make = [&](std::span<const ChunkTask> tasks) -> Result<std::unique_ptr<ChunkSource>> {
    return std::unique_ptr<ChunkSource>(new DeviceChunks(tensors, tasks, pool, chunks, bytes));
  };
  auto saved = SaveFromSource(store, tensors, options, make);
  if (stats) *stats = {chunks.load(), bytes.load()};
  return saved;
}

}  // namespace ckptdb::gpu

#include "gpu/device_sources.h"

#include <cuda_runtime.h>

#include <cstring>
#include <unordered_map>

#include "gpu/cuda_status.h"
#include "gpu/device_hasher.h"
#include "store/save_from_source.h"

namespace ckptdb::gpu {
namespace {

constexpr uint64_t kAlign = 4096;  // each pinned copy starts page-aligned: O_DIRECT writes it in place
uint64_t RoundUp(uint64_t n, uint64_t to) { return (n + to - 1) / to * to; }

// Host tensors' bytes, copied at capture into memory of the capture's own.
std::vector<std::vector<uint8_t>> CopyHostTensors(std::span<const TensorRef> tensors) {
  std::vector<std::vector<uint8_t>> copies(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i)
    if (tensors[i].cuda_device == kHostMemory && tensors[i].size_bytes > 0 && tensors[i].known_chunks.empty()) {
      const auto* p = static_cast<const uint8_t*>(tensors[i].data);
      copies[i].assign(p, p + tensors[i].size_bytes);
    }
  return copies;
}

// A snapshot: device tensors in a region of device memory, host tensors in copies of its own.
class SnapshotSource final : public DeviceSourceBase {
 public:
  SnapshotSource(std::span<const TensorRef> tensors, std::span<const ChunkTask> tasks,
                 std::shared_ptr<SaverMemory> memory, uint8_t* region)
      : DeviceSourceBase(tensors, tasks, std::move(memory)), region_(region), host_(CopyHostTensors(tensors)) {}
  ~SnapshotSource() override { memory_->snapshots.Give(region_); }
  // Where tensor i's bytes are: its place in the region, or its host copy.
  void Place(size_t i, const uint8_t* at) { base_.resize(std::max(base_.size(), i + 1)), base_[i] = at; }
  const uint8_t* host_copy(size_t i) const { return host_[i].data(); }
  ChunkView View(size_t task) const override {
    const ChunkTask& t = tasks_[task];
    return {base_[t.tensor] + t.offset, t.length};
  }
  Status WithHostBytes(size_t task, const ChunkView& view,
                       const std::function<Status(const ChunkView&)>& use) const override {
    return on_device(task) ? CopyToHost(view, use) : use(view);
  }

 private:
  uint8_t* region_;
  std::vector<std::vector<uint8_t>> host_;
  std::vector<const uint8_t*> base_;
};

// A hashed copy: every device task's digest, and pinned copies of the chunks to write.
class HashedCopySource final : public DeviceSourceBase {
 public:
  HashedCopySource(std::span<const TensorRef> tensors, std::span<const ChunkTask> tasks,
                   std::shared_ptr<SaverMemory> memory)
      : DeviceSourceBase(tensors, tasks, std::move(memory)), at_(tasks.size(), nullptr), digests_(tasks.size()) {}
  ~HashedCopySource() override {
    if (region_) memory_->pinned.Give(region_);
  }
  ChunkView View(size_t task) const override { return {at_[task], tasks_[task].length}; }
  const Digest* Digested(size_t task) const override { return on_device(task) ? &digests_[task] : nullptr; }
  Status WithHostBytes(size_t task, const ChunkView& view,
                       const std::function<Status(const ChunkView&)>& use) const override {
    if (view.data == nullptr)
      return Status::FailedPrecondition("chunk " + std::to_string(tasks_[task].index) +
                                        " was in the store when the save was captured, so it was not copied, but a "
                                        "garbage collection removed it before the save committed; save again");
    return use(view);
  }
  std::vector<const uint8_t*> at_;  // per task: its pinned copy; null: not copied (the store had it)
  std::vector<Digest> digests_;     // per device task
  uint8_t* region_ = nullptr;
};

}  // namespace

DeviceSourceBase::DeviceSourceBase(std::span<const TensorRef> tensors, std::span<const ChunkTask> tasks,
                                   std::shared_ptr<SaverMemory> memory)
    : tasks_(tasks.begin(), tasks.end()), memory_(std::move(memory)), hasher_(memory_->device) {
  for (const TensorRef& t : tensors) on_device_.push_back(t.cuda_device != kHostMemory);
}

Status DeviceSourceBase::CopyToHost(const ChunkView& view, const std::function<Status(const ChunkView&)>& use) const {
  auto buffer = memory_->buffers.Take();
  if (!buffer.ok()) return buffer.status();
  // Each worker thread copies on its own stream, so copies and other threads' writes overlap.
  Status s = CudaStatus(cudaSetDevice(memory_->device), "device save: cudaSetDevice");
  if (s.ok())
    s = CudaStatus(cudaMemcpyAsync(*buffer, view.data, view.length, cudaMemcpyDeviceToHost, cudaStreamPerThread),
                   "device save: copying a chunk to the host");
  if (s.ok()) s = CudaStatus(cudaStreamSynchronize(cudaStreamPerThread), "device save: copying a chunk to the host");
  if (s.ok()) {
    memory_->chunks_to_host.fetch_add(1);
    memory_->bytes_to_host.fetch_add(view.length);
    s = use({static_cast<const uint8_t*>(*buffer), view.length});
  }
  memory_->buffers.Give(*buffer);
  return s;
}

LiveSource::LiveSource(std::span<const TensorRef> tensors, std::span<const ChunkTask> tasks,
                       std::shared_ptr<SaverMemory> memory)
    : DeviceSourceBase(tensors, tasks, std::move(memory)) {
  for (const TensorRef& t : tensors) data_.push_back(static_cast<const uint8_t*>(t.data));
}

ChunkView LiveSource::View(size_t task) const {
  const ChunkTask& t = tasks_[task];
  return {data_[t.tensor] + t.offset, t.length};
}

Status LiveSource::WithHostBytes(size_t task, const ChunkView& view,
                                 const std::function<Status(const ChunkView&)>& use) const {
  return on_device(task) ? CopyToHost(view, use) : use(view);
}

Result<std::unique_ptr<ChunkSource>> CaptureSnapshot(std::span<const TensorRef> tensors, std::span<const ChunkTask> tasks,
                                                     std::shared_ptr<SaverMemory> memory, void* stream) {
  constexpr uint64_t kDeviceAlign = 256;
  uint64_t need = 0;
  // Tensors given with known chunks (TensorRef::known_chunks) are never read: not copied either.
  for (const TensorRef& t : tensors)
    if (t.cuda_device != kHostMemory && t.known_chunks.empty()) need += RoundUp(t.size_bytes, kDeviceAlign);
  std::optional<uint8_t*> region = memory->snapshots.Take(need);
  if (!region) return std::unique_ptr<ChunkSource>();
  SaverMemory& m = *memory;
  auto source = std::make_unique<SnapshotSource>(tensors, tasks, std::move(memory), *region);
  const auto s = static_cast<cudaStream_t>(stream);
  if (Status st = CudaStatus(cudaSetDevice(m.device), "device snapshot: cudaSetDevice"); !st.ok()) return st;
  uint64_t at = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorRef& t = tensors[i];
    if (t.cuda_device == kHostMemory || !t.known_chunks.empty()) {
      source->Place(i, source->host_copy(i));  // empty for a known tensor
      continue;
    }
    source->Place(i, *region + at);
    // Queued on the caller's stream, so they follow the work that wrote the tensors.
    if (t.size_bytes > 0)
      if (Status st = CudaStatus(cudaMemcpyAsync(*region + at, t.data, t.size_bytes, cudaMemcpyDeviceToDevice, s),
                                 "device snapshot: copying tensor '" + t.name + "'");
          !st.ok()) {
        cudaStreamSynchronize(s);  // copies queued before go on into the region, which goes back now
        return st;
      }
    at += RoundUp(t.size_bytes, kDeviceAlign);
  }
  if (Status st = CudaStatus(cudaStreamSynchronize(s), "device snapshot: waiting for the copies"); !st.ok()) return st;
  m.snapshot_bytes.fetch_add(at);
  return std::unique_ptr<ChunkSource>(std::move(source));
}

Result<std::unique_ptr<ChunkSource>> CaptureHashedCopy(Store& store, std::span<const TensorRef> tensors,
                                                       std::span<const ChunkTask> tasks,
                                                       std::shared_ptr<SaverMemory> memory, void* stream) {
  SaverMemory& m = *memory;
  auto source = std::make_unique<HashedCopySource>(tensors, tasks, std::move(memory));
  const auto s = static_cast<cudaStream_t>(stream);
  if (Status st = CudaStatus(cudaSetDevice(m.device), "device capture: cudaSetDevice"); !st.ok()) return st;
  if (Status st = CudaStatus(cudaStreamSynchronize(s), "device capture: waiting for the tensors' stream"); !st.ok())
    return st;
  // 1. Hash every device chunk on the GPU.
  std::vector<size_t> device_tasks;
  std::vector<DeviceChunk> chunks;
  const auto known = [&](size_t k) { return !tensors[tasks[k].tensor].known_chunks.empty(); };
  for (size_t k = 0; k < tasks.size(); ++k)
    if (tensors[tasks[k].tensor].cuda_device != kHostMemory && !known(k)) {
      device_tasks.push_back(k);
      chunks.push_back({static_cast<const uint8_t*>(tensors[tasks[k].tensor].data) + tasks[k].offset, tasks[k].length});
    }
  std::vector<Digest> digests(chunks.size());
  if (Status st = HashDeviceChunks(chunks, digests, stream); !st.ok()) return st;
  // 2. Which of them the store lacks now; each distinct one is copied once (tied weights).
  auto present = ChunksPresent(store, digests);
  if (!present.ok()) return present.status();
  std::unordered_map<Digest, size_t, DigestHash> first;  // digest -> the device task that copies it
  std::vector<size_t> copy;                              // tasks to copy, device and host
  for (size_t j = 0; j < device_tasks.size(); ++j) {
    source->digests_[device_tasks[j]] = digests[j];
    if (!(*present)[j] && first.emplace(digests[j], device_tasks[j]).second) copy.push_back(device_tasks[j]);
  }
  for (size_t k = 0; k < tasks.size(); ++k)
    if (tensors[tasks[k].tensor].cuda_device == kHostMemory && !known(k)) copy.push_back(k);
  uint64_t need = 0;
  for (size_t k : copy) need += RoundUp(tasks[k].length, kAlign);
  if (need > 0) {
    std::optional<uint8_t*> region = m.pinned.Take(need);
    if (!region) return std::unique_ptr<ChunkSource>();
    source->region_ = *region;
  }
  // 3. Copy them: device chunks over PCIe on the caller's stream, host ones by memcpy meanwhile.
  uint64_t at = 0, device_bytes = 0, device_chunks = 0;
  for (size_t k : copy) {
    const ChunkTask& t = tasks[k];
    const TensorRef& tensor = tensors[t.tensor];
    uint8_t* to = source->region_ + at;
    source->at_[k] = to;
    at += RoundUp(t.length, kAlign);
    if (tensor.cuda_device == kHostMemory) continue;
    if (Status st = CudaStatus(cudaMemcpyAsync(to, static_cast<const uint8_t*>(tensor.data) + t.offset, t.length,
                                               cudaMemcpyDeviceToHost, s),
                               "device capture: copying a chunk of tensor '" + tensor.name + "' to the host");
        !st.ok()) {
      cudaStreamSynchronize(s);  // as in CaptureSnapshot
      return st;
    }
    device_bytes += t.length;
    ++device_chunks;
  }
  for (size_t k : copy) {
    const ChunkTask& t = tasks[k];
    if (tensors[t.tensor].cuda_device == kHostMemory)
      std::memcpy(const_cast<uint8_t*>(source->at_[k]), static_cast<const uint8_t*>(tensors[t.tensor].data) + t.offset,
                  t.length);
  }
  if (Status st = CudaStatus(cudaStreamSynchronize(s), "device capture: waiting for the copies"); !st.ok()) return st;
  for (size_t j = 0; j < device_tasks.size(); ++j) {  // duplicates read their first copy
    const size_t k = device_tasks[j];
    if (!source->at_[k] && !(*present)[j]) source->at_[k] = source->at_[first.at(digests[j])];
  }
  m.chunks_to_host.fetch_add(device_chunks);
  m.bytes_to_host.fetch_add(device_bytes);
  return std::unique_ptr<ChunkSource>(std::move(source));
}

}  // namespace ckptdb::gpu

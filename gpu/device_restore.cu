#include "gpu/device_restore.h"

#include <cuda_runtime.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "gpu/cuda_status.h"
#include "gpu/device_hasher.h"
#include "gpu/one_device.h"
#include "store/stream_read.h"

namespace ckptdb::gpu {
namespace {

constexpr size_t kWindows = 2;

// The restore's pinned windows, stream and one event per window; freed once the stream is idle.
struct Pipeline {
  ~Pipeline() {
    if (stream) cudaStreamSynchronize(stream);
    for (cudaEvent_t e : events)
      if (e) cudaEventDestroy(e);
    if (stream) cudaStreamDestroy(stream);
    for (uint8_t* w : windows) cudaFreeHost(w);
  }
  Status Make(uint64_t bytes) {
    if (Status s = CudaStatus(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "device restore: a stream");
        !s.ok())
      return s;
    for (size_t i = 0; i < kWindows; ++i) {
      void* p = nullptr;
      if (Status s = CudaStatus(cudaHostAlloc(&p, bytes, cudaHostAllocDefault), "device restore: pinning a window");
          !s.ok())
        return s;
      windows.push_back(static_cast<uint8_t*>(p));
      cudaEvent_t e = nullptr;
      if (Status s = CudaStatus(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "device restore: an event"); !s.ok())
        return s;
      events.push_back(e);
    }
    return Status::OK();
  }
  cudaStream_t stream = nullptr;
  std::vector<uint8_t*> windows;
  std::vector<cudaEvent_t> events;
};

Status Mismatch(const std::string& store, const CheckpointManifest& m, size_t tensor, uint64_t chunk) {
  return Status::Corruption("store " + store + ", checkpoint " + std::to_string(m.info.id) + " (step " + std::to_string(m.info.step) +
                            "), tensor '" + m.tensors[tensor].name + "', chunk " + std::to_string(chunk) + ": chunk " +
                            m.tensors[tensor].chunks[chunk].ToHex() + " does not match its digest");
}

// Checks the whole chunks in `bytes`, which start at `offset` of `tensor` (a chunk boundary: pieces
// are whole chunks of one tensor at a time).
Status CheckOnHost(const std::string& store, const CheckpointManifest& m, size_t tensor, uint64_t offset, std::span<const uint8_t> bytes) {
  for (uint64_t at = 0; at < bytes.size(); at += m.chunk_size) {
    const uint64_t chunk = (offset + at) / m.chunk_size, n = std::min<uint64_t>(m.chunk_size, bytes.size() - at);
    if (HashBytes(bytes.data() + at, n) != m.tensors[tensor].chunks[chunk]) return Mismatch(store, m, tensor, chunk);
  }
  return Status::OK();
}

// Hashes every chunk of the tensors with a device destination there and compares.
Status CheckOnDevice(const std::string& store, const CheckpointManifest& m, const std::vector<const uint8_t*>& dest, cudaStream_t stream) {
  std::vector<DeviceChunk> chunks;
  std::vector<std::pair<size_t, uint64_t>> which;  // (tensor, chunk) of each
  for (size_t t = 0; t < dest.size(); ++t)
    if (dest[t])
      for (uint64_t c = 0, at = 0; at < m.tensors[t].size_bytes; ++c, at += m.chunk_size) {
        chunks.push_back({dest[t] + at, std::min<uint64_t>(m.chunk_size, m.tensors[t].size_bytes - at)});
        which.push_back({t, c});
      }
  std::vector<Digest> digests(chunks.size());
  if (Status s = HashDeviceChunks(chunks, digests, stream); !s.ok()) return s;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const auto [t, c] = which[i];
    if (digests[i] != m.tensors[t].chunks[c]) return Mismatch(store, m, t, c);
  }
  return Status::OK();
}

}  // namespace

Status RestoreIntoDevice(Store& store, const Selector& which, std::span<const TensorBuffer> buffers,
                         const ReadOptions& options, const DeviceRestoreOptions& device_options) {
  auto one = OneDevice(buffers, "buffer for tensor", "a device restore writes one device");
  if (!one.ok()) return one.status();
  const int device = *one;
  if (device == kHostMemory) return store.RestoreInto(which, buffers, options);
  std::string why;
  if (!DeviceAvailable(&why)) return Status::FailedPrecondition(why);
  if (Status s = CudaStatus(cudaSetDevice(device), "device restore: cudaSetDevice"); !s.ok()) return s;
  Pipeline pipe;
  const uint64_t window = std::max(device_options.window_bytes, store.chunk_size());
  // On the device, the stream reads without checking; this restore checks every chunk itself.
  const bool on_device_check = options.verify_chunks && device_options.verify_on_device;
  ReadOptions read = options;
  if (on_device_check) read.verify_chunks = false;
  CheckpointManifest manifest;  // begin's copy: the digests to check against
  if (Status s = pipe.Make(window); !s.ok()) return s;

  // Where each tensor's bytes go, in manifest order (null: read and dropped), and whether on the device.
  std::vector<uint8_t*> dest;
  std::vector<bool> on_device;
  std::vector<uint64_t> sizes;
  auto begin = [&](const CheckpointManifest& m) -> Status {
    if (on_device_check) manifest = m;
    std::map<std::string, const TensorBuffer*> by_name;
    for (const TensorBuffer& b : buffers) by_name[b.name] = &b;
    for (const TensorInfo& t : m.tensors) {
      auto it = by_name.find(t.name);
      const TensorBuffer* b = it == by_name.end() ? nullptr : it->second;
      if (b && (b->dtype != t.dtype || b->shape != t.shape || b->size_bytes != t.size_bytes))
        return Status::InvalidArgument("tensor '" + t.name + "': the buffer's dtype, shape or size differ from what "
                                       "checkpoint " + std::to_string(m.info.id) + " saved");
      dest.push_back(b ? static_cast<uint8_t*>(b->data) : nullptr);
      on_device.push_back(b && b->cuda_device != kHostMemory);
      sizes.push_back(t.size_bytes);
      if (b) by_name.erase(it);
    }
    if (!by_name.empty())
      return Status::NotFound("checkpoint " + std::to_string(m.info.id) + " has no tensor '" + by_name.begin()->first + "'");
    return Status::OK();
  };
  size_t tensor = 0, piece_no = 0;
  uint64_t offset = 0;  // within `tensor`
  auto write = [&](std::span<const uint8_t> piece) -> Status {
    const size_t w = piece_no++ % kWindows;
    while (!piece.empty()) {
      while (tensor < sizes.size() && offset == sizes[tensor]) ++tensor, offset = 0;
      if (tensor == sizes.size()) return Status::Internal("device restore: more bytes than the tensors hold");
      const uint64_t n = std::min<uint64_t>(piece.size(), sizes[tensor] - offset);
      if (on_device_check && !(dest[tensor] && on_device[tensor]))
        if (Status s = CheckOnHost(store.path(), manifest, tensor, offset, piece.first(n)); !s.ok()) return s;
      if (dest[tensor] && on_device[tensor]) {
        if (Status s = CudaStatus(cudaMemcpyAsync(dest[tensor] + offset, piece.data(), n, cudaMemcpyHostToDevice,
                                                  pipe.stream),
                                  "device restore: copying to the device");
            !s.ok())
          return s;
      } else if (dest[tensor]) {
        std::memcpy(dest[tensor] + offset, piece.data(), n);
      }
      offset += n;
      piece = piece.subspan(n);
    }
    // The window is read into again only after this event: its copies have then finished.
    return CudaStatus(cudaEventRecord(pipe.events[w], pipe.stream), "device restore: recording a copy");
  };
  StreamWindows windows{pipe.windows, window, [&](size_t i) {
                          return CudaStatus(cudaEventSynchronize(pipe.events[i]), "device restore: copying to the device");
                        }};
  if (Status s = StreamCheckpoint(store, which, windows, read, begin, write); !s.ok()) return s;
  if (Status s = CudaStatus(cudaStreamSynchronize(pipe.stream), "device restore: copying to the device"); !s.ok())
    return s;
  if (!on_device_check) return Status::OK();
  std::vector<const uint8_t*> device_dest(dest.size(), nullptr);
  for (size_t i = 0; i < dest.size(); ++i)
    if (on_device[i]) device_dest[i] = dest[i];
  return CheckOnDevice(store.path(), manifest, device_dest, pipe.stream);
}

}  // namespace ckptdb::gpu

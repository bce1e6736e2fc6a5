// The GPU BLAKE3 of gpu/device_hasher.h. Two kernels per call:
//   1. ChunkValues: one thread per 1 KiB BLAKE3 chunk of every input chunk (a 4 MiB store chunk is
//      4096 of them), writing its chaining value; an input of one BLAKE3 chunk gets its root here.
//   2. ReduceTrees: one block per input chunk, reducing its values level by level between two
//      buffers (reading one level while writing the next in place would race between warps).
// Where each input's values start is a prefix sum computed on the host with the launch.
#include "gpu/device_hasher.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "gpu/blake3_tree.h"
#include "gpu/cuda_status.h"

namespace ckptdb::gpu {
namespace {

namespace b3 = blake3;

struct Input {
  const uint8_t* data;
  uint64_t length;
  uint64_t first;   // index of its first value in the values buffer
  uint64_t chunks;  // its BLAKE3 chunk count
};

__global__ void ChunkValues(const Input* inputs, uint32_t n_inputs, uint64_t total, b3::Cv* values) {
  const uint64_t v = blockIdx.x * static_cast<uint64_t>(blockDim.x) + threadIdx.x;
  if (v >= total) return;
  uint32_t lo = 0, hi = n_inputs;  // the input whose [first, first + chunks) holds v
  while (hi - lo > 1) {
    const uint32_t mid = (lo + hi) / 2;
    if (inputs[mid].first <= v) lo = mid; else hi = mid;
  }
  const Input in = inputs[lo];
  const uint64_t c = v - in.first;
  const uint64_t offset = c * b3::kChunkLen;
  const uint64_t left = in.length - offset;
  const uint32_t len = static_cast<uint32_t>(in.length == 0 ? 0 : (left < b3::kChunkLen ? left : b3::kChunkLen));
  values[v] = b3::ChunkCv(in.data + offset, len, c, in.chunks == 1);
}

__global__ void ReduceTrees(const Input* inputs, b3::Cv* a, b3::Cv* b, uint8_t* digests) {
  const Input in = inputs[blockIdx.x];
  b3::Cv* from = a + in.first;
  b3::Cv* to = b + in.first;
  uint64_t n = in.chunks;
  while (n > 1) {
    const bool root = n == 2;
    for (uint64_t i = threadIdx.x; i < n / 2; i += blockDim.x) to[i] = b3::ParentCv(from[2 * i], from[2 * i + 1], root);
    if (threadIdx.x == 0 && n % 2) to[n / 2] = from[n - 1];
    __syncthreads();
    b3::Cv* t = from;
    from = to;
    to = t;
    n = (n + 1) / 2;
  }
  if (threadIdx.x == 0) b3::StoreDigest(from[0], digests + 32ull * blockIdx.x);
}

Status Cuda(cudaError_t e, const char* what) { return CudaStatus(e, std::string("GPU BLAKE3: ") + what); }

// Device memory released on every path out of HashDeviceChunks. Stream-ordered (cudaMallocAsync):
// cudaFree would wait for the whole device, training's kernels included, at every call.
struct Scratch {
  cudaStream_t stream;
  void* p = nullptr;
  ~Scratch() {
    if (p) cudaFreeAsync(p, stream);
  }
};

}  // namespace

bool DeviceAvailable(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    if (why) *why = std::string("no CUDA device: ") + (e != cudaSuccess ? cudaGetErrorString(e) : "none found");
    cudaGetLastError();  // clear the sticky error so later calls start clean
    return false;
  }
  return true;
}

namespace {

// One launch pair over `chunks`, as HashDeviceChunks describes. REQUIRES: a usable device.
Status HashBatch(std::span<const DeviceChunk> chunks, std::span<Digest> digests, cudaStream_t stream) {
  std::vector<Input> inputs(chunks.size());
  uint64_t total = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    inputs[i] = {static_cast<const uint8_t*>(chunks[i].data), chunks[i].length, total, b3::ChunkCount(chunks[i].length)};
    total += inputs[i].chunks;
  }
  // One allocation: the inputs, two value buffers, the digests.
  const uint64_t in_bytes = inputs.size() * sizeof(Input), cv_bytes = total * sizeof(b3::Cv);
  const uint64_t digest_bytes = 32ull * chunks.size();
  Scratch s{stream};
  if (Status st = Cuda(cudaMallocAsync(&s.p, in_bytes + 2 * cv_bytes + digest_bytes, stream), "cudaMallocAsync");
      !st.ok())
    return st;
  auto* base = static_cast<uint8_t*>(s.p);
  auto* d_inputs = reinterpret_cast<Input*>(base);
  auto* a = reinterpret_cast<b3::Cv*>(base + in_bytes);
  auto* b = reinterpret_cast<b3::Cv*>(base + in_bytes + cv_bytes);
  uint8_t* d_digests = base + in_bytes + 2 * cv_bytes;
  if (Status st = Cuda(cudaMemcpyAsync(d_inputs, inputs.data(), in_bytes, cudaMemcpyHostToDevice, stream), "copy inputs");
      !st.ok())
    return st;
  constexpr uint32_t kThreads = 256;
  const uint64_t blocks = (total + kThreads - 1) / kThreads;
  ChunkValues<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(d_inputs, static_cast<uint32_t>(inputs.size()),
                                                                       total, a);
  if (Status st = Cuda(cudaGetLastError(), "ChunkValues launch"); !st.ok()) return st;
  ReduceTrees<<<static_cast<unsigned>(inputs.size()), kThreads, 0, stream>>>(d_inputs, a, b, d_digests);
  if (Status st = Cuda(cudaGetLastError(), "ReduceTrees launch"); !st.ok()) return st;
  std::vector<uint8_t> host(digest_bytes);
  if (Status st = Cuda(cudaMemcpyAsync(host.data(), d_digests, digest_bytes, cudaMemcpyDeviceToHost, stream),
                       "copy digests");
      !st.ok())
    return st;
  if (Status st = Cuda(cudaStreamSynchronize(stream), "kernels"); !st.ok()) return st;
  for (size_t i = 0; i < digests.size(); ++i) std::memcpy(digests[i].bytes.data(), host.data() + 32 * i, 32);
  return Status::OK();
}

}  // namespace

Status HashDeviceChunks(std::span<const DeviceChunk> chunks, std::span<Digest> digests, void* stream) {
  if (chunks.size() != digests.size()) return Status::InvalidArgument("GPU BLAKE3: chunks and digests differ in count");
  if (chunks.empty()) return Status::OK();
  std::string why;
  if (!DeviceAvailable(&why)) return Status::FailedPrecondition(why);
  // Launches of at most kBatch chunks: 4 GiB of 4 MiB chunks, enough to fill the device, with
  // scratch (~64 bytes per KiB) that stays near 256 MiB however large the call.
  constexpr size_t kBatch = 1024;
  for (size_t i = 0; i < chunks.size(); i += kBatch) {
    const size_t n = std::min(kBatch, chunks.size() - i);
    if (Status s = HashBatch(chunks.subspan(i, n), digests.subspan(i, n), static_cast<cudaStream_t>(stream)); !s.ok())
      return s;
  }
  return Status::OK();
}

}  // namespace ckptdb::gpu

// BLAKE3-256 of chunks that live in GPU memory, computed on the GPU (gpu/device_hasher.cu): one
// launch hashes every 1 KiB BLAKE3 chunk of every given chunk in parallel, then reduces each
// chunk's tree level by level (gpu/blake3_tree.h). The digests equal store/blake3.h's.
//
// This header includes no CUDA header, so the rest of ckptdb (and its tests) can use it; it is
// built only when CMake finds nvcc (CKPTDB_WITH_CUDA, on by default).
// Thread safety: the functions may be called from any thread; each call uses its own buffers.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "ckptdb/digest.h"
#include "ckptdb/status.h"

namespace ckptdb::gpu {

// One chunk in device memory: a device pointer (any alignment) and its length in bytes.
struct DeviceChunk {
  const void* data = nullptr;
  uint64_t length = 0;
};

// True when a CUDA device can run kernels here. Otherwise false, and `why` (if given) names the
// reason in one line ("no CUDA device: CUDA driver version is insufficient", ...).
bool DeviceAvailable(std::string* why = nullptr);

// Writes the digest of chunks[i] to digests[i]: hashed on the current device, on `stream` (a
// cudaStream_t; null: the default stream), and waited for before returning. Any number of chunks:
// they are hashed in launches of at most 1024, so scratch memory (about 64 bytes per KiB of a
// launch) stays bounded; it is stream-ordered (cudaMallocAsync), so a call never waits for work on
// other streams.
// REQUIRES: equal spans; every data pointer is device memory readable for its length (null only
// for length 0).
// Errors: FailedPrecondition when no device is usable; Internal naming the CUDA call and its error
// otherwise (an invalid pointer, out of device memory). Digests are unspecified on error.
Status HashDeviceChunks(std::span<const DeviceChunk> chunks, std::span<Digest> digests, void* stream = nullptr);

}  // namespace ckptdb::gpu

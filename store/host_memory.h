#pragma once

#include <cstdint>

namespace ckptdb {

// Anonymous host memory whose pages are all present before it is handed out.
//
// Every large buffer the store allocates (restored tensors, staging memory for asynchronous saves,
// the write stage's buffers, read scratch) is written in full right after it is allocated, so the
// cost of its page faults is paid either way; paying it in the kernel is cheaper than faulting
// 4 KiB pages one by one (development VM, 2 GiB: memset of fresh pages 2.0 s, pre-faulted 1.0 s).
// Not in huge pages: on that VM, whose host reclaims memory the guest frees, MADV_HUGEPAGE was
// 4-9x faster on memory just freed but slower (0.3-0.6 GB/s against 0.4-3 GB/s) on memory the
// host had taken back, which is what a first save or a restore meets.
//
// Thread safety: both functions are safe to call from any thread.

// `bytes` of zero-filled memory, page aligned, every page faulted in. Returns nullptr when the
// memory cannot be had: the mapping or one of its pages was refused (out of memory, a memory limit;
// on kernels before 5.14, which lack MADV_POPULATE_WRITE, only a refused mapping is seen).
uint8_t* MapHostMemory(uint64_t bytes);

// Gives back what MapHostMemory returned, with the same `bytes`. A nullptr is ignored.
void UnmapHostMemory(uint8_t* p, uint64_t bytes);

}  // namespace ckptdb

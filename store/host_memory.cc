#include "store/host_memory.h"

#include <sys/mman.h>

#include <cerrno>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14; older headers lack the name
#endif

namespace ckptdb {
namespace {

constexpr uint64_t kPage = 4096;
uint64_t Mapped(uint64_t bytes) { return (bytes + kPage - 1) / kPage * kPage; }

}  // namespace

uint8_t* MapHostMemory(uint64_t bytes) {
  if (bytes > UINT64_MAX - kPage) return nullptr;
  const uint64_t len = Mapped(bytes == 0 ? 1 : bytes);
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  if (::madvise(p, len, MADV_POPULATE_WRITE) == 0) return static_cast<uint8_t*>(p);
  const int err = errno;
  ::munmap(p, len);
  if (err != EINVAL) return nullptr;  // ENOMEM, EFAULT: a page could not be had
  // A kernel before 5.14: MAP_POPULATE, which cannot report a page it failed to fault in.
  p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);
}

void UnmapHostMemory(uint8_t* p, uint64_t bytes) {
  if (p != nullptr) ::munmap(p, Mapped(bytes == 0 ? 1 : bytes));
}

}  // namespace ckptdb

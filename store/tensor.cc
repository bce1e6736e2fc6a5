#include "ckptdb/tensor.h"

#include <cstdlib>
#include <new>

#include "store/host_memory.h"
#include "store/human_text.h"

namespace ckptdb {
namespace {
constexpr uint64_t kMapThreshold = 1ull << 20;
}  // namespace

std::optional<uint64_t> NumElements(const Shape& shape) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return std::nullopt;
    if (__builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) return std::nullopt;
  }
  return n;
}

std::optional<uint64_t> ExpectedBytes(DType dtype, const Shape& shape) {
  auto n = NumElements(shape);
  uint64_t bytes = 0;
  if (!n || DTypeSize(dtype) == 0 || __builtin_mul_overflow(*n, DTypeSize(dtype), &bytes))
    return std::nullopt;
  return bytes;
}

std::string ShapeToString(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

Buffer Buffer::Allocate(uint64_t size) {
  Buffer b;
  if (size >= kMapThreshold) {
    // Pre-faulted, in huge pages where the kernel allows: a restore writes every byte at once, and
    // faulting fresh 4 KiB pages one by one on VMs runs below the disk's speed.
    uint8_t* p = MapHostMemory(size);
    if (p == nullptr) throw std::bad_alloc();
    b.data_ = std::unique_ptr<uint8_t, Free>(p, Free{size});
    b.size_ = size;
    return b;
  }
  // aligned_alloc needs a size that is a multiple of the alignment; round up, never zero.
  uint64_t padded = (size + 63) / 64 * 64;
  if (padded == 0) padded = 64;
  void* p = std::aligned_alloc(64, padded);
  if (p == nullptr) throw std::bad_alloc();
  b.data_.reset(static_cast<uint8_t*>(p));
  b.size_ = size;
  return b;
}

void Buffer::Free::operator()(uint8_t* p) const {
  if (mapped) UnmapHostMemory(p, mapped);
  else std::free(p);
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    size_t len;
    uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    else return false;
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      unsigned char cc = s[i + k];
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Reject overlong forms, surrogates and code points past U+10FFFF.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
      return false;
    i += len;
  }
  return true;
}

Status ValidateTensorRef(const TensorRef& t) {
  if (t.name.empty()) return Status::InvalidArgument("tensor name is empty");
  if (!IsValidUtf8(t.name)) return Status::InvalidArgument("tensor name is not valid UTF-8");
  const std::string who = "tensor '" + t.name + "'";
  if (!IsValidDType(static_cast<uint8_t>(t.dtype)))
    return Status::InvalidArgument(who + ": unknown dtype " + std::to_string(int(t.dtype)));
  auto expected = ExpectedBytes(t.dtype, t.shape);
  if (!expected)
    return Status::InvalidArgument(who + ": shape " + ShapeToString(t.shape) +
                                   " has a negative dimension or overflows");
  if (*expected != t.size_bytes)
    return Status::InvalidArgument(who + ": shape " + ShapeToString(t.shape) + " of " +
                                   std::string(DTypeName(t.dtype)) + " needs " +
                                   Plural(*expected, "byte") + " but " + std::to_string(t.size_bytes) +
                                   (t.size_bytes == 1 ? " was given" : " were given"));
  if (t.size_bytes > 0 && t.data == nullptr && t.known_chunks.empty())
    return Status::InvalidArgument(who + ": data is null");
  if (t.cuda_device < kHostMemory)
    return Status::InvalidArgument(who + ": cuda_device " + std::to_string(t.cuda_device) +
                                   " is neither a device (>= 0) nor kHostMemory (-1)");
  return Status::OK();
}

}  // namespace ckptdb

// BLAKE3 hash mode: the chunk/parent tree, the portable compression function and back-end dispatch.
// The SIMD files only hash many equal-shaped inputs at once; everything about the tree lives here.
#include "store/blake3.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "store/blake3_impl.h"

namespace ckptdb::blake3 {
namespace internal {
namespace {

struct Ops {
  static CKPTDB_B3_INLINE uint32_t Add(uint32_t a, uint32_t b) { return a + b; }
  static CKPTDB_B3_INLINE uint32_t Xor(uint32_t a, uint32_t b) { return a ^ b; }
  static CKPTDB_B3_INLINE uint32_t Rotr(uint32_t a, int n) { return (a >> n) | (a << (32 - n)); }
  static CKPTDB_B3_INLINE uint32_t Rot16(uint32_t a) { return Rotr(a, 16); }
  static CKPTDB_B3_INLINE uint32_t Rot12(uint32_t a) { return Rotr(a, 12); }
  static CKPTDB_B3_INLINE uint32_t Rot8(uint32_t a) { return Rotr(a, 8); }
  static CKPTDB_B3_INLINE uint32_t Rot7(uint32_t a) { return Rotr(a, 7); }
};

// Byte-wise so that it is correct on any endianness; compilers turn it into one load on x86.
uint32_t Load32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}
void Store32(uint8_t* p, uint32_t w) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(w >> (8 * i));
}

// The compression function, truncated to the 8 words that hash mode ever uses.
void Compress(const uint32_t cv[8], const uint8_t block[kBlockLen], uint32_t block_len,
              uint64_t counter, uint8_t flags, uint32_t out[8]) {
  uint32_t m[16];
  for (int i = 0; i < 16; ++i) m[i] = Load32(block + 4 * i);
  uint32_t v[16];
  for (int i = 0; i < 8; ++i) v[i] = cv[i];
  for (int i = 0; i < 4; ++i) v[8 + i] = kIV[i];
  v[12] = static_cast<uint32_t>(counter);
  v[13] = static_cast<uint32_t>(counter >> 32);
  v[14] = block_len;
  v[15] = flags;
  SevenRounds<Ops>(v, m);
  for (int i = 0; i < 8; ++i) out[i] = v[i] ^ v[i + 8];
}

}  // namespace

size_t HashManyPortable(const uint8_t* in, size_t stride, size_t n, size_t blocks, uint64_t counter,
                        bool increment_counter, uint8_t flags, uint8_t flags_start,
                        uint8_t flags_end, uint8_t* out) {
  for (size_t i = 0; i < n; ++i) {
    uint32_t cv[8];
    std::memcpy(cv, kIV, sizeof cv);
    for (size_t b = 0; b < blocks; ++b) {
      uint8_t f = flags | (b == 0 ? flags_start : 0) | (b + 1 == blocks ? flags_end : 0);
      Compress(cv, in + i * stride + b * kBlockLen, kBlockLen,
               counter + (increment_counter ? i : 0), f, cv);
    }
    for (int w = 0; w < 8; ++w) Store32(out + 32 * i + 4 * w, cv[w]);
  }
  return n;
}

namespace {

// Widest first; each entry finishes what the one before it could not.
struct Cascade {
  HashManyFn fns[4];
};

void HashMany(const Cascade& c, const uint8_t* in, size_t stride, size_t n, size_t blocks,
              uint64_t counter, bool increment_counter, uint8_t flags, uint8_t flags_start,
              uint8_t flags_end, uint8_t* out) {
  for (HashManyFn fn : c.fns) {
    if (fn == nullptr || n == 0) break;
    size_t done =
        fn(in, stride, n, blocks, counter, increment_counter, flags, flags_start, flags_end, out);
    in += done * stride;
    out += done * 32;
    if (increment_counter) counter += done;
    n -= done;
  }
}

// The last compression of a node, held back because only the caller knows whether that node is the
// root (which adds kRoot) or an inner node (whose 32-byte chaining value feeds its parent).
struct Output {
  uint32_t cv[8];
  uint8_t block[kBlockLen];
  uint32_t block_len;
  uint64_t counter;
  uint8_t flags;

  void ChainingValue(uint8_t out[32]) const {
    uint32_t w[8];
    Compress(cv, block, block_len, counter, flags, w);
    for (int i = 0; i < 8; ++i) Store32(out + 4 * i, w[i]);
  }
  // The root's output counter counts 64-byte output blocks; 32 bytes need only block 0.
  void Root(uint8_t out[32]) const {
    uint32_t w[8];
    Compress(cv, block, block_len, 0, flags | kRoot, w);
    for (int i = 0; i < 8; ++i) Store32(out + 4 * i, w[i]);
  }
};

Output ParentOutput(const uint8_t left_and_right[64]) {
  Output o;
  std::memcpy(o.cv, kIV, sizeof o.cv);
  std::memcpy(o.block, left_and_right, kBlockLen);
  o.block_len = kBlockLen;
  o.counter = 0;
  o.flags = kParent;
  return o;
}

// A chunk of 0 < len <= 1024 bytes (0 only for the empty input), with chunk index `counter`.
Output ChunkOutput(const uint8_t* p, size_t len, uint64_t counter) {
  Output o;
  std::memcpy(o.cv, kIV, sizeof o.cv);
  size_t blocks = len == 0 ? 1 : (len + kBlockLen - 1) / kBlockLen;
  for (size_t b = 0; b + 1 < blocks; ++b)
    Compress(o.cv, p + b * kBlockLen, kBlockLen, counter, b == 0 ? kChunkStart : 0, o.cv);
  size_t last = len - (blocks - 1) * kBlockLen;
  std::memset(o.block, 0, kBlockLen);
  if (last > 0) std::memcpy(o.block, p + (blocks - 1) * kBlockLen, last);
  o.block_len = static_cast<uint32_t>(last);
  o.counter = counter;
  o.flags = static_cast<uint8_t>((blocks == 1 ? kChunkStart : 0) | kChunkEnd);
  return o;
}

// Inputs are hashed in groups of this many chunks: big enough that every level of a group's parents
// but the top few fills whole SIMD registers, small enough that its chaining values (8 KiB) stay in
// L1 and on the stack.
constexpr size_t kGroupChunks = 256;
static_assert(kGroupChunks * kChunkLen == kFillBytes, "HashFilled hands out one group at a time");

// The subtree over `len` bytes at `p`, 0 < len <= kGroupChunks * kChunkLen, whose first chunk has
// index `counter`. Its chunks are one aligned run of the BLAKE3 tree, so pairing neighbours level
// by level (an odd one out rides up unchanged) builds exactly the tree the spec defines.
Output SubtreeOutput(const Cascade& c, const uint8_t* p, size_t len, uint64_t counter) {
  size_t full = len / kChunkLen, partial = len % kChunkLen;
  size_t n = full + (partial != 0);
  if (n <= 1) return ChunkOutput(p, len, counter);  // n == 0: the empty input
  uint8_t a[kGroupChunks * 32], b[kGroupChunks / 2 * 32];
  HashMany(c, p, kChunkLen, full, kBlocksPerChunk, counter, true, 0, kChunkStart, kChunkEnd, a);
  if (partial != 0)
    ChunkOutput(p + full * kChunkLen, partial, counter + full).ChainingValue(a + full * 32);
  uint8_t *cur = a, *next = b;
  while (n > 2) {
    size_t pairs = n / 2;
    HashMany(c, cur, 64, pairs, 1, 0, false, kParent, 0, 0, next);
    if (n % 2 != 0) std::memcpy(next + pairs * 32, cur + (n - 1) * 32, 32);
    n = pairs + n % 2;
    uint8_t* t = cur;
    cur = next;
    next = t;
  }
  return ParentOutput(cur);
}

void Join(const uint8_t left[32], const uint8_t right[32], uint8_t block[64]) {
  std::memcpy(block, left, 32);
  std::memcpy(block + 32, right, 32);
}

// `fill`, when given, is called for each group's bytes just before they are hashed (see HashFilled);
// it returning false stops the hash there.
bool HashCascade(const Cascade& c, const uint8_t* p, size_t len, uint8_t out[kOutLen],
                 const FillFn* fill = nullptr) {
  constexpr size_t kGroupBytes = kGroupChunks * kChunkLen;
  const uint8_t* const start = p;
  auto filled = [&](size_t n) { return fill == nullptr || n == 0 || (*fill)(p - start, n); };
  // Chaining values of complete subtrees still waiting for their right sibling, left to right and
  // of strictly decreasing size: bit k of `groups` says whether one of 2^k groups is waiting.
  uint8_t stack[64][32];
  size_t depth = 0;
  uint64_t groups = 0;
  uint8_t cv[32], pair[64];
  // Merged eagerly only while more input follows, so none of these merges can be the root.
  while (len > kGroupBytes) {
    if (!filled(kGroupBytes)) return false;
    SubtreeOutput(c, p, kGroupBytes, groups * kGroupChunks).ChainingValue(cv);
    ++groups;
    for (uint64_t g = groups; g % 2 == 0; g /= 2) {
      Join(stack[--depth], cv, pair);
      ParentOutput(pair).ChainingValue(cv);
    }
    std::memcpy(stack[depth++], cv, 32);
    p += kGroupBytes;
    len -= kGroupBytes;
  }
  // The last group (maybe partial or empty) is the rightmost subtree: merge it up the right edge.
  if (!filled(len)) return false;
  Output last = SubtreeOutput(c, p, len, groups * kGroupChunks);
  if (depth == 0) {
    last.Root(out);
    return true;
  }
  last.ChainingValue(cv);
  while (depth > 1) {
    Join(stack[--depth], cv, pair);
    ParentOutput(pair).ChainingValue(cv);
  }
  Join(stack[0], cv, pair);
  ParentOutput(pair).Root(out);
  return true;
}

struct Features {
  bool sse41, avx2, avx512;
};

// __builtin_cpu_supports also checks that the OS saves the wide registers (XCR0), not just CPUID.
const Features& Detect() {
  static const Features f = [] {
    __builtin_cpu_init();
    Features r{};
    r.sse41 = __builtin_cpu_supports("sse4.1");
    r.avx2 = r.sse41 && __builtin_cpu_supports("avx2");
    r.avx512 = r.avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512bw");
    return r;
  }();
  return f;
}

bool Supported(Backend b) {
  const Features& f = Detect();
  switch (b) {
    case Backend::kPortable: return true;
    case Backend::kSse41: return f.sse41;
    case Backend::kAvx2: return f.avx2;
    case Backend::kAvx512: return f.avx512;
  }
  return false;
}

const Cascade& CascadeFor(Backend b) {
  static constexpr Cascade kPortable{{HashManyPortable}};
  static constexpr Cascade kSse41{{HashManySse41, HashManyPortable}};
  static constexpr Cascade kAvx2{{HashManyAvx2, HashManySse41, HashManyPortable}};
  static constexpr Cascade kAvx512{{HashManyAvx512, HashManyAvx2, HashManySse41, HashManyPortable}};
  switch (b) {
    case Backend::kSse41: return kSse41;
    case Backend::kAvx2: return kAvx2;
    case Backend::kAvx512: return kAvx512;
    case Backend::kPortable: break;
  }
  return kPortable;
}

}  // namespace
}  // namespace internal

Backend BestBackend() {
  static const Backend best = [] {
    for (Backend b : {Backend::kAvx512, Backend::kAvx2, Backend::kSse41})
      if (internal::Supported(b)) return b;
    return Backend::kPortable;
  }();
  return best;
}

std::vector<Backend> SupportedBackends() {
  std::vector<Backend> r;
  for (Backend b : {Backend::kPortable, Backend::kSse41, Backend::kAvx2, Backend::kAvx512})
    if (internal::Supported(b)) r.push_back(b);
  return r;
}

const char* BackendName(Backend b) {
  switch (b) {
    case Backend::kPortable: return "portable";
    case Backend::kSse41: return "sse41";
    case Backend::kAvx2: return "avx2";
    case Backend::kAvx512: return "avx512";
  }
  return "unknown";
}

void Hash(const void* data, size_t len, uint8_t out[kOutLen]) {
  internal::HashCascade(internal::CascadeFor(BestBackend()), static_cast<const uint8_t*>(data), len,
                        out);
}

bool HashFilled(const void* data, size_t len, const FillFn& fill, uint8_t out[kOutLen]) {
  return internal::HashCascade(internal::CascadeFor(BestBackend()), static_cast<const uint8_t*>(data), len, out,
                               &fill);
}

void HashWith(Backend b, const void* data, size_t len, uint8_t out[kOutLen]) {
  if (!internal::Supported(b)) {
    std::fprintf(stderr, "ckptdb::blake3::HashWith: backend %s is not supported by this CPU\n",
                 BackendName(b));
    std::abort();
  }
  internal::HashCascade(internal::CascadeFor(b), static_cast<const uint8_t*>(data), len, out);
}

}  // namespace ckptdb::blake3

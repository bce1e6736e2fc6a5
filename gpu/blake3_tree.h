// BLAKE3-256 (hash mode) as the pieces a GPU computes in parallel: the compression function, one
// 1 KiB BLAKE3 chunk's chaining value, a parent node, and the tree of a whole input built level by
// level. Written once as __host__ __device__ code: nvcc compiles it into the kernels
// (gpu/device_hasher.cu), and the host compiler compiles the same source for CI, where
// tests/blake3_tree_test.cc checks it against the official vectors and store/blake3.h.
//
// Why a tree by levels: BLAKE3's tree gives the left subtree the largest power of two of chunks
// below the total. Pairing neighbours level by level and carrying an odd last node up unchanged
// builds exactly that tree, and every pairing of a level is independent, so a level is one step of
// threads with no stack to share.
//
// No tables: the message permutation is written out, so device code reads no host memory.
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__CUDACC__)
#define CKPTDB_HD __host__ __device__ __forceinline__
#else
#define CKPTDB_HD inline
#endif

namespace ckptdb::gpu::blake3 {

constexpr uint32_t kBlockLen = 64;
constexpr uint32_t kChunkLen = 1024;
constexpr uint32_t kChunkStart = 1, kChunkEnd = 2, kParent = 4, kRoot = 8;

struct Cv {
  uint32_t w[8];
};

CKPTDB_HD uint32_t Rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

CKPTDB_HD void G(uint32_t* s, int a, int b, int c, int d, uint32_t x, uint32_t y) {
  s[a] = s[a] + s[b] + x;
  s[d] = Rotr(s[d] ^ s[a], 16);
  s[c] = s[c] + s[d];
  s[b] = Rotr(s[b] ^ s[c], 12);
  s[a] = s[a] + s[b] + y;
  s[d] = Rotr(s[d] ^ s[a], 8);
  s[c] = s[c] + s[d];
  s[b] = Rotr(s[b] ^ s[c], 7);
}

CKPTDB_HD void Round(uint32_t* s, const uint32_t* m) {
  G(s, 0, 4, 8, 12, m[0], m[1]);
  G(s, 1, 5, 9, 13, m[2], m[3]);
  G(s, 2, 6, 10, 14, m[4], m[5]);
  G(s, 3, 7, 11, 15, m[6], m[7]);
  G(s, 0, 5, 10, 15, m[8], m[9]);
  G(s, 1, 6, 11, 12, m[10], m[11]);
  G(s, 2, 7, 8, 13, m[12], m[13]);
  G(s, 3, 4, 9, 14, m[14], m[15]);
}

// BLAKE3's MSG_PERMUTATION {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8}, in place.
CKPTDB_HD void Permute(uint32_t* m) {
  const uint32_t t0 = m[2], t1 = m[6], t2 = m[3], t3 = m[10], t4 = m[7], t5 = m[0], t6 = m[4], t7 = m[13];
  const uint32_t t8 = m[1], t9 = m[11], t10 = m[12], t11 = m[5], t12 = m[9], t13 = m[14], t14 = m[15], t15 = m[8];
  m[0] = t0, m[1] = t1, m[2] = t2, m[3] = t3, m[4] = t4, m[5] = t5, m[6] = t6, m[7] = t7;
  m[8] = t8, m[9] = t9, m[10] = t10, m[11] = t11, m[12] = t12, m[13] = t13, m[14] = t14, m[15] = t15;
}

CKPTDB_HD Cv Iv() {
  return Cv{{0x6A09E667u, 0xBB67AE85u, 0x3C6EF372u, 0xA54FF53Au, 0x510E527Fu, 0x9B05688Cu, 0x1F83D9ABu,
             0x5BE0CD19u}};
}

// The compression function, truncated to the 8 words a chaining value (or a 32-byte root) needs.
// `block` is 16 little-endian words; the caller zero-pads a short block.
CKPTDB_HD Cv Compress(const Cv& cv, const uint32_t* block, uint64_t counter, uint32_t block_len, uint32_t flags) {
  const Cv iv = Iv();
  uint32_t s[16] = {cv.w[0], cv.w[1], cv.w[2],  cv.w[3],  cv.w[4],  cv.w[5],
                    cv.w[6], cv.w[7], iv.w[0],  iv.w[1],  iv.w[2],  iv.w[3],
                    static_cast<uint32_t>(counter), static_cast<uint32_t>(counter >> 32), block_len, flags};
  uint32_t m[16];
  for (int i = 0; i < 16; ++i) m[i] = block[i];
  for (int r = 0; r < 7; ++r) {
    Round(s, m);
    if (r < 6) Permute(m);
  }
  Cv out;
  for (int i = 0; i < 8; ++i) out.w[i] = s[i] ^ s[i + 8];
  return out;
}

// Reads up to 64 bytes at `p` as 16 little-endian words, zero-padded, byte by byte (any alignment).
CKPTDB_HD void LoadBlock(const uint8_t* p, uint32_t len, uint32_t* block) {
  for (int i = 0; i < 16; ++i) block[i] = 0;
  for (uint32_t i = 0; i < len; ++i) block[i / 4] |= static_cast<uint32_t>(p[i]) << (8 * (i % 4));
}

// The chaining value of BLAKE3 chunk number `chunk_index` of an input: `len` (1..1024, or 0 for the
// empty input's only chunk) bytes at `p`. `root` adds ROOT to the last block: for an input of one
// chunk, whose chunk value is then the hash.
CKPTDB_HD Cv ChunkCv(const uint8_t* p, uint32_t len, uint64_t chunk_index, bool root) {
  Cv cv = Iv();
  const uint32_t blocks = len == 0 ? 1 : (len + kBlockLen - 1) / kBlockLen;
  uint32_t block[16];
  for (uint32_t b = 0; b < blocks; ++b) {
    const uint32_t offset = b * kBlockLen;
    const uint32_t n = len - offset < kBlockLen ? len - offset : kBlockLen;
    LoadBlock(p + offset, n, block);
    uint32_t flags = (b == 0 ? kChunkStart : 0) | (b + 1 == blocks ? kChunkEnd : 0);
    if (root && b + 1 == blocks) flags |= kRoot;
    cv = Compress(cv, block, chunk_index, n, flags);
  }
  return cv;
}

// A parent node's chaining value (or, with `root`, the hash) from its children's.
CKPTDB_HD Cv ParentCv(const Cv& left, const Cv& right, bool root) {
  uint32_t block[16];
  for (int i = 0; i < 8; ++i) block[i] = left.w[i], block[i + 8] = right.w[i];
  return Compress(Iv(), block, 0, kBlockLen, kParent | (root ? kRoot : 0));
}

// The number of BLAKE3 chunks of an input of `len` bytes (the empty input has one).
CKPTDB_HD uint64_t ChunkCount(uint64_t len) { return len == 0 ? 1 : (len + kChunkLen - 1) / kChunkLen; }

// One level of the tree: `n` nodes in `cvs` become (n + 1) / 2, pairs merged and an odd last node
// carried up; with `root` (n == 2), the one parent is the root. Returns the new count.
CKPTDB_HD uint64_t ReduceLevel(Cv* cvs, uint64_t n, bool root) {
  for (uint64_t i = 0; i + 1 < n; i += 2) cvs[i / 2] = ParentCv(cvs[i], cvs[i + 1], root);
  if (n % 2) cvs[n / 2] = cvs[n - 1];
  return (n + 1) / 2;
}

// The 32-byte hash as bytes, little-endian words.
CKPTDB_HD void StoreDigest(const Cv& cv, uint8_t* out) {
  for (int i = 0; i < 32; ++i) out[i] = static_cast<uint8_t>(cv.w[i / 4] >> (8 * (i % 4)));
}

// The whole input on one thread, the same pieces in the same order as the kernels: every chunk's
// value into `scratch` (ChunkCount(len) entries), then the levels. Host tests use it; the device
// runs the chunks and each level across threads.
CKPTDB_HD void HashSerial(const uint8_t* p, uint64_t len, Cv* scratch, uint8_t* out) {
  const uint64_t chunks = ChunkCount(len);
  if (chunks == 1) {
    StoreDigest(ChunkCv(p, static_cast<uint32_t>(len), 0, true), out);
    return;
  }
  for (uint64_t c = 0; c < chunks; ++c) {
    const uint64_t offset = c * kChunkLen;
    const uint32_t n = static_cast<uint32_t>(len - offset < kChunkLen ? len - offset : kChunkLen);
    scratch[c] = ChunkCv(p + offset, n, c, false);
  }
  uint64_t n = chunks;
  while (n > 1) n = ReduceLevel(scratch, n, n == 2);
  StoreDigest(scratch[0], out);
}

}  // namespace ckptdb::gpu::blake3

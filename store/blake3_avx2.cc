// 8-way BLAKE3: eight inputs side by side, one per 32-bit lane of a ymm register. Built with
// -mavx2; reached only after the run-time check in blake3.cc.
#include <immintrin.h>

#include "store/blake3_impl.h"

namespace ckptdb::blake3::internal {
namespace {

struct Ops {
  static CKPTDB_B3_INLINE __m256i Add(__m256i a, __m256i b) { return _mm256_add_epi32(a, b); }
  static CKPTDB_B3_INLINE __m256i Xor(__m256i a, __m256i b) { return _mm256_xor_si256(a, b); }
  // Rotations by whole bytes are one byte shuffle instead of two shifts and an or.
  static CKPTDB_B3_INLINE __m256i Rot16(__m256i a) {
    return _mm256_shuffle_epi8(
        a, _mm256_set_epi8(13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2, 13, 12, 15, 14, 9,
                           8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2));
  }
  static CKPTDB_B3_INLINE __m256i Rot8(__m256i a) {
    return _mm256_shuffle_epi8(
        a, _mm256_set_epi8(12, 15, 14, 13, 8, 11, 10, 9, 4, 7, 6, 5, 0, 3, 2, 1, 12, 15, 14, 13, 8,
                           11, 10, 9, 4, 7, 6, 5, 0, 3, 2, 1));
  }
  static CKPTDB_B3_INLINE __m256i Rot12(__m256i a) {
    return _mm256_or_si256(_mm256_srli_epi32(a, 12), _mm256_slli_epi32(a, 20));
  }
  static CKPTDB_B3_INLINE __m256i Rot7(__m256i a) {
    return _mm256_or_si256(_mm256_srli_epi32(a, 7), _mm256_slli_epi32(a, 25));
  }
};

// In place: afterwards r[j] lane i holds what r[i] lane j held.
CKPTDB_B3_INLINE void Transpose8(__m256i r[8]) {
  __m256i a[8], b[8];
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    a[2 * i] = _mm256_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    a[2 * i + 1] = _mm256_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  // b[4i + c], 128-bit lane l: column 4l + c of rows 4i .. 4i + 3.
#pragma GCC unroll 2
  for (int i = 0; i < 2; ++i) {
    b[4 * i + 0] = _mm256_unpacklo_epi64(a[4 * i], a[4 * i + 2]);
    b[4 * i + 1] = _mm256_unpackhi_epi64(a[4 * i], a[4 * i + 2]);
    b[4 * i + 2] = _mm256_unpacklo_epi64(a[4 * i + 1], a[4 * i + 3]);
    b[4 * i + 3] = _mm256_unpackhi_epi64(a[4 * i + 1], a[4 * i + 3]);
  }
#pragma GCC unroll 4
  for (int c = 0; c < 4; ++c) {
    r[c] = _mm256_permute2x128_si256(b[c], b[4 + c], 0x20);
    r[4 + c] = _mm256_permute2x128_si256(b[c], b[4 + c], 0x31);
  }
}

}  // namespace

size_t HashManyAvx2(const uint8_t* in, size_t stride, size_t n, size_t blocks, uint64_t counter,
                    bool increment_counter, uint8_t flags, uint8_t flags_start, uint8_t flags_end,
                    uint8_t* out) {
  size_t done = 0;
  for (; done + 8 <= n; done += 8) {
    const uint8_t* base = in + done * stride;
    alignas(32) uint32_t lo[8], hi[8];
    for (int i = 0; i < 8; ++i) {
      uint64_t c = counter + (increment_counter ? done + i : 0);
      lo[i] = static_cast<uint32_t>(c);
      hi[i] = static_cast<uint32_t>(c >> 32);
    }
    const __m256i counter_lo = _mm256_load_si256(reinterpret_cast<const __m256i*>(lo));
    const __m256i counter_hi = _mm256_load_si256(reinterpret_cast<const __m256i*>(hi));
    __m256i h[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) h[i] = _mm256_set1_epi32(static_cast<int>(kIV[i]));

    for (size_t blk = 0; blk < blocks; ++blk) {
      __m256i m[16];
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) {
        const uint8_t* p = base + i * stride + blk * kBlockLen;
        m[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
        m[i + 8] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32));
        // Interleaved streams outrun the hardware prefetcher; see blake3_avx512.cc.
        _mm_prefetch(reinterpret_cast<const char*>(p + 4 * kBlockLen), _MM_HINT_T0);
      }
      Transpose8(m);
      Transpose8(m + 8);
      uint32_t f = flags;
      if (blk == 0) f |= flags_start;
      if (blk + 1 == blocks) f |= flags_end;
      __m256i v[16];
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) v[i] = h[i];
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) v[8 + i] = _mm256_set1_epi32(static_cast<int>(kIV[i]));
      v[12] = counter_lo;
      v[13] = counter_hi;
      v[14] = _mm256_set1_epi32(static_cast<int>(kBlockLen));
      v[15] = _mm256_set1_epi32(static_cast<int>(f));
      SevenRounds<Ops>(v, m);
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) h[i] = _mm256_xor_si256(v[i], v[i + 8]);
    }

    Transpose8(h);
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + (done + i) * 32), h[i]);
  }
  return done;
}

}  // namespace ckptdb::blake3::internal
